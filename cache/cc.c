/* SPDX-License-Identifier: Apache-2.0
 *
 * cc: HTTP caching semantics (RFC 9111, RFC 9213, RFC 5861, Surrogate-Control).
 *
 * Pure functions over complete field values: no allocation, no clock, no globals,
 * so any thread may call them. Every parser works on one whole field line; none is
 * a streaming state machine, hence no state diagram here. Times are int64 seconds
 * and all arithmetic on values that come from peers saturates, because a Date in
 * year 9999 minus one in year 1 must not overflow (fuzz_cc checks the bounds).
 * Test cases naming each rule: tests/unit/test_cc.c.
 */
#include "cc.h"

#include <string.h>

/* ---- characters and arithmetic ---------------------------------------------- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 5.6.2 tchar */
static int is_tchar(char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Clamps to a delta-seconds range: 0..2^31 (RFC 9111 1.2.2). */
static int64_t clamp_delta(int64_t x)
{
    if (x < 0)
        return 0;
    return x > CC_DELTA_MAX ? CC_DELTA_MAX : x;
}

static void trim(const char **v, size_t *n)
{
    while (*n > 0 && is_ows((*v)[0])) {
        (*v)++;
        (*n)--;
    }
    while (*n > 0 && is_ows((*v)[*n - 1]))
        (*n)--;
}

/* ---- fields ------------------------------------------------------------------ */

int cc_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (to_lower(a[i]) != to_lower(b[i]))
            return 0;
    return 1;
}

const struct cc_field *cc_field_find(const struct cc_field *fields, size_t nfields,
                                     const char *name, size_t *idx)
{
    size_t len = strlen(name);
    for (size_t i = *idx; i < nfields; i++) {
        if (cc_name_eq(fields[i].name, fields[i].name_len, name, len)) {
            *idx = i + 1;
            return &fields[i];
        }
    }
    *idx = nfields;
    return NULL;
}

static const struct cc_field *field_first(const struct cc_field *fields, size_t nfields,
                                          const char *name)
{
    size_t i = 0;
    return cc_field_find(fields, nfields, name, &i);
}

/* ---- directives ---------------------------------------------------------------- */

enum dir_id {
    D_UNKNOWN,
    D_MAX_AGE,
    D_S_MAXAGE,
    D_SWR,
    D_SIE,
    D_MAX_STALE,
    D_MIN_FRESH,
    D_NO_STORE,
    D_NO_CACHE,
    D_PRIVATE,
    D_PUBLIC,
    D_MUST_REVALIDATE,
    D_PROXY_REVALIDATE,
    D_MUST_UNDERSTAND,
    D_IMMUTABLE,
    D_NO_TRANSFORM,
    D_ONLY_IF_CACHED,
};

static const struct {
    const char *name;
    enum dir_id id;
} directive_names[] = {
    {"max-age", D_MAX_AGE},
    {"s-maxage", D_S_MAXAGE},
    {"stale-while-revalidate", D_SWR},
    {"stale-if-error", D_SIE},
    {"max-stale", D_MAX_STALE},
    {"min-fresh", D_MIN_FRESH},
    {"no-store", D_NO_STORE},
    {"no-cache", D_NO_CACHE},
    {"private", D_PRIVATE},
    {"public", D_PUBLIC},
    {"must-revalidate", D_MUST_REVALIDATE},
    {"proxy-revalidate", D_PROXY_REVALIDATE},
    {"must-understand", D_MUST_UNDERSTAND},
    {"immutable", D_IMMUTABLE},
    {"no-transform", D_NO_TRANSFORM},
    {"only-if-cached", D_ONLY_IF_CACHED},
};

static enum dir_id directive_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(directive_names) / sizeof(directive_names[0]); i++)
        if (cc_name_eq(name, len, directive_names[i].name, strlen(directive_names[i].name)))
            return directive_names[i].id;
    return D_UNKNOWN;
}

static int64_t *delta_member(struct cc_directives *d, enum dir_id id)
{
    switch (id) {
    case D_MAX_AGE: return &d->max_age;
    case D_S_MAXAGE: return &d->s_maxage;
    case D_SWR: return &d->stale_while_revalidate;
    case D_SIE: return &d->stale_if_error;
    case D_MAX_STALE: return &d->max_stale;
    case D_MIN_FRESH: return &d->min_fresh;
    default: return NULL;
    }
}

static bool *flag_member(struct cc_directives *d, enum dir_id id)
{
    switch (id) {
    case D_NO_STORE: return &d->no_store;
    case D_NO_CACHE: return &d->no_cache;
    case D_PRIVATE: return &d->is_private;
    case D_PUBLIC: return &d->is_public;
    case D_MUST_REVALIDATE: return &d->must_revalidate;
    case D_PROXY_REVALIDATE: return &d->proxy_revalidate;
    case D_MUST_UNDERSTAND: return &d->must_understand;
    case D_IMMUTABLE: return &d->immutable;
    case D_NO_TRANSFORM: return &d->no_transform;
    case D_ONLY_IF_CACHED: return &d->only_if_cached;
    default: return NULL;
    }
}

/* Flags that restrict caching: a malformed or oddly typed argument does not turn
 * them off, since guessing "absent" could store what the origin meant to protect. */
static int is_restrictive(enum dir_id id)
{
    return id == D_NO_STORE || id == D_NO_CACHE || id == D_PRIVATE || id == D_MUST_REVALIDATE ||
           id == D_PROXY_REVALIDATE;
}

void cc_directives_init(struct cc_directives *out)
{
    memset(out, 0, sizeof(*out));
    out->max_age = CC_UNSET;
    out->s_maxage = CC_UNSET;
    out->stale_while_revalidate = CC_UNSET;
    out->stale_if_error = CC_UNSET;
    out->max_stale = CC_UNSET;
    out->min_fresh = CC_UNSET;
}

/* ---- Cache-Control (RFC 9111 5.2, RFC 9110 5.6) ---------------------------------- */

struct cc_arg {
    bool present;
    bool quoted;
    const char *p; /* token, or the inside of the quoted string (escapes kept) */
    size_t n;
};

/* delta-seconds = 1*DIGIT (RFC 9111 1.2.2), from a token or a quoted string whose
 * quoted-pairs are unescaped. CC_INVALID if anything else is there. */
static int64_t parse_delta(const struct cc_arg *a)
{
    int64_t v = 0;
    size_t digits = 0;

    if (!a->present)
        return CC_INVALID;
    for (size_t i = 0; i < a->n; i++) {
        char c = a->p[i];
        if (a->quoted && c == '\\' && i + 1 < a->n)
            c = a->p[++i];
        if (!is_digit(c))
            return CC_INVALID;
        digits++;
        if (v < CC_DELTA_MAX)
            v = v * 10 + (c - '0');
        if (v > CC_DELTA_MAX)
            v = CC_DELTA_MAX;
    }
    return digits > 0 ? v : CC_INVALID;
}

static void apply_cc(struct cc_directives *d, enum dir_id id, const struct cc_arg *a,
                     bool malformed)
{
    int64_t *delta = delta_member(d, id);
    bool *flag = flag_member(d, id);

    if (delta != NULL) {
        int64_t v;
        if (malformed)
            v = CC_INVALID;
        else if (id == D_MAX_STALE && !a->present)
            v = CC_ANY; /* RFC 9111 5.2.1.2 */
        else
            v = parse_delta(a);
        /* RFC 9111 4.2.1: of repeated directives, the first occurrence is used */
        if (*delta == CC_UNSET)
            *delta = v;
        return;
    }
    if (flag == NULL)
        return; /* RFC 9111 5.2.3: unknown directives are ignored */
    if (malformed && !is_restrictive(id))
        return;
    *flag = true;
    if (a->present && !malformed) {
        if (id == D_NO_CACHE)
            d->no_cache_fields = true;
        else if (id == D_PRIVATE)
            d->private_fields = true;
    }
}

/* From an element's start (outside quotes), the index of the next comma outside a
 * quoted string, or n. */
static size_t skip_element(const char *v, size_t n, size_t i)
{
    bool quoted = false;
    for (; i < n; i++) {
        if (quoted) {
            if (v[i] == '\\')
                i++;
            else if (v[i] == '"')
                quoted = false;
        } else if (v[i] == '"') {
            quoted = true;
        } else if (v[i] == ',') {
            break;
        }
    }
    return i < n ? i : n;
}

/* RFC 9110 5.6.4 qdtext and quoted-pair octets */
static int is_qdtext(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f && c != '"' && c != '\\');
}

/* RFC 9110 5.6.4 quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
static int is_qpchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

int cc_parse_cache_control(const char *v, size_t n, struct cc_directives *out)
{
    int rc = CC_OK;
    size_t i = 0;

    while (i < n) {
        if (v[i] == ',' || is_ows(v[i])) { /* empty list elements (RFC 9110 5.6.1) */
            i++;
            continue;
        }
        size_t start = i;
        while (i < n && is_tchar(v[i]))
            i++;
        size_t name_len = i - start;
        struct cc_arg a = {0};
        bool bad = name_len == 0;

        if (!bad && i < n && v[i] == '=') {
            a.present = true;
            i++;
            if (i < n && v[i] == '"') {
                a.quoted = true;
                a.p = v + ++i;
                bad = true; /* until the closing quote is seen */
                while (i < n) {
                    unsigned char c = (unsigned char)v[i];
                    if (c == '"') {
                        bad = false;
                        break;
                    }
                    if (c == '\\' && i + 1 < n && is_qpchar((unsigned char)v[i + 1])) {
                        i += 2;
                        continue;
                    }
                    if (!is_qdtext(c))
                        break;
                    i++;
                }
                if (!bad) {
                    a.n = (size_t)(v + i - a.p);
                    i++; /* the closing quote */
                }
            } else {
                a.p = v + i;
                while (i < n && is_tchar(v[i]))
                    i++;
                a.n = (size_t)(v + i - a.p);
                bad = a.n == 0;
            }
        }
        if (!bad) {
            while (i < n && is_ows(v[i]))
                i++;
            bad = i < n && v[i] != ',';
        }
        if (bad) {
            rc = CC_E_SYNTAX;
            i = skip_element(v, n, start);
        }
        if (name_len > 0)
            apply_cc(out, directive_lookup(v + start, name_len), &a, bad);
    }
    return rc;
}

/* ---- targeted fields: RFC 8941 Dictionary (RFC 9213 2.2) ----------------------------- */

enum sf_type { SF_INTEGER, SF_DECIMAL, SF_STRING, SF_TOKEN, SF_BYTES, SF_BOOLEAN, SF_INNER_LIST };

struct sf_item {
    enum sf_type type;
    int64_t integer;
    bool boolean;
};

struct sf_parser {
    const char *v;
    size_t n, i;
};

static int sf_peek(const struct sf_parser *s)
{
    return s->i < s->n ? (unsigned char)s->v[s->i] : -1;
}

static int is_lcalpha(int c)
{
    return c >= 'a' && c <= 'z';
}

/* key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
static int sf_key(struct sf_parser *s, size_t *start, size_t *len)
{
    int c = sf_peek(s);
    if (!is_lcalpha(c) && c != '*')
        return -1;
    *start = s->i;
    while ((c = sf_peek(s)) >= 0 &&
           (is_lcalpha(c) || is_digit((char)c) || c == '_' || c == '-' || c == '.' || c == '*'))
        s->i++;
    *len = s->i - *start;
    return 0;
}

/* RFC 8941 4.2.4: at most 15 integer digits, or 12 + "." + 1..3 for a Decimal */
static int sf_number(struct sf_parser *s, struct sf_item *it)
{
    bool neg = false;
    size_t int_digits = 0, frac_digits = 0;
    int64_t v = 0;

    if (sf_peek(s) == '-') {
        neg = true;
        s->i++;
    }
    while (is_digit((char)sf_peek(s))) {
        if (++int_digits > 15)
            return -1;
        v = v * 10 + (s->v[s->i] - '0');
        s->i++;
    }
    if (int_digits == 0)
        return -1;
    it->type = SF_INTEGER;
    it->integer = neg ? -v : v;
    if (sf_peek(s) != '.')
        return 0;
    if (int_digits > 12)
        return -1;
    s->i++;
    while (is_digit((char)sf_peek(s))) {
        if (++frac_digits > 3)
            return -1;
        s->i++;
    }
    if (frac_digits == 0)
        return -1;
    it->type = SF_DECIMAL;
    return 0;
}

static int sf_bare_item(struct sf_parser *s, struct sf_item *it)
{
    int c = sf_peek(s);

    if (c == '-' || is_digit((char)c))
        return sf_number(s, it);
    if (c == '"') {
        it->type = SF_STRING;
        for (s->i++;; s->i++) {
            c = sf_peek(s);
            if (c == '"') {
                s->i++;
                return 0;
            }
            if (c == '\\') {
                s->i++;
                c = sf_peek(s);
                if (c != '"' && c != '\\')
                    return -1;
            } else if (c < 0x20 || c > 0x7e) {
                return -1; /* includes the end of input (-1) */
            }
        }
    }
    if (c == '*' || is_alpha((char)c)) {
        it->type = SF_TOKEN;
        while ((c = sf_peek(s)) >= 0 && (is_tchar((char)c) || c == ':' || c == '/'))
            s->i++;
        return 0;
    }
    if (c == ':') {
        it->type = SF_BYTES;
        for (s->i++;; s->i++) {
            c = sf_peek(s);
            if (c == ':') {
                s->i++;
                return 0;
            }
            if (!(is_alpha((char)c) || is_digit((char)c) || c == '+' || c == '/' || c == '='))
                return -1;
        }
    }
    if (c == '?') {
        s->i++;
        c = sf_peek(s);
        if (c != '0' && c != '1')
            return -1;
        s->i++;
        it->type = SF_BOOLEAN;
        it->boolean = c == '1';
        return 0;
    }
    return -1;
}

/* parameters = *( ";" *SP key [ "=" bare-item ] ); parameters are ignored */
static int sf_parameters(struct sf_parser *s)
{
    while (sf_peek(s) == ';') {
        size_t ks, kl;
        struct sf_item ignored;
        s->i++;
        while (sf_peek(s) == ' ')
            s->i++;
        if (sf_key(s, &ks, &kl) != 0)
            return -1;
        if (sf_peek(s) == '=') {
            s->i++;
            if (sf_bare_item(s, &ignored) != 0)
                return -1;
        }
    }
    return 0;
}

static int sf_inner_list(struct sf_parser *s)
{
    s->i++; /* "(" */
    for (;;) {
        struct sf_item it;
        while (sf_peek(s) == ' ')
            s->i++;
        if (sf_peek(s) == ')') {
            s->i++;
            return sf_parameters(s);
        }
        if (sf_bare_item(s, &it) != 0 || sf_parameters(s) != 0)
            return -1;
        if (sf_peek(s) != ' ' && sf_peek(s) != ')')
            return -1;
    }
}

/* RFC 9213 2.2 with last-wins Dictionary semantics (RFC 8941 4.2.2). */
static void apply_targeted(struct cc_directives *d, enum dir_id id, const struct sf_item *it)
{
    int64_t *delta = delta_member(d, id);
    bool *flag = flag_member(d, id);

    if (delta != NULL) {
        /* "SHOULD NOT consume values that violate these inferred constraints" */
        *delta = (it->type == SF_INTEGER && it->integer >= 0) ? clamp_delta(it->integer) : CC_UNSET;
        return;
    }
    if (flag == NULL)
        return;
    if (is_restrictive(id))
        *flag = !(it->type == SF_BOOLEAN && !it->boolean);
    else
        *flag = it->type == SF_BOOLEAN && it->boolean;
    if (id == D_NO_CACHE)
        d->no_cache_fields = *flag && it->type == SF_STRING;
    else if (id == D_PRIVATE)
        d->private_fields = *flag && it->type == SF_STRING;
}

/* Returns the number of members (0 for an empty line), or -1 on a syntax error, in
 * which case *out is untouched. */
static int parse_targeted(const char *v, size_t n, struct cc_directives *out)
{
    struct cc_directives tmp = *out;
    struct sf_parser s;
    int members = 0;

    trim(&v, &n);
    s.v = v;
    s.n = n;
    s.i = 0;
    if (n == 0)
        return 0;
    for (;;) {
        size_t ks, kl;
        struct sf_item it = {.type = SF_BOOLEAN, .boolean = true};

        if (sf_key(&s, &ks, &kl) != 0)
            return -1;
        if (sf_peek(&s) == '=') {
            s.i++;
            if (sf_peek(&s) == '(') {
                it.type = SF_INNER_LIST;
                if (sf_inner_list(&s) != 0)
                    return -1;
            } else if (sf_bare_item(&s, &it) != 0 || sf_parameters(&s) != 0) {
                return -1;
            }
        } else if (sf_parameters(&s) != 0) {
            return -1;
        }
        apply_targeted(&tmp, directive_lookup(v + ks, kl), &it);
        members++;
        while (is_ows((char)sf_peek(&s)))
            s.i++;
        if (s.i == s.n)
            break;
        if (sf_peek(&s) != ',')
            return -1;
        s.i++;
        while (is_ows((char)sf_peek(&s)))
            s.i++;
        if (s.i == s.n)
            return -1; /* trailing comma */
    }
    *out = tmp;
    return members;
}

int cc_parse_targeted(const char *v, size_t n, struct cc_directives *out)
{
    return parse_targeted(v, n, out) < 0 ? CC_E_SYNTAX : CC_OK;
}

/* ---- HTTP-date (RFC 9110 5.6.7) -------------------------------------------------- */

static const char *const day_short[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 0001-01-01 to the first day of year y (y >= 1), proleptic Gregorian. */
static int64_t days_before_year(int64_t y)
{
    int64_t p = y - 1;
    return p * 365 + p / 4 - p / 100 + p / 400;
}

#define DAYS_0001_TO_1970 719162

static int64_t epoch_seconds(int64_t y, int mon, int day, int h, int mi, int s)
{
    int64_t days = days_before_year(y) - DAYS_0001_TO_1970;
    for (int m = 1; m < mon; m++)
        days += days_in_month(y, m);
    days += day - 1;
    return days * 86400 + h * 3600 + mi * 60 + s;
}

static int num(const char *p, size_t digits)
{
    int v = 0;
    for (size_t i = 0; i < digits; i++) {
        if (!is_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int match_name(const char *p, size_t n, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(p, names[i], n) == 0)
            return i;
    return -1;
}

/* time-of-day = hour ":" minute ":" second, 8 bytes; second 60 is a leap second */
static int parse_time(const char *p, int *h, int *mi, int *s)
{
    if (p[2] != ':' || p[5] != ':')
        return -1;
    *h = num(p, 2);
    *mi = num(p + 3, 2);
    *s = num(p + 6, 2);
    if (*h < 0 || *h > 23 || *mi < 0 || *mi > 59 || *s < 0 || *s > 60)
        return -1;
    return 0;
}

static int finish_date(int64_t y, int mon, int day, int h, int mi, int s, int64_t *t)
{
    if (y < 1 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(y, mon))
        return CC_E_SYNTAX;
    *t = epoch_seconds(y, mon, day, h, mi, s);
    return CC_OK;
}

int cc_parse_http_date(const char *v, size_t n, int64_t *t)
{
    int h, mi, s, day, mon, year;

    trim(&v, &n);
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (n == 29 && v[3] == ',') {
        if (match_name(v, 3, day_short, 7) < 0 || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' ||
            v[16] != ' ' || v[25] != ' ' || memcmp(v + 26, "GMT", 3) != 0)
            return CC_E_SYNTAX;
        day = num(v + 5, 2);
        mon = match_name(v + 8, 3, month_names, 12) + 1;
        year = num(v + 12, 4);
        if (day < 0 || year < 0 || parse_time(v + 17, &h, &mi, &s) != 0)
            return CC_E_SYNTAX;
        return finish_date(year, mon, day, h, mi, s, t);
    }
    /* asctime-date: "Sun Nov  6 08:49:37 1994" */
    if (n == 24 && v[3] == ' ') {
        if (match_name(v, 3, day_short, 7) < 0 || v[7] != ' ' || v[10] != ' ' || v[19] != ' ')
            return CC_E_SYNTAX;
        mon = match_name(v + 4, 3, month_names, 12) + 1;
        day = v[8] == ' ' ? num(v + 9, 1) : num(v + 8, 2);
        year = num(v + 20, 4);
        if (day < 0 || year < 0 || parse_time(v + 11, &h, &mi, &s) != 0)
            return CC_E_SYNTAX;
        return finish_date(year, mon, day, h, mi, s, t);
    }
    /* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" (day name 6..9 bytes) */
    const char *comma = memchr(v, ',', n < 10 ? n : 10);
    if (comma == NULL)
        return CC_E_SYNTAX;
    size_t dl = (size_t)(comma - v);
    if (match_name(v, dl, day_long, 7) < 0 || n != dl + 24)
        return CC_E_SYNTAX;
    const char *p = comma + 1;
    if (p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' || p[19] != ' ' ||
        memcmp(p + 20, "GMT", 3) != 0)
        return CC_E_SYNTAX;
    day = num(p + 1, 2);
    mon = match_name(p + 4, 3, month_names, 12) + 1;
    year = num(p + 8, 2);
    if (day < 0 || year < 0 || parse_time(p + 11, &h, &mi, &s) != 0)
        return CC_E_SYNTAX;
    /* RFC 9110 5.6.7 two-digit years: a fixed window, no clock here (see cc.h) */
    year += year < 70 ? 2000 : 1900;
    return finish_date(year, mon, day, h, mi, s, t);
}

int cc_format_http_date(int64_t t, char buf[CC_HTTP_DATE_SIZE])
{
    /* 0001-01-01T00:00:00 .. 9999-12-31T23:59:59 */
    const int64_t lo = -(int64_t)DAYS_0001_TO_1970 * 86400;
    const int64_t hi = (days_before_year(10000) - DAYS_0001_TO_1970) * 86400 - 1;
    int64_t days, secs, d, y;
    int m;

    buf[0] = '\0';
    if (t < lo || t > hi)
        return -1;
    days = t / 86400;
    secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    /* 1970-01-01 was a Thursday */
    int wday = (int)(((days % 7) + 7 + 4) % 7);
    d = days + DAYS_0001_TO_1970; /* days since 0001-01-01, >= 0 */
    y = 1 + 400 * (d / 146097);
    d %= 146097;
    int64_t c = d / 36524 < 4 ? d / 36524 : 3;
    y += 100 * c;
    d -= c * 36524;
    y += 4 * (d / 1461);
    d %= 1461;
    int64_t yy = d / 365 < 4 ? d / 365 : 3;
    y += yy;
    d -= yy * 365;
    for (m = 1; d >= days_in_month(y, m); m++)
        d -= days_in_month(y, m);

    const char *dn = day_short[wday], *mn = month_names[m - 1];
    int64_t fields[] = {d + 1,  y / 1000,    y / 100 % 10,   y / 10 % 10,
                        y % 10, secs / 3600, secs / 60 % 60, secs % 60};
    char *o = buf;
    memcpy(o, dn, 3);
    o += 3;
    *o++ = ',';
    *o++ = ' ';
    *o++ = (char)('0' + fields[0] / 10);
    *o++ = (char)('0' + fields[0] % 10);
    *o++ = ' ';
    memcpy(o, mn, 3);
    o += 3;
    *o++ = ' ';
    for (int i = 1; i <= 4; i++)
        *o++ = (char)('0' + fields[i]);
    for (int i = 5; i <= 7; i++) {
        *o++ = i == 5 ? ' ' : ':';
        *o++ = (char)('0' + fields[i] / 10);
        *o++ = (char)('0' + fields[i] % 10);
    }
    memcpy(o, " GMT", 5);
    return 0;
}

/* ---- Vary (RFC 9110 12.5.5) ------------------------------------------------------- */

int cc_vary_each(const char *v, size_t n, size_t *pos, const char **name, size_t *name_len)
{
    size_t i = *pos, start, end;

    while (i < n && (v[i] == ',' || is_ows(v[i])))
        i++;
    if (i >= n) {
        *pos = n;
        return 0;
    }
    start = i;
    while (i < n && v[i] != ',')
        i++;
    *pos = i;
    end = i;
    while (end > start && is_ows(v[end - 1]))
        end--;
    for (size_t k = start; k < end; k++)
        if (!is_tchar(v[k]))
            return CC_E_SYNTAX;
    *name = v + start;
    *name_len = end - start;
    return 1;
}

/* ---- the policy ------------------------------------------------------------------- */

void cc_rules_init(struct cc_rules *rules)
{
    memset(rules, 0, sizeof(*rules));
    rules->ttl_override = -1;
}

static int status_in(int status, const int *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == status)
            return 1;
    return 0;
}

/* RFC 9110 15.1 heuristically cacheable statuses, without 206 (ranges unsupported). */
static int heuristic_status(int status)
{
    static const int list[] = {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501};
    return status_in(status, list, sizeof(list) / sizeof(list[0]));
}

/* Statuses whose caching requirements this cache knows, for must-understand
 * (RFC 9111 5.2.2.3): none of them has requirements beyond this file's rules. */
static int understood_status(int status)
{
    static const int list[] = {302, 303, 307, 400, 403, 500, 502, 503, 504};
    return heuristic_status(status) || status_in(status, list, sizeof(list) / sizeof(list[0]));
}

static int method_is(const char *m, size_t n, const char *what)
{
    return strlen(what) == n && memcmp(m, what, n) == 0;
}

/* delta-seconds of a field value: 0..2^31, or -1 when invalid */
static int64_t field_delta(const struct cc_field *f)
{
    const char *v = f->value;
    size_t n = f->value_len;
    struct cc_arg a = {.present = true};

    trim(&v, &n);
    a.p = v;
    a.n = n;
    int64_t d = parse_delta(&a);
    return d >= 0 ? d : -1;
}

static void parse_all(const struct cc_field *fields, size_t nfields, const char *name,
                      struct cc_directives *d, bool *present)
{
    size_t i = 0;
    const struct cc_field *f;

    while ((f = cc_field_find(fields, nfields, name, &i)) != NULL) {
        if (present)
            *present = true;
        cc_parse_cache_control(f->value, f->value_len, d);
    }
}

/* RFC 9213 2.1: the targeted field is used when its value is valid and non-empty;
 * its lines combine as one Dictionary, so one bad line voids the field. */
static int targeted_directives(const struct cc_response *resp, struct cc_directives *d)
{
    size_t i = 0;
    int members = 0;
    const struct cc_field *f;

    cc_directives_init(d);
    while ((f = cc_field_find(resp->fields, resp->nfields, "CDN-Cache-Control", &i)) != NULL) {
        int r = parse_targeted(f->value, f->value_len, d);
        if (r < 0)
            return 0;
        members += r;
    }
    return members > 0;
}

/* Surrogate-Control is used when it gives a valid max-age or no-store; only those
 * and the two RFC 5861 directives are read from it. */
static int surrogate_directives(const struct cc_response *resp, struct cc_directives *d)
{
    struct cc_directives all;

    cc_directives_init(&all);
    parse_all(resp->fields, resp->nfields, "Surrogate-Control", &all, NULL);
    if (all.max_age < 0 && !all.no_store)
        return 0;
    cc_directives_init(d);
    d->max_age = all.max_age;
    d->no_store = all.no_store;
    d->stale_while_revalidate = all.stale_while_revalidate;
    d->stale_if_error = all.stale_if_error;
    return 1;
}

static void scan_vary(const struct cc_response *resp, struct cc_policy *out, bool *invalid)
{
    size_t i = 0;
    const struct cc_field *f;

    while ((f = cc_field_find(resp->fields, resp->nfields, "Vary", &i)) != NULL) {
        const char *v = f->value, *name;
        size_t n = f->value_len, pos = 0, len;
        int r, members = 0;

        trim(&v, &n);
        while ((r = cc_vary_each(v, n, &pos, &name, &len)) != 0) {
            members++;
            if (r < 0)
                *invalid = true;
            else if (len == 1 && name[0] == '*')
                out->vary_star = true;
        }
        if (members == 0)
            continue;
        if (out->vary == NULL) {
            out->vary = v;
            out->vary_len = n;
        }
        out->vary_lines++;
    }
}

/* The explicit freshness lifetime of the deciding directives (RFC 9111 4.2.1). An
 * invalid max-age or s-maxage (or Expires, 5.3) makes the response stale rather
 * than falling through to the next source. Returns 1 if there was one. */
static int explicit_freshness(const struct cc_response *resp, const struct cc_directives *d,
                              struct cc_policy *out)
{
    const struct cc_field *f;
    int64_t expires;

    switch (out->directives) {
    case CC_DIR_CDN:
        if (d->s_maxage >= 0 || d->max_age >= 0) {
            out->ttl = d->s_maxage >= 0 ? d->s_maxage : d->max_age;
            out->ttl_source = CC_TTL_CDN;
        }
        break;
    case CC_DIR_SURROGATE:
        if (d->max_age >= 0) {
            out->ttl = d->max_age;
            out->ttl_source = CC_TTL_SURROGATE;
        }
        break;
    case CC_DIR_CACHE_CONTROL:
        if (d->s_maxage != CC_UNSET) {
            out->ttl = clamp_delta(d->s_maxage);
            out->ttl_source = CC_TTL_S_MAXAGE;
        } else if (d->max_age != CC_UNSET) {
            out->ttl = clamp_delta(d->max_age);
            out->ttl_source = CC_TTL_MAX_AGE;
        } else if ((f = field_first(resp->fields, resp->nfields, "Expires")) != NULL) {
            /* RFC 9111 5.3: an invalid Expires ("0") means already expired */
            if (cc_parse_http_date(f->value, f->value_len, &expires) == CC_OK)
                out->ttl = clamp_delta(sat_sub(expires, out->date));
            out->ttl_source = CC_TTL_EXPIRES;
        }
        break;
    case CC_DIR_NONE: break;
    }
    return out->ttl_source != CC_TTL_NONE;
}

/* Storability, RFC 9111 3: the first failing rule names the reason, NULL if none. */
static const char *unstorable_reason(const struct cc_response *resp, const struct cc_request *req,
                                     const struct cc_rules *rules, const struct cc_directives *d,
                                     bool explicit_fresh, bool vary_invalid, bool vary_star)
{
    struct cc_directives reqd;
    int status = resp->status;
    /* RFC 9111 5.2.2.3: must-understand overrides no-store for known statuses */
    bool no_store = d->no_store && !(d->must_understand && understood_status(status));

    cc_request_directives(req, &reqd);
    if (!method_is(req->method, req->method_len, "GET") &&
        !method_is(req->method, req->method_len, "HEAD"))
        return "method";
    if (status < 200 || status > 599 || status == 206 /* no ranges yet, issue 4 */ ||
        status == 304 || (d->must_understand && !understood_status(status)))
        return "status";
    if (reqd.no_store) /* RFC 9111 5.2.1.5 */
        return "request-no-store";
    if (no_store)
        return "no-store";
    if (d->is_private)
        return "private";
    if (field_first(req->fields, req->nfields, "Authorization") != NULL &&
        !rules->allow_authorization &&
        !(d->is_public || d->s_maxage != CC_UNSET || d->must_revalidate))
        return "authorization"; /* RFC 9111 3.5 */
    if (field_first(resp->fields, resp->nfields, "Set-Cookie") != NULL && !rules->allow_set_cookie)
        return "set-cookie";
    if (vary_star) /* RFC 9111 4.1: never matches, so never stored */
        return "vary-star";
    if (vary_invalid)
        return "vary-invalid";
    if (!explicit_fresh && !heuristic_status(status) && !d->is_public)
        return "uncacheable-status";
    return NULL;
}

void cc_policy_for(const struct cc_response *resp, const struct cc_request *req, int64_t now,
                   const struct cc_rules *rules, struct cc_policy *out)
{
    struct cc_rules none;
    struct cc_directives d;
    const struct cc_field *f;
    int64_t last_modified = 0, age_value = 0;
    bool has_lm = false, vary_invalid = false, explicit_fresh;

    if (rules == NULL) {
        cc_rules_init(&none);
        rules = &none;
    }
    memset(out, 0, sizeof(*out));
    out->response_time = now;

    /* RFC 9110 6.6.1: without a (valid) Date, the receipt time stands in */
    out->date = now;
    if ((f = field_first(resp->fields, resp->nfields, "Date")) != NULL)
        cc_parse_http_date(f->value, f->value_len, &out->date);
    /* An invalid Age is ignored, as if absent: there is no safe guess for it. */
    if ((f = field_first(resp->fields, resp->nfields, "Age")) != NULL && field_delta(f) >= 0)
        age_value = field_delta(f);
    out->age =
        cc_initial_age(age_value, out->date, resp->request_time ? resp->request_time : now, now);

    if ((f = field_first(resp->fields, resp->nfields, "Last-Modified")) != NULL)
        has_lm = cc_parse_http_date(f->value, f->value_len, &last_modified) == CC_OK;
    if ((f = field_first(resp->fields, resp->nfields, "ETag")) != NULL) {
        const char *v = f->value;
        size_t n = f->value_len;
        trim(&v, &n);
        out->has_validator = n > 0;
    }
    out->has_validator = out->has_validator || has_lm;
    scan_vary(resp, out, &vary_invalid);

    /* Which directives decide: RFC 9213 2.1 target list, then Cache-Control. */
    if (rules->ignore_origin_cache_control) {
        cc_directives_init(&d);
        out->directives = CC_DIR_NONE;
    } else if (targeted_directives(resp, &d)) {
        out->directives = CC_DIR_CDN;
    } else if (surrogate_directives(resp, &d)) {
        out->directives = CC_DIR_SURROGATE;
    } else {
        cc_directives_init(&d);
        parse_all(resp->fields, resp->nfields, "Cache-Control", &d, NULL);
        out->directives = CC_DIR_CACHE_CONTROL;
    }

    explicit_fresh = explicit_freshness(resp, &d, out);
    /* RFC 9111 4.2.2: heuristics only without explicit expiry, for heuristically
     * cacheable statuses or responses marked public. */
    if (!explicit_fresh && has_lm && (heuristic_status(resp->status) || d.is_public)) {
        int64_t since = sat_sub(out->date, last_modified);
        out->ttl = since > 0 ? since / 10 : 0;
        if (out->ttl > CC_HEURISTIC_MAX)
            out->ttl = CC_HEURISTIC_MAX;
        out->ttl_source = CC_TTL_HEURISTIC;
    }
    if (rules->ttl_override >= 0) {
        out->ttl = clamp_delta(rules->ttl_override);
        out->ttl_source = CC_TTL_RULE;
    }

    /* s-maxage carries proxy-revalidate (RFC 9111 5.2.2.10); proxy-revalidate is
     * must-revalidate for a shared cache (5.2.2.8). */
    out->must_revalidate = d.must_revalidate || d.proxy_revalidate || d.s_maxage != CC_UNSET;
    out->no_cache = d.no_cache;
    out->immutable = d.immutable;
    /* RFC 5861 grants, unless an explicit directive forbids stale use (RFC 9111
     * 4.2.4; 4.2.1 "the most restrictive directive should be honored"). The
     * must-revalidate implied by s-maxage does not cancel an explicit grant. */
    if (!d.must_revalidate && !d.proxy_revalidate && !d.no_cache) {
        out->swr = clamp_delta(d.stale_while_revalidate);
        out->sie = clamp_delta(d.stale_if_error);
    }

    out->reason =
        unstorable_reason(resp, req, rules, &d, explicit_fresh, vary_invalid, out->vary_star);
    out->storable = out->reason == NULL;
}

int64_t cc_initial_age(int64_t age_value, int64_t date_value, int64_t request_time,
                       int64_t response_time)
{
    int64_t apparent = sat_sub(response_time, date_value);
    int64_t delay = sat_sub(response_time, request_time);
    int64_t corrected;

    if (apparent < 0)
        apparent = 0;
    if (delay < 0)
        delay = 0; /* a clock that went backwards */
    corrected = sat_add(age_value > 0 ? age_value : 0, delay);
    return clamp_delta(apparent > corrected ? apparent : corrected);
}

int64_t cc_current_age(const struct cc_policy *p, int64_t now)
{
    int64_t resident = sat_sub(now, p->response_time);
    return sat_add(p->age, resident > 0 ? resident : 0);
}

int64_t cc_ttl_left(const struct cc_policy *p, int64_t now)
{
    int64_t left = sat_sub(p->ttl, cc_current_age(p, now));
    return p->no_cache && left > 0 ? 0 : left;
}

/* ---- request side ------------------------------------------------------------------ */

void cc_request_directives(const struct cc_request *req, struct cc_directives *out)
{
    cc_directives_init(out);
    parse_all(req->fields, req->nfields, "Cache-Control", out, NULL);
}

int cc_request_no_cache(const struct cc_request *req)
{
    struct cc_directives d;
    bool has_cc = false;

    cc_directives_init(&d);
    parse_all(req->fields, req->nfields, "Cache-Control", &d, &has_cc);
    if (has_cc)
        return d.no_cache;
    /* RFC 9111 5.4: Pragma only counts without Cache-Control; its syntax is a list
     * of token [ "=" ... ] elements, which the Cache-Control parser reads. */
    parse_all(req->fields, req->nfields, "Pragma", &d, NULL);
    return d.no_cache;
}

/* RFC 9110 8.8.3 entity-tag = [ weak ] opaque-tag, weak = %s"W/",
 * opaque-tag = DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.
 * Returns the bytes consumed (0 if not an entity-tag) and the opaque-tag span. */
static size_t parse_etag(const char *v, size_t n, const char **opaque, size_t *opaque_len)
{
    size_t i = 0;

    if (n >= 2 && v[0] == 'W' && v[1] == '/')
        i = 2;
    if (i >= n || v[i] != '"')
        return 0;
    size_t start = i++;
    while (i < n && v[i] != '"') {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x21 || c == 0x7f)
            return 0;
        i++;
    }
    if (i >= n)
        return 0;
    i++;
    *opaque = v + start;
    *opaque_len = i - start;
    return i;
}

int cc_etag_weak_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *oa, *ob;
    size_t la, lb;

    trim(&a, &alen);
    trim(&b, &blen);
    if (parse_etag(a, alen, &oa, &la) != alen || alen == 0 ||
        parse_etag(b, blen, &ob, &lb) != blen || blen == 0)
        return 0;
    return la == lb && memcmp(oa, ob, la) == 0;
}

/* One If-None-Match line: 1 on a match, 0 on none, -1 if malformed. */
static int inm_line(const char *v, size_t n, const char *etag, size_t etag_len)
{
    int match = 0;
    size_t i = 0;

    while (i < n) {
        const char *opaque;
        size_t len, used;

        if (v[i] == ',' || is_ows(v[i])) {
            i++;
            continue;
        }
        if (v[i] == '*') {
            used = 1;
            match = 1; /* the stored response is a current representation */
        } else {
            used = parse_etag(v + i, n - i, &opaque, &len);
            if (used == 0)
                return -1;
            if (etag != NULL && cc_etag_weak_eq(v + i, used, etag, etag_len))
                match = 1;
        }
        i += used;
        while (i < n && is_ows(v[i]))
            i++;
        if (i < n && v[i] != ',')
            return -1;
    }
    return match;
}

int cc_not_modified(const struct cc_request *req, const char *etag, size_t etag_len,
                    const char *last_modified, size_t last_modified_len)
{
    const struct cc_field *f;
    size_t i = 0;
    bool has_inm = false;
    int match = 0;
    int64_t ims, lm;

    if (!method_is(req->method, req->method_len, "GET") &&
        !method_is(req->method, req->method_len, "HEAD"))
        return 0;
    /* RFC 9110 13.2.2 step 3: If-None-Match decides alone when present */
    while ((f = cc_field_find(req->fields, req->nfields, "If-None-Match", &i)) != NULL) {
        int r = inm_line(f->value, f->value_len, etag, etag_len);
        has_inm = true;
        if (r < 0)
            return 0; /* malformed: a full response is always a correct answer */
        match |= r;
    }
    if (has_inm)
        return match;
    /* Step 4 / 13.1.3: exactly one valid HTTP-date, else ignored */
    i = 0;
    f = cc_field_find(req->fields, req->nfields, "If-Modified-Since", &i);
    if (f == NULL || cc_field_find(req->fields, req->nfields, "If-Modified-Since", &i) != NULL)
        return 0;
    if (cc_parse_http_date(f->value, f->value_len, &ims) != CC_OK || last_modified == NULL ||
        cc_parse_http_date(last_modified, last_modified_len, &lm) != CC_OK)
        return 0;
    return lm <= ims;
}

/* ---- helpers ------------------------------------------------------------------------ */

int cc_is_unsafe_method(const char *method, size_t len)
{
    return !(method_is(method, len, "GET") || method_is(method, len, "HEAD") ||
             method_is(method, len, "OPTIONS") || method_is(method, len, "TRACE"));
}

int cc_response_invalidates(const char *method, size_t len, int status)
{
    return cc_is_unsafe_method(method, len) && status >= 200 && status < 400;
}

int cc_strip_field(const char *name, size_t len)
{
    return cc_name_eq(name, len, "CDN-Cache-Control", 17) ||
           cc_name_eq(name, len, "Surrogate-Control", 17);
}

const char *cc_strerror(int err)
{
    switch (err) {
    case CC_OK: return "ok";
    case CC_E_SYNTAX: return "malformed field value";
    default: return "unknown cc error";
    }
}
