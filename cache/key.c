/* SPDX-License-Identifier: Apache-2.0
 *
 * key: cache key normalisation and hashing (see key.h for the key layout).
 *
 * Every part is normalised straight into the key buffer behind a reserved
 * three-byte header, which is filled in once the payload length is known, so a
 * key is built with no copy and no allocation. The query sort keeps an index of
 * the surviving parameters on the stack (KEY_QUERY_MAX_PARAMS entries) and
 * compares names in normal form on the fly, so it needs no scratch buffer.
 * Thread: any; no global state. Tests: tests/unit/test_key.c.
 */
#include "key.h"

#include <string.h>
#include <strings.h>

#include <xxhash.h>

/* Byte classes for paths and queries (RFC 3986 2.2, 2.3, 3.3, 3.4). RAW: may
 * stand unencoded (unreserved, sub-delims, ':', '@', '/', '?'); '%' is not RAW, the
 * callers handle it. The range initialisers are a GNU C extension (gcc, clang). */
enum { C_UNRESERVED = 1, C_RAW = 2 };
static const unsigned char uri_class[256] = {
    ['a' ... 'z'] = C_UNRESERVED | C_RAW,
    ['A' ... 'Z'] = C_UNRESERVED | C_RAW,
    ['0' ... '9'] = C_UNRESERVED | C_RAW,
    ['-'] = C_UNRESERVED | C_RAW,
    ['.'] = C_UNRESERVED | C_RAW,
    ['_'] = C_UNRESERVED | C_RAW,
    ['~'] = C_UNRESERVED | C_RAW,
    ['!'] = C_RAW,
    ['$'] = C_RAW,
    ['&'] = C_RAW,
    ['\''] = C_RAW,
    ['('] = C_RAW,
    [')'] = C_RAW,
    ['*'] = C_RAW,
    ['+'] = C_RAW,
    [','] = C_RAW,
    [';'] = C_RAW,
    ['='] = C_RAW,
    [':'] = C_RAW,
    ['@'] = C_RAW,
    ['/'] = C_RAW,
    ['?'] = C_RAW,
};

static inline int is_unreserved(unsigned c)
{
    return uri_class[c & 0xff] & C_UNRESERVED;
}

static inline int is_raw_ok(unsigned c)
{
    return uri_class[c & 0xff] & C_RAW;
}

static inline int hex_value(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static inline int is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2 tchar */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Case-insensitive comparison of p[0..n) with the lower-case literal s. */
static int eq_ci(const char *p, size_t n, const char *s)
{
    size_t sl = strlen(s);
    if (n != sl)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)p[i]) != (unsigned char)s[i])
            return 0;
    return 1;
}

/* Normalises the byte or escape at p (p < end) into u[0..*ulen), 1 or 3 bytes.
 * Returns how many input bytes it used (1 or 3), or 0 for an invalid escape.
 * The single definition of percent-encoding normal form (RFC 3986 6.2.2.1 and
 * 6.2.2.2), used by the writers and by the query comparisons alike. */
static inline size_t norm_unit(const unsigned char *p, const unsigned char *end, unsigned char *u,
                               size_t *ulen)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned c = *p;
    size_t used = 1;
    if (c == '%') {
        if (end - p < 3)
            return 0;
        int hi = hex_value(p[1]), lo = hex_value(p[2]);
        if (hi < 0 || lo < 0)
            return 0;
        c = (unsigned)(hi << 4 | lo);
        used = 3;
        if (is_unreserved(c)) {
            u[0] = (unsigned char)c;
            *ulen = 1;
            return used;
        }
    } else if (is_raw_ok(c)) {
        u[0] = (unsigned char)c;
        *ulen = 1;
        return used;
    }
    /* A reserved escape (kept, hex upper-cased) or a byte that may not appear raw
     * (encoded, so "/a b" and "/a%20b" share a key). */
    u[0] = '%';
    u[1] = (unsigned char)hex[c >> 4];
    u[2] = (unsigned char)hex[c & 15];
    *ulen = 3;
    return used;
}

/* Appends the normal form of in[0..n) to out[*o..cap). */
static int norm_copy(const unsigned char *in, size_t n, unsigned char *out, size_t cap, size_t *o)
{
    const unsigned char *p = in, *end = in + n;
    size_t w = *o;
    while (p < end) {
        if (is_raw_ok(*p)) { /* never '%' */
            if (w == cap)
                return KEY_E_OVERFLOW;
            out[w++] = *p++;
            continue;
        }
        unsigned char u[3];
        size_t ulen;
        size_t used = norm_unit(p, end, u, &ulen);
        if (used == 0)
            return KEY_E_BAD_ESCAPE;
        if (cap - w < ulen)
            return KEY_E_OVERFLOW;
        memcpy(out + w, u, ulen);
        w += ulen;
        p += used;
    }
    *o = w;
    return 0;
}

/* ---- host ---- */

int key_norm_host(const char *in, size_t n, int https, char *out, size_t cap, size_t *outlen)
{
    size_t hl = n;
    size_t i = n;
    while (i > 0 && in[i - 1] >= '0' && in[i - 1] <= '9')
        i--;
    /* A port follows the last ':' of a reg-name or IPv4 host, or the ']' of an IP
     * literal; a bare "::1" (not valid in Host) is left alone. */
    if (i > 0 && in[i - 1] == ':') {
        size_t colon = i - 1;
        int bracketed = colon > 0 && in[colon - 1] == ']';
        if (bracketed || memchr(in, ':', colon) == NULL) {
            unsigned long port = 0;
            for (size_t k = i; k < n && port <= 65535; k++)
                port = port * 10 + (unsigned long)(in[k] - '0');
            /* RFC 3986 6.2.3: an empty port is the default port too. */
            if (i == n || port == (https ? 443u : 80u))
                hl = colon;
        }
    }
    if (hl > cap)
        return KEY_E_OVERFLOW;
    for (size_t k = 0; k < hl; k++)
        out[k] = (char)lower((unsigned char)in[k]);
    *outlen = hl;
    return 0;
}

/* ---- path ---- */

/* RFC 3986 5.2.4 on b[0..n), in place. b starts with '/' and holds no "//", so
 * every segment is "/seg" and an empty segment can only be the last one. The
 * output never outgrows the input read so far, so writing behind the read
 * cursor is safe. Returns the new length. */
static size_t remove_dot_segments(unsigned char *b, size_t n)
{
    size_t w = 0, r = 0;
    while (r < n) {
        size_t s = r + 1, e = s;
        while (e < n && b[e] != '/')
            e++;
        size_t sl = e - s;
        if (sl == 1 && b[s] == '.') {
            if (e == n)
                b[w++] = '/'; /* "/a/." is "/a/" */
        } else if (sl == 2 && b[s] == '.' && b[s + 1] == '.') {
            /* Drop the last output segment; at the root there is none, which is
             * how ".." never climbs above it (test_key: "/../a"). */
            while (w > 0) {
                w--;
                if (b[w] == '/')
                    break;
            }
            if (e == n)
                b[w++] = '/'; /* "/a/b/.." is "/a/" */
        } else {
            memmove(b + w, b + r, e - r);
            w += e - r;
        }
        r = e;
    }
    return w;
}

int key_norm_path(const char *in, size_t n, char *out, size_t cap, size_t *outlen)
{
    unsigned char *o = (unsigned char *)out;
    if (n == 0) {
        /* RFC 9110 4.2.3: an empty path is "/" */
        if (cap < 1)
            return KEY_E_OVERFLOW;
        o[0] = '/';
        *outlen = 1;
        return 0;
    }
    if (in[0] != '/')
        return KEY_E_BAD_PATH;

    /* Pass 1: escapes to normal form and "//" merged. A decoded escape is never
     * '/' ('/' is reserved, so "%2F" stays as is), so only raw slashes merge. */
    const unsigned char *p = (const unsigned char *)in, *end = p + n;
    size_t w = 0;
    while (p < end) {
        if (*p == '/') {
            if (w > 0 && o[w - 1] == '/') {
                p++;
                continue;
            }
        } else if (!is_raw_ok(*p)) { /* '%' included */
            unsigned char u[3];
            size_t ulen;
            size_t used = norm_unit(p, end, u, &ulen);
            if (used == 0)
                return KEY_E_BAD_ESCAPE;
            if (cap - w < ulen)
                return KEY_E_OVERFLOW;
            memcpy(o + w, u, ulen);
            w += ulen;
            p += used;
            continue;
        }
        if (w == cap)
            return KEY_E_OVERFLOW;
        o[w++] = *p++;
    }
    /* Pass 2: dot segments, after decoding so that "%2E%2E" counts as "..". */
    *outlen = remove_dot_segments(o, w);
    return 0;
}

/* ---- query ---- */

struct qparam {
    const unsigned char *name, *value;
    size_t name_len, value_len;
    int plain; /* the whole parameter is already in normal form */
};

/* Reads a string in normal form one byte at a time. A plain cursor yields the raw
 * bytes (strings with nothing to normalise, and rule patterns). Escapes were
 * validated before any cursor runs. */
struct ncursor {
    const unsigned char *p, *end;
    unsigned char u[3];
    size_t ulen, upos;
    int plain;
};

static void ncursor_init(struct ncursor *c, const unsigned char *p, size_t n, int plain)
{
    c->p = p;
    c->end = p + n;
    c->ulen = c->upos = 0;
    c->plain = plain;
}

/* The next byte, or -1 at the end. */
static int ncursor_next(struct ncursor *c)
{
    if (c->upos < c->ulen)
        return c->u[c->upos++];
    if (c->p >= c->end)
        return -1;
    if (c->plain)
        return *c->p++;
    size_t used = norm_unit(c->p, c->end, c->u, &c->ulen);
    if (used == 0)
        return -1; /* not reached: escapes are validated first */
    c->p += used;
    c->upos = 1;
    return c->u[0];
}

/* Bytewise order of the normal forms of two names. */
static int name_cmp(const struct qparam *a, const struct qparam *b)
{
    if (a->plain && b->plain) {
        size_t m = a->name_len < b->name_len ? a->name_len : b->name_len;
        int d = memcmp(a->name, b->name, m);
        if (d != 0)
            return d;
        return (a->name_len > b->name_len) - (a->name_len < b->name_len);
    }
    struct ncursor ca, cb;
    ncursor_init(&ca, a->name, a->name_len, a->plain);
    ncursor_init(&cb, b->name, b->name_len, b->plain);
    for (;;) {
        int x = ncursor_next(&ca), y = ncursor_next(&cb);
        if (x != y || x < 0)
            return x - y;
    }
}

/* Whether the normal form of the name matches a rule entry (see key.h). */
static int name_matches(const struct qparam *q, const char *pat)
{
    size_t pl = strlen(pat);
    int prefix = pl > 0 && pat[pl - 1] == '*';
    if (prefix)
        pl--;
    if (q->plain) {
        if (prefix ? q->name_len < pl : q->name_len != pl)
            return 0;
        return memcmp(q->name, pat, pl) == 0;
    }
    struct ncursor c;
    ncursor_init(&c, q->name, q->name_len, 0);
    for (size_t i = 0; i < pl; i++)
        if (ncursor_next(&c) != (unsigned char)pat[i])
            return 0;
    return prefix || ncursor_next(&c) < 0;
}

static int any_matches(const struct qparam *q, const char *const *pats, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pats[i] != NULL && name_matches(q, pats[i]))
            return 1;
    return 0;
}

static int param_kept(const struct qparam *q, const struct key_query_rules *rules)
{
    if (rules == NULL)
        return 1;
    if (rules->keep != NULL && !any_matches(q, rules->keep, rules->nkeep))
        return 0;
    return !any_matches(q, rules->drop, rules->ndrop);
}

int key_norm_query(const char *q, size_t n, const struct key_query_rules *rules, char *out,
                   size_t cap, size_t *outlen)
{
    struct qparam params[KEY_QUERY_MAX_PARAMS];
    size_t np = 0;
    const unsigned char *p = (const unsigned char *)q, *end = p + n;
    if (p < end && *p == '?')
        p++;

    while (p < end) {
        const unsigned char *s = p, *eq = NULL;
        int plain = 1;
        for (; p < end && *p != '&'; p++) {
            if (*p == '=' && eq == NULL)
                eq = p;
            if (*p == '%') {
                /* Validated here, dropped parameters included, so the cursors and
                 * the writer below never meet an invalid escape. */
                if (end - p < 3 || hex_value(p[1]) < 0 || hex_value(p[2]) < 0)
                    return KEY_E_BAD_ESCAPE;
                plain = 0;
            } else if (!is_raw_ok(*p)) {
                plain = 0;
            }
        }
        const unsigned char *e = p;
        if (p < end)
            p++; /* the '&' */
        struct qparam qp;
        qp.name = s;
        qp.name_len = (size_t)((eq ? eq : e) - s);
        qp.value = eq ? eq + 1 : e;
        qp.value_len = (size_t)(e - qp.value);
        qp.plain = plain;
        /* "", "=": empty parameters carry nothing (test_key: "a=1&&b=2"). */
        if (qp.name_len == 0 && qp.value_len == 0)
            continue;
        if (!param_kept(&qp, rules))
            continue;
        if (np == KEY_QUERY_MAX_PARAMS)
            return KEY_E_TOO_MANY;
        /* Insertion sort by name, stable: equal names keep their order. Queries
         * are short; the table bounds the worst case. */
        size_t i = np++;
        while (i > 0 && name_cmp(&params[i - 1], &qp) > 0) {
            params[i] = params[i - 1];
            i--;
        }
        params[i] = qp;
    }

    unsigned char *o = (unsigned char *)out;
    size_t w = 0;
    for (size_t i = 0; i < np; i++) {
        const struct qparam *qp = &params[i];
        if (w == cap)
            return KEY_E_OVERFLOW;
        o[w++] = i == 0 ? '?' : '&';
        int rc = norm_copy(qp->name, qp->name_len, o, cap, &w);
        if (rc != 0)
            return rc;
        /* "a" is written "a=": both give the application an empty value. */
        if (w == cap)
            return KEY_E_OVERFLOW;
        o[w++] = '=';
        rc = norm_copy(qp->value, qp->value_len, o, cap, &w);
        if (rc != 0)
            return rc;
    }
    *outlen = w;
    return 0;
}

/* ---- field lists (Accept-Encoding, Accept-Language) ---- */

struct list_elem {
    const char *tok; /* the element up to its first ';' or whitespace */
    size_t tok_len;
    int q; /* weight in thousandths, 1000 by default; -1 for an invalid element */
};

/* RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
static int parse_qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int v = (s[0] - '0') * 1000;
    if (n == 1)
        return v;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v += (s[i] - '0') * scale;
        scale /= 10;
    }
    return v <= 1000 ? v : -1;
}

/* Skips a token or a quoted-string (RFC 9110 5.6.4) starting at p. */
static const char *skip_word(const char *p, const char *end)
{
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++)
            if (*p == '\\' && p + 1 < end)
                p++;
        return p < end ? p + 1 : p;
    }
    while (p < end && *p != ';' && *p != ',' && *p != '=' && !is_ows((unsigned char)*p))
        p++;
    return p;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && is_ows((unsigned char)*p))
        p++;
    return p;
}

/* Reads the next element of a #rule list (RFC 9110 5.6.1) from *pp, skipping
 * empty ones. Returns 0 at the end of the list, 1 with *e filled. A ',' inside a
 * quoted parameter value does not end the element. */
static int list_next(const char **pp, const char *end, struct list_elem *e)
{
    const char *p = *pp;
    while (p < end && (*p == ',' || is_ows((unsigned char)*p)))
        p++;
    if (p == end) {
        *pp = p;
        return 0;
    }
    e->tok = p;
    p = skip_word(p, end);
    e->tok_len = (size_t)(p - e->tok);
    e->q = 1000;
    for (;;) {
        p = skip_ows(p, end);
        if (p == end || *p == ',')
            break;
        if (*p != ';') {
            /* "gzip deflate": not one token. Skip to the next element. */
            e->q = -1;
            while (p < end && *p != ',')
                p = (*p == '"') ? skip_word(p, end) : p + 1;
            break;
        }
        p = skip_ows(p + 1, end);
        const char *pn = p;
        p = skip_word(p, end);
        size_t pn_len = (size_t)(p - pn);
        p = skip_ows(p, end);
        const char *pv = p;
        size_t pv_len = 0;
        if (p < end && *p == '=') {
            p = skip_ows(p + 1, end);
            pv = p;
            p = skip_word(p, end);
            pv_len = (size_t)(p - pv);
        }
        if (eq_ci(pn, pn_len, "q"))
            e->q = parse_qvalue(pv, pv_len);
    }
    *pp = p;
    return 1;
}

static int append(unsigned char *out, size_t cap, size_t *w, const char *s, size_t n)
{
    if (cap - *w < n)
        return KEY_E_OVERFLOW;
    memcpy(out + *w, s, n);
    *w += n;
    return 0;
}

/* RFC 9110 12.5.3, reduced to the codings Tessera stores (see key.h). */
static int norm_accept_encoding(const char *v, size_t n, unsigned char *out, size_t cap, size_t *w)
{
    static const char *const names[] = {"br", "gzip", "identity"};
    int q[3] = {-1, -1, -1}, star = -1;
    const char *p = v, *end = v + n;
    struct list_elem e;
    while (list_next(&p, end, &e)) {
        if (e.q < 0)
            continue;
        int *slot = NULL;
        if (eq_ci(e.tok, e.tok_len, "br"))
            slot = &q[0];
        else if (eq_ci(e.tok, e.tok_len, "gzip") || eq_ci(e.tok, e.tok_len, "x-gzip"))
            slot = &q[1]; /* RFC 9110 8.4.1.3 */
        else if (eq_ci(e.tok, e.tok_len, "identity"))
            slot = &q[2];
        else if (e.tok_len == 1 && e.tok[0] == '*')
            slot = &star;
        /* The RFC leaves repeated codings open; the first one counts. */
        if (slot != NULL && *slot < 0)
            *slot = e.q;
    }
    int first = 1;
    for (int i = 0; i < 3; i++) {
        int ok;
        if (q[i] >= 0)
            ok = q[i] > 0;
        else if (i == 2)
            ok = star != 0; /* identity: acceptable unless "*;q=0" excludes it */
        else
            ok = star > 0;
        if (!ok)
            continue;
        if ((!first && append(out, cap, w, ",", 1) != 0) ||
            append(out, cap, w, names[i], strlen(names[i])) != 0)
            return KEY_E_OVERFLOW;
        first = 0;
    }
    return 0;
}

struct lang {
    const char *tag; /* primary subtag (RFC 5646 2.1), or "*" */
    size_t len;
    int q;
};

static int norm_accept_language(const char *v, size_t n, unsigned char *out, size_t cap, size_t *w)
{
    struct lang langs[KEY_LANG_MAX];
    size_t nl = 0;
    const char *p = v, *end = v + n;
    struct list_elem e;
    while (list_next(&p, end, &e)) {
        if (e.q < 0)
            continue;
        size_t pl = 0;
        while (pl < e.tok_len && e.tok[pl] != '-')
            pl++;
        int valid = pl >= 1 && pl <= 8;
        for (size_t i = 0; i < pl && valid; i++) {
            unsigned char c = lower((unsigned char)e.tok[i]);
            valid = (c >= 'a' && c <= 'z') || (pl == 1 && c == '*');
        }
        if (!valid)
            continue;
        size_t k = 0;
        while (k < nl && !(langs[k].len == pl && strncasecmp(langs[k].tag, e.tok, pl) == 0))
            k++;
        if (k < nl) {
            /* "en-US;q=0.5, en;q=0.9": the primary tag gets its best weight. */
            if (e.q > langs[k].q)
                langs[k].q = e.q;
            continue;
        }
        if (nl == KEY_LANG_MAX)
            return KEY_E_TOO_MANY;
        langs[nl].tag = e.tok;
        langs[nl].len = pl;
        langs[nl].q = e.q;
        nl++;
    }
    /* By decreasing q, stable: equal weights keep the client's order, which is
     * its preference in practice (RFC 4647 3.4 lookup reads the list in order). */
    for (size_t i = 1; i < nl; i++) {
        struct lang t = langs[i];
        size_t j = i;
        while (j > 0 && langs[j - 1].q < t.q) {
            langs[j] = langs[j - 1];
            j--;
        }
        langs[j] = t;
    }
    for (size_t i = 0; i < nl && langs[i].q > 0; i++) {
        if (cap - *w < langs[i].len + (i > 0))
            return KEY_E_OVERFLOW;
        if (i > 0)
            out[(*w)++] = ',';
        for (size_t k = 0; k < langs[i].len; k++)
            out[(*w)++] = lower((unsigned char)langs[i].tag[k]);
    }
    return 0;
}

/* Any other field: trimmed, runs of SP/HTAB folded to one SP. */
static int norm_generic(const char *v, size_t n, unsigned char *out, size_t cap, size_t *w)
{
    const char *p = skip_ows(v, v + n), *end = v + n;
    while (end > p && is_ows((unsigned char)end[-1]))
        end--;
    while (p < end) {
        if (*w == cap)
            return KEY_E_OVERFLOW;
        if (is_ows((unsigned char)*p)) {
            out[(*w)++] = ' ';
            p = skip_ows(p, end);
        } else {
            out[(*w)++] = (unsigned char)*p++;
        }
    }
    return 0;
}

/* ---- builder ---- */

void key_init(struct key_builder *kb, void *buf, size_t cap)
{
    kb->buf = buf;
    kb->cap = buf != NULL ? cap : 0;
    kb->len = 0;
    kb->err = 0;
}

void key_reopen(struct key_builder *kb, void *buf, size_t cap, size_t len)
{
    key_init(kb, buf, cap);
    if (len > kb->cap)
        kb->err = KEY_E_OVERFLOW;
    else
        kb->len = len;
}

static int fail(struct key_builder *kb, int err)
{
    kb->err = err;
    return err;
}

/* Reserves a part header; the payload goes to *out, at most *room bytes. */
static int part_begin(struct key_builder *kb, unsigned char **out, size_t *room)
{
    if (kb->err != 0)
        return kb->err;
    if (kb->cap - kb->len < KEY_PART_OVERHEAD)
        return fail(kb, KEY_E_OVERFLOW);
    size_t r = kb->cap - kb->len - KEY_PART_OVERHEAD;
    *room = r > KEY_PART_MAX ? KEY_PART_MAX : r;
    *out = kb->buf + kb->len + KEY_PART_OVERHEAD;
    return 0;
}

/* Completes the part begun by part_begin with an n-byte payload, or records rc. */
static int part_end(struct key_builder *kb, unsigned char tag, size_t n, int rc)
{
    if (rc != 0)
        return fail(kb, rc);
    unsigned char *h = kb->buf + kb->len;
    h[0] = tag;
    h[1] = (unsigned char)(n >> 8);
    h[2] = (unsigned char)n;
    kb->len += KEY_PART_OVERHEAD + n;
    return 0;
}

int key_add_part(struct key_builder *kb, unsigned char tag, const void *data, size_t len)
{
    unsigned char *out;
    size_t room;
    int rc = part_begin(kb, &out, &room);
    if (rc != 0)
        return rc;
    if (len > room)
        return fail(kb, KEY_E_OVERFLOW);
    if (len > 0)
        memcpy(out, data, len);
    return part_end(kb, tag, len, 0);
}

int key_add_method(struct key_builder *kb, const char *method, size_t len)
{
    if (kb->err != 0)
        return kb->err;
    if (!(len == 3 && memcmp(method, "GET", 3) == 0) &&
        !(len == 4 && memcmp(method, "HEAD", 4) == 0))
        return fail(kb, KEY_E_METHOD);
    return key_add_part(kb, KEY_TAG_METHOD, "G", 1);
}

int key_add_host(struct key_builder *kb, const char *host, size_t len, int https)
{
    unsigned char *out;
    size_t room, n = 0;
    int rc = part_begin(kb, &out, &room);
    if (rc != 0)
        return rc;
    rc = key_norm_host(host, len, https, (char *)out, room, &n);
    return part_end(kb, KEY_TAG_HOST, n, rc);
}

int key_add_path(struct key_builder *kb, const char *path, size_t len)
{
    unsigned char *out;
    size_t room, n = 0;
    int rc = part_begin(kb, &out, &room);
    if (rc != 0)
        return rc;
    rc = key_norm_path(path, len, (char *)out, room, &n);
    return part_end(kb, KEY_TAG_PATH, n, rc);
}

int key_add_query(struct key_builder *kb, const char *q, size_t len,
                  const struct key_query_rules *rules)
{
    unsigned char *out;
    size_t room, n = 0;
    int rc = part_begin(kb, &out, &room);
    if (rc != 0)
        return rc;
    rc = key_norm_query(q, len, rules, (char *)out, room, &n);
    return part_end(kb, KEY_TAG_QUERY, n, rc);
}

int key_add_vary(struct key_builder *kb, const char *name, size_t name_len, const char *value,
                 size_t value_len)
{
    unsigned char *out;
    size_t room, w = 0;
    int rc = part_begin(kb, &out, &room);
    if (rc != 0)
        return rc;
    if (name_len == 0)
        return fail(kb, KEY_E_BAD_NAME);
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return fail(kb, KEY_E_BAD_NAME);
    /* "name" for an absent field, "name:value" otherwise: ':' is not a tchar, so
     * the two never meet (RFC 9111 4.1: absent only matches absent). */
    if (name_len + (value != NULL) > room)
        return fail(kb, KEY_E_OVERFLOW);
    for (size_t i = 0; i < name_len; i++)
        out[w++] = lower((unsigned char)name[i]);
    if (value != NULL) {
        out[w++] = ':';
        if (eq_ci(name, name_len, "accept-encoding"))
            rc = norm_accept_encoding(value, value_len, out, room, &w);
        else if (eq_ci(name, name_len, "accept-language"))
            rc = norm_accept_language(value, value_len, out, room, &w);
        else
            rc = norm_generic(value, value_len, out, room, &w);
    }
    return part_end(kb, KEY_TAG_VARY, w, rc);
}

int key_finish(struct key_builder *kb, uint64_t *hash_lo, uint64_t *hash_hi, size_t *len)
{
    if (kb->err != 0)
        return kb->err;
    /* One shot over the finished bytes: the same value as the streaming API over
     * the same bytes, without a 576-byte XXH3 state in every request. */
    XXH128_hash_t h = XXH3_128bits(kb->buf, kb->len);
    *hash_lo = h.low64;
    *hash_hi = h.high64;
    *len = kb->len;
    return 0;
}

const char *key_strerror(int err)
{
    switch (err) {
    case KEY_OK: return "ok";
    case KEY_E_OVERFLOW: return "cache key does not fit its buffer";
    case KEY_E_BAD_ESCAPE: return "invalid percent-encoding in the request target";
    case KEY_E_BAD_PATH: return "request path does not start with '/'";
    case KEY_E_METHOD: return "method is not cacheable";
    case KEY_E_TOO_MANY: return "too many query parameters or list elements for the cache key";
    case KEY_E_BAD_NAME: return "Vary names an invalid field";
    default: return "unknown key error";
    }
}
