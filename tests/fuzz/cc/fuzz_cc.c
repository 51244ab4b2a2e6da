/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_cc: libFuzzer target for the caching semantics (cache/cc.c).
 *
 * Input: a 12-byte prefix (missing bytes read as 0) and a text.
 *   byte 0: response status (index into a table), byte 1: request method,
 *   byte 2: route rules (bit flags and a ttl_override), byte 3: clock mode,
 *   bytes 4..11: an int64 used as `now` (mode 1) or as a raw time for the helpers.
 * The text is split into lines "name:value"; a line starting with '>' is a request
 * field, any other a response field. The whole text also goes to every field parser.
 * Invariants are checked with FUZZ_CHECK, which aborts even under NDEBUG (the ctest
 * replay runs in release builds too): value ranges, targeted parses that fail leave
 * their output untouched, Cache-Control parsing is split- and case-independent
 * outside quoted strings, HTTP-dates round-trip, the Vary cursor always advances,
 * and the policy's fields agree with each other and with relaxed route rules.
 *
 * Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for ctest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_cc: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX 12
#define MAX_FIELDS 64
#define MAX_TEXT 4096
#define T_MIN ((int64_t)-62135596800) /* 0001-01-01T00:00:00Z */
#define T_MAX ((int64_t)253402300800) /* 9999-12-31T23:59:60Z, a leap second */

static const int statuses[] = {200, 203, 204, 206, 300, 301, 302, 303, 304, 307, 308,
                               404, 405, 410, 414, 418, 500, 501, 503, 100, 0,   999};
static const char *const methods[] = {"GET", "HEAD", "POST", "get", ""};

static int delta_ok(int64_t v, int allow_invalid, int allow_any)
{
    return v == CC_UNSET || (allow_invalid && v == CC_INVALID) || (allow_any && v == CC_ANY) ||
           (v >= 0 && v <= CC_DELTA_MAX);
}

static void check_directives(const struct cc_directives *d, int targeted)
{
    FUZZ_CHECK(delta_ok(d->max_age, !targeted, 0));
    FUZZ_CHECK(delta_ok(d->s_maxage, !targeted, 0));
    FUZZ_CHECK(delta_ok(d->stale_while_revalidate, !targeted, 0));
    FUZZ_CHECK(delta_ok(d->stale_if_error, !targeted, 0));
    FUZZ_CHECK(delta_ok(d->max_stale, !targeted, !targeted));
    FUZZ_CHECK(delta_ok(d->min_fresh, !targeted, 0));
    FUZZ_CHECK(!d->no_cache_fields || d->no_cache);
    FUZZ_CHECK(!d->private_fields || d->is_private);
}

static int same_directives(const struct cc_directives *a, const struct cc_directives *b)
{
    return a->max_age == b->max_age && a->s_maxage == b->s_maxage &&
           a->stale_while_revalidate == b->stale_while_revalidate &&
           a->stale_if_error == b->stale_if_error && a->max_stale == b->max_stale &&
           a->min_fresh == b->min_fresh && a->no_store == b->no_store &&
           a->no_cache == b->no_cache && a->no_cache_fields == b->no_cache_fields &&
           a->is_private == b->is_private && a->private_fields == b->private_fields &&
           a->is_public == b->is_public && a->must_revalidate == b->must_revalidate &&
           a->proxy_revalidate == b->proxy_revalidate && a->must_understand == b->must_understand &&
           a->immutable == b->immutable && a->no_transform == b->no_transform &&
           a->only_if_cached == b->only_if_cached;
}

static void fuzz_cache_control(const char *v, size_t n)
{
    static char upper[MAX_TEXT];
    struct cc_directives whole, split, up;
    int rc;

    cc_directives_init(&whole);
    rc = cc_parse_cache_control(v, n, &whole);
    FUZZ_CHECK(rc == CC_OK || rc == CC_E_SYNTAX);
    check_directives(&whole, 0);

    /* Without quoted strings, a comma always separates elements, so the value may be
     * split into two field lines there, and case never matters. */
    if (memchr(v, '"', n) != NULL)
        return;
    const char *comma = memchr(v, ',', n);
    if (comma != NULL) {
        size_t k = (size_t)(comma - v);
        cc_directives_init(&split);
        cc_parse_cache_control(v, k, &split);
        cc_parse_cache_control(v + k + 1, n - k - 1, &split);
        FUZZ_CHECK(same_directives(&whole, &split));
    }
    for (size_t i = 0; i < n; i++)
        upper[i] = (v[i] >= 'a' && v[i] <= 'z') ? (char)(v[i] - 'a' + 'A') : v[i];
    cc_directives_init(&up);
    cc_parse_cache_control(upper, n, &up);
    FUZZ_CHECK(same_directives(&whole, &up));
}

static void fuzz_targeted(const char *v, size_t n)
{
    struct cc_directives d, before;

    cc_directives_init(&d);
    d.max_age = 5; /* something for a failed parse to preserve */
    before = d;
    int rc = cc_parse_targeted(v, n, &d);
    FUZZ_CHECK(rc == CC_OK || rc == CC_E_SYNTAX);
    if (rc != CC_OK)
        FUZZ_CHECK(same_directives(&d, &before));
    check_directives(&d, 1);
}

static void fuzz_date(const char *v, size_t n, int64_t raw)
{
    char buf[CC_HTTP_DATE_SIZE];
    int64_t t = 42, back = 0;
    int rc = cc_parse_http_date(v, n, &t);

    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(t == 42);
    } else {
        FUZZ_CHECK(t >= T_MIN && t <= T_MAX);
        if (cc_format_http_date(t, buf) == 0) {
            FUZZ_CHECK(strlen(buf) == CC_HTTP_DATE_SIZE - 1);
            FUZZ_CHECK(cc_parse_http_date(buf, strlen(buf), &back) == 0 && back == t);
        } else {
            FUZZ_CHECK(t == T_MAX);
        }
    }
    if (cc_format_http_date(raw, buf) == 0) {
        FUZZ_CHECK(strlen(buf) == CC_HTTP_DATE_SIZE - 1);
        FUZZ_CHECK(cc_parse_http_date(buf, strlen(buf), &back) == 0 && back == raw);
    } else {
        FUZZ_CHECK(buf[0] == '\0' && (raw < T_MIN || raw >= T_MAX));
    }
}

static void fuzz_vary(const char *v, size_t n)
{
    size_t pos = 0, calls = 0, len;
    const char *name;
    int r;

    for (;;) {
        size_t before = pos;
        r = cc_vary_each(v, n, &pos, &name, &len);
        FUZZ_CHECK(r == 1 || r == 0 || r == CC_E_SYNTAX);
        FUZZ_CHECK(pos <= n);
        if (r == 0)
            break;
        FUZZ_CHECK(pos > before);
        if (r == 1) {
            FUZZ_CHECK(len > 0 && name >= v && name + len <= v + n);
            FUZZ_CHECK(memchr(name, ',', len) == NULL);
            FUZZ_CHECK(name[0] != ' ' && name[0] != '\t' && name[len - 1] != ' ' &&
                       name[len - 1] != '\t');
        }
        FUZZ_CHECK(++calls <= n);
    }
}

static int inside_a_field(const struct cc_field *f, size_t nf, const char *p, size_t len)
{
    for (size_t i = 0; i < nf; i++)
        if (p >= f[i].value && p + len <= f[i].value + f[i].value_len)
            return 1;
    return 0;
}

static int known_reason(const char *r)
{
    static const char *const reasons[] = {
        "method",        "status",     "request-no-store", "no-store",     "private",
        "authorization", "set-cookie", "vary-star",        "vary-invalid", "uncacheable-status",
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(r, reasons[i]) == 0)
            return 1;
    return 0;
}

static void check_policy(const struct cc_policy *p, const struct cc_response *resp,
                         const struct cc_request *req, const struct cc_rules *rules, int64_t now)
{
    FUZZ_CHECK(p->storable == (p->reason == NULL));
    FUZZ_CHECK(p->reason == NULL || known_reason(p->reason));
    FUZZ_CHECK(p->ttl >= 0 && p->ttl <= CC_DELTA_MAX);
    FUZZ_CHECK(p->age >= 0 && p->age <= CC_DELTA_MAX);
    FUZZ_CHECK(p->swr >= 0 && p->swr <= CC_DELTA_MAX);
    FUZZ_CHECK(p->sie >= 0 && p->sie <= CC_DELTA_MAX);
    FUZZ_CHECK(p->response_time == now);
    FUZZ_CHECK(!p->vary_star || !p->storable);
    FUZZ_CHECK((p->vary != NULL) == (p->vary_lines > 0));
    if (p->vary != NULL)
        FUZZ_CHECK(inside_a_field(resp->fields, resp->nfields, p->vary, p->vary_len));
    FUZZ_CHECK((p->ttl_source == CC_TTL_RULE) == (rules->ttl_override >= 0));
    FUZZ_CHECK(p->ttl_source != CC_TTL_NONE || p->ttl == 0);
    FUZZ_CHECK(p->ttl_source != CC_TTL_HEURISTIC || p->ttl <= CC_HEURISTIC_MAX);
    FUZZ_CHECK(!rules->ignore_origin_cache_control || p->directives == CC_DIR_NONE);
    if (p->no_cache)
        FUZZ_CHECK(cc_ttl_left(p, now) <= 0 && p->swr == 0 && p->sie == 0);
    int get_or_head = (req->method_len == 3 && memcmp(req->method, "GET", 3) == 0) ||
                      (req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0);
    if (!get_or_head)
        FUZZ_CHECK(!p->storable);
    FUZZ_CHECK(cc_current_age(p, now) == p->age);
}

static void fuzz_policy(const struct cc_response *resp, const struct cc_request *req,
                        const struct cc_rules *rules, int64_t now, int64_t raw)
{
    struct cc_policy p, again, relaxed, plain;
    struct cc_rules r2;

    cc_policy_for(resp, req, now, rules, &p);
    check_policy(&p, resp, req, rules, now);

    /* Deterministic. */
    cc_policy_for(resp, req, now, rules, &again);
    FUZZ_CHECK(again.storable == p.storable && again.ttl == p.ttl && again.age == p.age &&
               again.swr == p.swr && again.sie == p.sie && again.reason == p.reason);

    /* Allowing Set-Cookie and Authorization never makes a response unstorable. */
    r2 = *rules;
    r2.allow_set_cookie = true;
    r2.allow_authorization = true;
    cc_policy_for(resp, req, now, &r2, &relaxed);
    check_policy(&relaxed, resp, req, &r2, now);
    FUZZ_CHECK(!p.storable || relaxed.storable);

    /* A ttl_override changes the lifetime, never whether the response is storable. */
    r2 = *rules;
    r2.ttl_override = rules->ttl_override >= 0 ? -1 : 60;
    cc_policy_for(resp, req, now, &r2, &plain);
    check_policy(&plain, resp, req, &r2, now);
    FUZZ_CHECK(plain.storable == p.storable);

    /* The helpers saturate for any clock. */
    FUZZ_CHECK(cc_current_age(&p, raw) >= p.age);
    (void)cc_ttl_left(&p, raw);
    int64_t a = cc_initial_age(raw, now, raw ^ now, now);
    FUZZ_CHECK(a >= 0 && a <= CC_DELTA_MAX);
}

static void fuzz_request(const struct cc_request *req, const struct cc_response *resp)
{
    const struct cc_field *etag = NULL, *lm = NULL;
    struct cc_directives d;
    size_t i = 0;

    for (i = 0; i < resp->nfields; i++) {
        if (etag == NULL && cc_name_eq(resp->fields[i].name, resp->fields[i].name_len, "ETag", 4))
            etag = &resp->fields[i];
        if (lm == NULL &&
            cc_name_eq(resp->fields[i].name, resp->fields[i].name_len, "Last-Modified", 13))
            lm = &resp->fields[i];
    }
    int nm = cc_not_modified(req, etag ? etag->value : NULL, etag ? etag->value_len : 0,
                             lm ? lm->value : NULL, lm ? lm->value_len : 0);
    FUZZ_CHECK(nm == 0 || nm == 1);
    if (!(req->method_len == 3 && memcmp(req->method, "GET", 3) == 0) &&
        !(req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0))
        FUZZ_CHECK(nm == 0);
    int rnc = cc_request_no_cache(req);
    FUZZ_CHECK(rnc == 0 || rnc == 1);
    cc_request_directives(req, &d);
    check_directives(&d, 0);
    FUZZ_CHECK(!d.no_cache || rnc == 1);
    FUZZ_CHECK(cc_is_unsafe_method(req->method, req->method_len) == 0 ||
               cc_is_unsafe_method(req->method, req->method_len) == 1);
    FUZZ_CHECK(!cc_response_invalidates(req->method, req->method_len, resp->status) ||
               cc_is_unsafe_method(req->method, req->method_len));
    for (i = 0; i < resp->nfields; i++) {
        int s = cc_strip_field(resp->fields[i].name, resp->fields[i].name_len);
        FUZZ_CHECK(s == 0 || s == 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cc_field rf[MAX_FIELDS], qf[MAX_FIELDS];
    uint8_t head[PREFIX] = {0};
    const char *text;
    size_t n, nr = 0, nq = 0, i = 0;
    int64_t raw;

    memcpy(head, data, size < PREFIX ? size : PREFIX);
    text = (const char *)data + (size < PREFIX ? size : PREFIX);
    n = size < PREFIX ? 0 : size - PREFIX;
    if (n > MAX_TEXT)
        n = MAX_TEXT;
    memcpy(&raw, head + 4, sizeof(raw));

    /* Every parser over the whole text. */
    fuzz_cache_control(text, n);
    fuzz_targeted(text, n);
    fuzz_date(text, n, raw);
    fuzz_vary(text, n);

    /* Fields, one a line. */
    while (i < n) {
        const char *line = text + i, *nl = memchr(line, '\n', n - i);
        size_t len = nl ? (size_t)(nl - line) : n - i;
        i += len + 1;
        int request = len > 0 && line[0] == '>';
        if (request) {
            line++;
            len--;
        }
        struct cc_field *f =
            request ? (nq < MAX_FIELDS ? &qf[nq++] : NULL) : (nr < MAX_FIELDS ? &rf[nr++] : NULL);
        if (f == NULL)
            continue;
        const char *colon = memchr(line, ':', len);
        f->name = line;
        f->name_len = colon ? (size_t)(colon - line) : len;
        f->value = colon ? colon + 1 : line + len;
        f->value_len = colon ? len - f->name_len - 1 : 0;
        if (!request) {
            fuzz_cache_control(f->value, f->value_len);
            fuzz_targeted(f->value, f->value_len);
            fuzz_date(f->value, f->value_len, raw);
            fuzz_vary(f->value, f->value_len);
        }
    }

    const char *method = methods[(head[1] & 0x7f) % (sizeof(methods) / sizeof(methods[0]))];
    struct cc_response resp = {
        .status = statuses[head[0] % (sizeof(statuses) / sizeof(statuses[0]))],
        .fields = rf,
        .nfields = nr,
    };
    struct cc_request req = {
        .method = method, .method_len = strlen(method), .fields = qf, .nfields = nq};
    struct cc_rules rules;
    cc_rules_init(&rules);
    rules.allow_set_cookie = head[2] & 1;
    rules.allow_authorization = head[2] & 2;
    rules.ignore_origin_cache_control = head[2] & 4;
    if (head[2] & 8)
        rules.ttl_override = (int64_t)(head[2] >> 4) * 100;
    /* Mode 0: the RFC 9110 example date, so fields written for it line up. */
    int64_t now = (head[3] & 1) ? raw : (int64_t)784111777 + (head[3] >> 1);
    /* With the raw clock, request_time is a small absolute time, so response_delay
     * is extreme instead of overflowing here (crash-harness-request-time). */
    if (head[1] & 0x80)
        resp.request_time = (head[3] & 1) ? (int64_t)head[3] : now - (head[3] >> 1);

    fuzz_policy(&resp, &req, &rules, now, raw);
    fuzz_request(&req, &resp);
    return 0;
}
