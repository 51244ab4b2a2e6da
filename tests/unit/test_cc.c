/* SPDX-License-Identifier: Apache-2.0
 *
 * test_cc: caching semantics (cache/cc.c) as tables with one case per rule, each
 * naming the RFC section it pins. The clock is fake: every response is received at
 * NOW, the example date of RFC 9110 ("Sun, 06 Nov 1994 08:49:37 GMT"). Header
 * fields are written as "Name: value" lines and split here into struct cc_field.
 */
#include "cc.h"

#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define NOW ((int64_t)784111777)
#define DATE_NOW "Date: Sun, 06 Nov 1994 08:49:37 GMT\n"
#define EXPIRES_P60 "Expires: Sun, 06 Nov 1994 08:50:37 GMT\n"
#define EXPIRES_M60 "Expires: Sun, 06 Nov 1994 08:48:37 GMT\n"
#define LM_2H "Last-Modified: Sun, 06 Nov 1994 06:49:37 GMT\n" /* heuristic: 720 s */
#define LM_1Y "Last-Modified: Sat, 06 Nov 1993 08:49:37 GMT\n" /* heuristic: capped */
#define AUTH "Authorization: Basic dXNlcjpwYXNz\n"

/* Splits "Name: value\n..." into fields pointing into text. */
static size_t mkfields(const char *text, struct cc_field *out, size_t cap)
{
    size_t n = 0;
    const char *p = text;

    while (p != NULL && *p != '\0' && n < cap) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon != NULL) {
            out[n].name = p;
            out[n].name_len = (size_t)(colon - p);
            out[n].value = colon + 1;
            out[n].value_len = (size_t)(end - colon - 1);
            n++;
        }
        p = eol ? eol + 1 : NULL;
    }
    return n;
}

/* Canonical text of the non-default members, to compare parse results. */
static void describe(const struct cc_directives *d, char *buf, size_t cap)
{
    static const char *const delta_names[] = {"max-age",        "s-maxage",  "swr",
                                              "stale-if-error", "max-stale", "min-fresh"};
    const int64_t deltas[] = {d->max_age,        d->s_maxage,  d->stale_while_revalidate,
                              d->stale_if_error, d->max_stale, d->min_fresh};
    const struct {
        const char *name;
        bool on;
    } flags[] = {
        {"no-store", d->no_store},
        {"no-cache", d->no_cache},
        {"no-cache-fields", d->no_cache_fields},
        {"private", d->is_private},
        {"private-fields", d->private_fields},
        {"public", d->is_public},
        {"must-revalidate", d->must_revalidate},
        {"proxy-revalidate", d->proxy_revalidate},
        {"must-understand", d->must_understand},
        {"immutable", d->immutable},
        {"no-transform", d->no_transform},
        {"only-if-cached", d->only_if_cached},
    };
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(deltas); i++) {
        if (deltas[i] == CC_UNSET)
            continue;
        if (deltas[i] == CC_INVALID)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s=invalid", used ? " " : "",
                                     delta_names[i]);
        else if (deltas[i] == CC_ANY)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s=any", used ? " " : "",
                                     delta_names[i]);
        else
            used += (size_t)snprintf(buf + used, cap - used, "%s%s=%lld", used ? " " : "",
                                     delta_names[i], (long long)deltas[i]);
    }
    for (size_t i = 0; i < ARRAY_LEN(flags); i++)
        if (flags[i].on)
            used +=
                (size_t)snprintf(buf + used, cap - used, "%s%s", used ? " " : "", flags[i].name);
}

/* ---- cc_parse_cache_control ------------------------------------------------------ */

static void test_parse_cache_control(void)
{
    static const struct {
        const char *rule;
        const char *lines[3];
        int rc; /* of the last line */
        const char *want;
    } cases[] = {
        {"5.2.2.1 max-age", {"max-age=60"}, 0, "max-age=60"},
        {"5.2.2.10 s-maxage", {"s-maxage=30"}, 0, "s-maxage=30"},
        {"5.2.2.5 no-store", {"no-store"}, 0, "no-store"},
        {"5.2.2.4 no-cache", {"no-cache"}, 0, "no-cache"},
        {"5.2.2.4 no-cache field list (counts as no-cache)",
         {"no-cache=\"Set-Cookie\""},
         0,
         "no-cache no-cache-fields"},
        {"5.2.2.7 private", {"private"}, 0, "private"},
        {"5.2.2.7 private field list", {"private=\"X-Foo\""}, 0, "private private-fields"},
        {"5.2.2.9 public", {"public"}, 0, "public"},
        {"5.2.2.2 must-revalidate", {"must-revalidate"}, 0, "must-revalidate"},
        {"5.2.2.8 proxy-revalidate", {"proxy-revalidate"}, 0, "proxy-revalidate"},
        {"5.2.2.3 must-understand", {"must-understand"}, 0, "must-understand"},
        {"5.2.2.6 no-transform", {"no-transform"}, 0, "no-transform"},
        {"RFC 8246 immutable", {"immutable"}, 0, "immutable"},
        {"RFC 5861 3 stale-while-revalidate", {"stale-while-revalidate=30"}, 0, "swr=30"},
        {"RFC 5861 4 stale-if-error", {"stale-if-error=600"}, 0, "stale-if-error=600"},
        {"5.2.1.2 max-stale without value", {"max-stale"}, 0, "max-stale=any"},
        {"5.2.1.2 max-stale with value", {"max-stale=30"}, 0, "max-stale=30"},
        {"5.2.1.3 min-fresh", {"min-fresh=10"}, 0, "min-fresh=10"},
        {"5.2.1.7 only-if-cached", {"only-if-cached"}, 0, "only-if-cached"},
        {"5.2 names are case-insensitive",
         {"MAX-AGE=5, No-Store, Public"},
         0,
         "max-age=5 no-store public"},
        {"5.2 quoted-string argument accepted for delta-seconds",
         {"max-age=\"60\""},
         0,
         "max-age=60"},
        {"RFC 9110 5.6.4 quoted-pair unescaped in delta-seconds",
         {"max-age=\"1\\2\""},
         0,
         "max-age=12"},
        {"RFC 9110 5.6.4 commas inside a quoted string do not split",
         {"no-cache=\"no-store, max-age=1\", max-age=60"},
         0,
         "max-age=60 no-cache no-cache-fields"},
        {"RFC 9110 5.6.4 escaped quote inside a quoted string",
         {"private=\"a\\\", no-store\", max-age=9"},
         0,
         "max-age=9 private private-fields"},
        {"RFC 9110 5.6.1 empty list elements", {" , ,max-age=5,,\t,"}, 0, "max-age=5"},
        {"5.2.3 unknown directives ignored",
         {"foo, bar=\"a,b\", baz=1, max-age=3"},
         0,
         "max-age=3"},
        {"4.2.1 repeated directive: first occurrence",
         {"max-age=60, max-age=120"},
         0,
         "max-age=60"},
        {"4.2.1 repeated across field lines: first occurrence",
         {"max-age=60", "max-age=120, public"},
         0,
         "max-age=60 public"},
        {"repeated fields combine",
         {"public", "max-age=60", "must-revalidate"},
         0,
         "max-age=60 public must-revalidate"},
        {"1.2.2 delta-seconds over 2^31 becomes 2^31",
         {"max-age=99999999999999999999999"},
         0,
         "max-age=2147483648"},
        {"1.2.2 2^31 - 1 kept", {"max-age=2147483647"}, 0, "max-age=2147483647"},
        {"4.2.1 non-integer max-age is invalid", {"max-age=1.5"}, 0, "max-age=invalid"},
        {"4.2.1 negative max-age is invalid", {"max-age=-1"}, 0, "max-age=invalid"},
        {"4.2.1 max-age without argument is invalid", {"max-age"}, 0, "max-age=invalid"},
        {"4.2.1 empty argument is malformed", {"max-age="}, -1, "max-age=invalid"},
        {"4.2.1 invalid first occurrence wins", {"max-age=x, max-age=60"}, 0, "max-age=invalid"},
        {"5.2 no whitespace around '='", {"max-age =5"}, -1, "max-age=invalid"},
        {"5.2 junk after a value", {"max-age=5 6, public"}, -1, "max-age=invalid public"},
        {"5.2 unterminated quoted string", {"max-age=\"5"}, -1, "max-age=invalid"},
        {"5.2 malformed no-store still applies (restrictive)", {"no-store=\"x"}, -1, "no-store"},
        {"5.2 malformed public ignored (permissive)", {"public=\"x"}, -1, ""},
        {"5.2 element without a name skipped", {"=5, no-store"}, -1, "no-store"},
        {"5.2 parameters are not part of the syntax", {"max-age=60;x=1"}, -1, "max-age=invalid"},
        {"RFC 9110 5.6.4 control character inside a quoted string",
         {"max-age=\"6\x01\""},
         -1,
         "max-age=invalid"},
        {"5.2 argument of an argument-less directive ignored",
         {"no-store=1, public=yes"},
         0,
         "no-store public"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct cc_directives d;
        char got[512];
        int rc = 0;

        cc_directives_init(&d);
        for (size_t l = 0; l < 3 && cases[i].lines[l] != NULL; l++)
            rc = cc_parse_cache_control(cases[i].lines[l], strlen(cases[i].lines[l]), &d);
        describe(&d, got, sizeof(got));
        CHECK_MSG(rc == cases[i].rc, "RFC 9111 %s: rc %d", cases[i].rule, rc);
        CHECK_MSG(strcmp(got, cases[i].want) == 0, "RFC 9111 %s: got \"%s\", want \"%s\"",
                  cases[i].rule, got, cases[i].want);
    }

    /* A NUL byte is an invalid delta-seconds character, not a terminator. */
    struct cc_directives d;
    cc_directives_init(&d);
    CHECK_INT(cc_parse_cache_control("max-age=6\0", 10, &d), -1);
    CHECK_INT(d.max_age, CC_INVALID);
}

/* ---- cc_parse_targeted ----------------------------------------------------------- */

static void test_parse_targeted(void)
{
    static const struct {
        const char *rule;
        const char *value;
        int rc;
        const char *want; /* unchanged ("") on error */
    } cases[] = {
        {"RFC 9213 2.2 Dictionary", "max-age=60, stale-if-error=30", 0,
         "max-age=60 stale-if-error=30"},
        {"RFC 8941 3.2 bare key is Boolean true", "no-store", 0, "no-store"},
        {"RFC 8941 4.2.2 repeated key: the last one wins", "max-age=60, max-age=120", 0,
         "max-age=120"},
        {"RFC 8941 Boolean false turns a flag off", "private=?0, public", 0, "public"},
        {"RFC 9213 2.2 String value as a field list", "private=\"set-cookie\"", 0,
         "private private-fields"},
        {"RFC 9213 2.1 decimal max-age not consumed", "max-age=1.5", 0, ""},
        {"RFC 9213 2.1 string max-age not consumed", "max-age=\"5\"", 0, ""},
        {"RFC 9213 2.1 negative max-age not consumed", "max-age=-5", 0, ""},
        {"RFC 9213 2.1 no-store with an odd value still applies", "no-store=1", 0, "no-store"},
        {"RFC 8941 parameters ignored", "max-age=60;foo=bar, public;x", 0, "max-age=60 public"},
        {"RFC 8941 inner list accepted, value ignored", "no-cache=(\"a\" \"b\"), max-age=5", 0,
         "max-age=5 no-cache"},
        {"RFC 8941 unknown keys ignored", "none", 0, ""},
        {"RFC 8941 keys are lower case only", "Max-Age=60", -1, ""},
        {"RFC 8941 trailing comma", "max-age=60,", -1, ""},
        {"RFC 8941 15-digit integers at most", "max-age=1234567890123456", -1, ""},
        {"RFC 8941 unterminated string", "private=\"x", -1, ""},
        {"RFC 8941 junk between members", "max-age=60 public", -1, ""},
        {"RFC 8941 byte sequence", "foo=:aGVsbG8=:, max-age=7", 0, "max-age=7"},
        {"RFC 8941 token value", "foo=bar/baz:1, max-age=8", 0, "max-age=8"},
        {"RFC 9213 2.2 empty value: nothing", "   ", 0, ""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct cc_directives d;
        char got[512];

        cc_directives_init(&d);
        int rc = cc_parse_targeted(cases[i].value, strlen(cases[i].value), &d);
        describe(&d, got, sizeof(got));
        CHECK_MSG(rc == cases[i].rc, "%s: rc %d", cases[i].rule, rc);
        CHECK_MSG(strcmp(got, cases[i].want) == 0, "%s: got \"%s\", want \"%s\"", cases[i].rule,
                  got, cases[i].want);
    }
}

/* ---- HTTP-date ------------------------------------------------------------------- */

static void test_http_date(void)
{
    static const struct {
        const char *rule;
        const char *value;
        int rc;
        int64_t t;
    } cases[] = {
        {"5.6.7 IMF-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", 0, NOW},
        {"5.6.7 obsolete RFC 850", "Sunday, 06-Nov-94 08:49:37 GMT", 0, NOW},
        {"5.6.7 obsolete asctime", "Sun Nov  6 08:49:37 1994", 0, NOW},
        {"5.6.7 asctime with a two-digit day", "Sun Nov 06 08:49:37 1994", 0, NOW},
        {"5.6.7 surrounding whitespace", "  Sun, 06 Nov 1994 08:49:37 GMT\t", 0, NOW},
        {"5.6.7 RFC 850 year 69 is 2069", "Wednesday, 06-Nov-69 08:49:37 GMT", 0, 3150953377},
        {"5.6.7 RFC 850 year 70 is 1970", "Friday, 06-Nov-70 08:49:37 GMT", 0, 26729377},
        {"5.6.7 the epoch", "Thu, 01 Jan 1970 00:00:00 GMT", 0, 0},
        {"5.6.7 leap day", "Tue, 29 Feb 2000 00:00:00 GMT", 0, 951782400},
        {"5.6.7 leap second", "Sun, 06 Nov 1994 08:49:60 GMT", 0, NOW + 23},
        {"5.6.7 last representable", "Fri, 31 Dec 9999 23:59:59 GMT", 0, 253402300799},
        {"5.6.7 first representable", "Mon, 01 Jan 0001 00:00:00 GMT", 0, -62135596800},
        {"5.6.7 GMT is case-sensitive", "Sun, 06 Nov 1994 08:49:37 gmt", -1, 0},
        {"5.6.7 only GMT", "Sun, 06 Nov 1994 08:49:37 UTC", -1, 0},
        {"5.6.7 day is two digits in IMF-fixdate", "Sun, 6 Nov 1994 08:49:37 GMT", -1, 0},
        {"5.6.7 month names are case-sensitive", "Sun, 06 nov 1994 08:49:37 GMT", -1, 0},
        {"5.6.7 day names checked", "Snu, 06 Nov 1994 08:49:37 GMT", -1, 0},
        {"5.6.7 31 February", "Thu, 31 Feb 2000 00:00:00 GMT", -1, 0},
        {"5.6.7 1900 is no leap year", "Thu, 29 Feb 1900 00:00:00 GMT", -1, 0},
        {"5.6.7 hour 24", "Sun, 06 Nov 1994 24:00:00 GMT", -1, 0},
        {"5.6.7 year 0000", "Sat, 01 Jan 0000 00:00:00 GMT", -1, 0},
        {"5.6.7 trailing junk", "Sun, 06 Nov 1994 08:49:37 GMTX", -1, 0},
        {"RFC 9111 5.3 \"0\" is not a date", "0", -1, 0},
        {"5.6.7 empty", "", -1, 0},
        {"5.6.7 RFC 850 with a short day name", "Sun, 06-Nov-94 08:49:37 GMT", -1, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t t = -7;
        int rc = cc_parse_http_date(cases[i].value, strlen(cases[i].value), &t);
        CHECK_MSG(rc == cases[i].rc, "RFC 9110 %s: rc %d", cases[i].rule, rc);
        if (cases[i].rc == 0)
            CHECK_MSG(t == cases[i].t, "RFC 9110 %s: %lld", cases[i].rule, (long long)t);
        else
            CHECK_MSG(t == -7, "RFC 9110 %s: *t changed on error", cases[i].rule);
    }

    static const int64_t round_trip[] = {NOW,          0,         -1, 951782400, 253402300799,
                                         -62135596800, 4102444800};
    for (size_t i = 0; i < ARRAY_LEN(round_trip); i++) {
        char buf[CC_HTTP_DATE_SIZE];
        int64_t t = 0;
        CHECK_INT(cc_format_http_date(round_trip[i], buf), 0);
        CHECK_INT(strlen(buf), CC_HTTP_DATE_SIZE - 1);
        CHECK_INT(cc_parse_http_date(buf, strlen(buf), &t), 0);
        CHECK_INT(t, round_trip[i]);
    }
    char buf[CC_HTTP_DATE_SIZE];
    CHECK_INT(cc_format_http_date(NOW, buf), 0);
    CHECK(strcmp(buf, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
    CHECK_INT(cc_format_http_date(253402300800, buf), -1);
    CHECK(buf[0] == '\0');
    CHECK_INT(cc_format_http_date(INT64_MIN, buf), -1);
}

/* ---- Vary ------------------------------------------------------------------------ */

static void test_vary(void)
{
    static const struct {
        const char *rule;
        const char *value;
        const char *want; /* names joined by '|'; "!" for a malformed member */
    } cases[] = {
        {"12.5.5 one name", "Accept-Encoding", "Accept-Encoding"},
        {"12.5.5 list, trimmed, empty members skipped", " accept-encoding , Accept-Language ,, ",
         "accept-encoding|Accept-Language"},
        {"12.5.5 star", "*", "*"},
        {"12.5.5 star among names", "Accept, *", "Accept|*"},
        {"5.6.1 empty value", "", ""},
        {"5.6.1 only commas", ",, ,", ""},
        {"5.6.1 tab as whitespace", "a,\tb", "a|b"},
        {"5.6.2 a name must be a token", "Accept Encoding, Cookie", "!|Cookie"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char got[256] = "";
        size_t used = 0, pos = 0, len;
        const char *name;
        int r, guard = 0;

        while ((r = cc_vary_each(cases[i].value, strlen(cases[i].value), &pos, &name, &len)) != 0 &&
               guard++ < 16) {
            if (r < 0)
                used += (size_t)snprintf(got + used, sizeof(got) - used, "%s!", used ? "|" : "");
            else
                used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%.*s", used ? "|" : "",
                                         (int)len, name);
        }
        CHECK_MSG(strcmp(got, cases[i].want) == 0, "RFC 9110 %s: got \"%s\"", cases[i].rule, got);
    }
    /* RFC 9110 5.1: field names compare case-insensitively */
    CHECK(cc_name_eq("accept-encoding", 15, "Accept-Encoding", 15));
    CHECK(!cc_name_eq("Accept", 6, "Accept-Encoding", 15));
}

/* ---- the policy -------------------------------------------------------------------- */

enum {
    R_SET_COOKIE = 1,
    R_AUTHORIZATION = 2,
    R_IGNORE = 4,
    R_TTL60 = 8,
};

struct policy_case {
    const char *rule;
    int status; /* 0: 200 */
    const char *method;
    const char *resp;
    const char *req;
    int rules;
    int64_t request_time;
    /* expected; omitted members expect 0 / false / NULL */
    bool storable;
    const char *reason;
    int64_t ttl;
    enum cc_ttl_source src;
    enum cc_directive_source dir;
    int64_t age, swr, sie;
    bool mr, nc, val, imm;
    const char *vary;
    unsigned vary_lines;
};

static const struct policy_case policy_cases[] = {
    /* precedence chain, RFC 9111 4.2.1 with RFC 9213 targeted fields first */
    {"RFC 9213 2.1: CDN-Cache-Control over Surrogate-Control, Cache-Control, Expires",
     .resp = DATE_NOW "CDN-Cache-Control: max-age=600\nSurrogate-Control: max-age=300\n"
                      "Cache-Control: s-maxage=200, max-age=100\n" EXPIRES_P60,
     .storable = 1, .ttl = 600, .src = CC_TTL_CDN, .dir = CC_DIR_CDN},
    {"RFC 9213 2.1: s-maxage over max-age inside CDN-Cache-Control",
     .resp = DATE_NOW "CDN-Cache-Control: max-age=600, s-maxage=700\n", .storable = 1, .ttl = 700,
     .src = CC_TTL_CDN, .dir = CC_DIR_CDN, .mr = 1},
    {"Surrogate-Control max-age over Cache-Control s-maxage and Expires",
     .resp = DATE_NOW "Surrogate-Control: max-age=300\n"
                      "Cache-Control: s-maxage=200, max-age=100\n" EXPIRES_P60,
     .storable = 1, .ttl = 300, .src = CC_TTL_SURROGATE, .dir = CC_DIR_SURROGATE},
    {"RFC 9111 5.2.2.10: s-maxage over max-age and Expires",
     .resp = DATE_NOW "Cache-Control: max-age=100, s-maxage=200\n" EXPIRES_P60, .storable = 1,
     .ttl = 200, .src = CC_TTL_S_MAXAGE, .mr = 1},
    {"RFC 9111 5.3: max-age over Expires",
     .resp = DATE_NOW "Cache-Control: max-age=100\n" EXPIRES_P60, .storable = 1, .ttl = 100,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 4.2.1: Expires - Date", .resp = DATE_NOW EXPIRES_P60, .storable = 1, .ttl = 60,
     .src = CC_TTL_EXPIRES},
    {"RFC 9111 4.2.2: heuristic, 10% of Date - Last-Modified", .resp = DATE_NOW LM_2H,
     .storable = 1, .ttl = 720, .src = CC_TTL_HEURISTIC, .val = 1},
    {"RFC 9111 4.2.2: no heuristic with an explicit Expires", .resp = DATE_NOW EXPIRES_P60 LM_2H,
     .storable = 1, .ttl = 60, .src = CC_TTL_EXPIRES, .val = 1},
    {"RFC 9111 4.2.2: heuristic capped at one day", .resp = DATE_NOW LM_1Y, .storable = 1,
     .ttl = CC_HEURISTIC_MAX, .src = CC_TTL_HEURISTIC, .val = 1},
    {"RFC 9111 4.2.2: Last-Modified after Date gives 0",
     .resp = DATE_NOW "Last-Modified: Sun, 06 Nov 1994 09:49:37 GMT\n", .storable = 1,
     .src = CC_TTL_HEURISTIC, .val = 1},
    {"RFC 9111 4.2.2: invalid Last-Modified, no heuristic, no validator",
     .resp = DATE_NOW "Last-Modified: yesterday\n", .storable = 1},
    {"RFC 9111 4.2.1: Expires in the past is stale but storable", .resp = DATE_NOW EXPIRES_M60,
     .storable = 1, .src = CC_TTL_EXPIRES},
    {"RFC 9111 5.3: invalid Expires (\"0\") means already expired, no heuristic",
     .resp = DATE_NOW "Expires: 0\n" LM_2H, .storable = 1, .src = CC_TTL_EXPIRES, .val = 1},
    {"RFC 9111 4.2.1: of two Expires lines the first is used",
     .resp = DATE_NOW EXPIRES_P60 EXPIRES_M60, .storable = 1, .ttl = 60, .src = CC_TTL_EXPIRES},
    {"RFC 9111 1.2.2: Expires - Date over 2^31 becomes 2^31",
     .resp = DATE_NOW "Expires: Fri, 31 Dec 9999 23:59:59 GMT\n", .storable = 1,
     .ttl = CC_DELTA_MAX, .src = CC_TTL_EXPIRES},
    {"RFC 9110 6.6.1: Date missing, the receipt time stands in for Expires", .resp = EXPIRES_P60,
     .storable = 1, .ttl = 60, .src = CC_TTL_EXPIRES},
    {"RFC 9110 6.6.1: Date missing, heuristic from the receipt time", .resp = LM_2H, .storable = 1,
     .ttl = 720, .src = CC_TTL_HEURISTIC, .val = 1},
    {"RFC 9110 6.6.1: invalid Date treated as missing", .resp = "Date: yesterday\n" EXPIRES_P60,
     .storable = 1, .ttl = 60, .src = CC_TTL_EXPIRES},
    {"RFC 9111 4.2.1: Expires - Date uses the origin's clock; 4.2.3 apparent age",
     .resp = "Date: Sun, 06 Nov 1994 07:49:37 GMT\nExpires: Sun, 06 Nov 1994 07:50:37 GMT\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_EXPIRES, .age = 3600},

    /* delta-seconds validity, RFC 9111 1.2.2 and 4.2.1 */
    {"RFC 9111 4.2.1: invalid max-age is stale, Expires not consulted",
     .resp = DATE_NOW "Cache-Control: max-age=soon\n" EXPIRES_P60, .storable = 1,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 4.2.1: invalid s-maxage is stale despite a valid max-age",
     .resp = DATE_NOW "Cache-Control: s-maxage=1.5, max-age=100\n", .storable = 1,
     .src = CC_TTL_S_MAXAGE, .mr = 1},
    {"RFC 9111 1.2.2: max-age over 2^31 becomes 2^31",
     .resp = DATE_NOW "Cache-Control: max-age=100000000000000000000\n", .storable = 1,
     .ttl = CC_DELTA_MAX, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 4.2.1: duplicate max-age, the first is used",
     .resp = DATE_NOW "Cache-Control: max-age=60, max-age=5\n", .storable = 1, .ttl = 60,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9110 5.3: repeated Cache-Control lines combine (public allows Authorization)",
     .resp = DATE_NOW "Cache-Control: public\nCache-Control: max-age=60\n", .req = AUTH,
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9110 5.1 / RFC 9111 5.2: field and directive names are case-insensitive",
     .resp = "date: Sun, 06 Nov 1994 08:49:37 GMT\ncache-control: Max-Age=60, PUBLIC\n",
     .req = "authorization: x\n", .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.2: quoted max-age accepted", .resp = DATE_NOW "Cache-Control: max-age=\"60\"\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9110 5.6.4: a quoted field list with commas does not leak directives",
     .resp = DATE_NOW "Cache-Control: no-cache=\"no-store, private\", max-age=60\n", .storable = 1,
     .ttl = 60, .src = CC_TTL_MAX_AGE, .nc = 1},

    /* storability, RFC 9111 3 */
    {"RFC 9111 3: GET and HEAD only", .method = "POST",
     .resp = DATE_NOW "Cache-Control: max-age=60\n", .reason = "method", .ttl = 60,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 3 / 4.3.5: HEAD is storable (freshens GET entries)", .method = "HEAD",
     .resp = DATE_NOW "Cache-Control: max-age=60\n", .storable = 1, .ttl = 60,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 3: methods are case-sensitive", .method = "get",
     .resp = DATE_NOW "Cache-Control: max-age=60\n", .reason = "method", .ttl = 60,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 3: 1xx is not final", .status = 103, .resp = DATE_NOW "Cache-Control: max-age=60\n",
     .reason = "status", .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 3.3: 206 not supported (ranges are not cached)", .status = 206,
     .resp = DATE_NOW "Cache-Control: max-age=60\n", .reason = "status", .ttl = 60,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 4.3.4: 304 freshens, is not stored", .status = 304,
     .resp = DATE_NOW "Cache-Control: max-age=60\n", .reason = "status", .ttl = 60,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9110 15.1: 404 is heuristically cacheable", .status = 404, .resp = DATE_NOW LM_2H,
     .storable = 1, .ttl = 720, .src = CC_TTL_HEURISTIC, .val = 1},
    {"RFC 9110 15.1: 501 is heuristically cacheable", .status = 501, .resp = DATE_NOW,
     .storable = 1},
    {"RFC 9111 4.2.2: no heuristic for 302", .status = 302, .resp = DATE_NOW LM_2H,
     .reason = "uncacheable-status", .val = 1},
    {"RFC 9111 3: 302 with explicit max-age is storable", .status = 302,
     .resp = DATE_NOW "Cache-Control: max-age=100\n", .storable = 1, .ttl = 100,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 3: 307 without freshness is not", .status = 307, .resp = DATE_NOW,
     .reason = "uncacheable-status"},
    {"RFC 9111 3: 500 without freshness is not", .status = 500,
     .resp = DATE_NOW "Cache-Control: no-cache\n", .reason = "uncacheable-status", .nc = 1},
    {"RFC 9111 3: 503 with Expires is storable", .status = 503, .resp = DATE_NOW EXPIRES_P60,
     .storable = 1, .ttl = 60, .src = CC_TTL_EXPIRES},
    {"RFC 9111 3 / 4.2.2: public makes 302 storable, heuristically fresh", .status = 302,
     .resp = DATE_NOW "Cache-Control: public\n" LM_2H, .storable = 1, .ttl = 720,
     .src = CC_TTL_HEURISTIC, .val = 1},
    {"RFC 9111 4.2: 200 without freshness: storable, stale at once", .resp = DATE_NOW,
     .storable = 1},
    {"RFC 9111 5.2.2.3: must-understand with an unknown status", .status = 418,
     .resp = DATE_NOW "Cache-Control: max-age=60, must-understand, no-store\n", .reason = "status",
     .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.2.2.3: must-understand overrides no-store for a known status",
     .resp = DATE_NOW "Cache-Control: max-age=60, must-understand, no-store\n", .storable = 1,
     .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.2.2.5: no-store", .resp = DATE_NOW "Cache-Control: no-store, max-age=60\n",
     .reason = "no-store", .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.2.2.7: private", .resp = DATE_NOW "Cache-Control: private, max-age=60\n",
     .reason = "private", .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.2.2.7: private with a field list counts as private",
     .resp = DATE_NOW "Cache-Control: private=\"Set-Cookie\", max-age=60\n", .reason = "private",
     .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.2.2.4: no-cache stores, revalidates every use",
     .resp = DATE_NOW "Cache-Control: no-cache, max-age=60\n", .storable = 1, .ttl = 60,
     .src = CC_TTL_MAX_AGE, .nc = 1},
    {"RFC 9111 5.2.2.4: no-cache with a field list counts as no-cache",
     .resp = DATE_NOW "Cache-Control: no-cache=\"X-Foo\", max-age=60\n", .storable = 1, .ttl = 60,
     .src = CC_TTL_MAX_AGE, .nc = 1},
    {"RFC 9111 5.2.1.5: request no-store", .resp = DATE_NOW "Cache-Control: max-age=60\n",
     .req = "Cache-Control: no-store\n", .reason = "request-no-store", .ttl = 60,
     .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.4: Pragma in a response is ignored",
     .resp = DATE_NOW "Pragma: no-cache\nCache-Control: max-age=60\n", .storable = 1, .ttl = 60,
     .src = CC_TTL_MAX_AGE},

    /* revalidation and stale use */
    {"RFC 9111 5.2.2.2: must-revalidate cancels stale-while-revalidate",
     .resp = DATE_NOW "Cache-Control: max-age=60, must-revalidate, stale-while-revalidate=30\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .mr = 1},
    {"RFC 9111 5.2.2.8: proxy-revalidate is must-revalidate for a shared cache",
     .resp = DATE_NOW "Cache-Control: max-age=60, proxy-revalidate, stale-if-error=30\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .mr = 1},
    {"RFC 9111 4.2.4: no-cache cancels stale-if-error",
     .resp = DATE_NOW "Cache-Control: max-age=60, no-cache, stale-if-error=30\n", .storable = 1,
     .ttl = 60, .src = CC_TTL_MAX_AGE, .nc = 1},
    {"RFC 8246: immutable", .resp = DATE_NOW "Cache-Control: max-age=60, immutable\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .imm = 1},
    {"RFC 5861: stale-while-revalidate and stale-if-error from Cache-Control",
     .resp = DATE_NOW "Cache-Control: max-age=60, stale-while-revalidate=30, stale-if-error=600\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .swr = 30, .sie = 600},
    {"RFC 5861 with RFC 9213: from CDN-Cache-Control, Cache-Control ignored",
     .resp = DATE_NOW "CDN-Cache-Control: max-age=60, stale-while-revalidate=10, "
                      "stale-if-error=20\nCache-Control: stale-while-revalidate=99\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_CDN, .dir = CC_DIR_CDN, .swr = 10, .sie = 20},
    {"RFC 5861: from Surrogate-Control, Cache-Control ignored",
     .resp = DATE_NOW "Surrogate-Control: max-age=60, stale-while-revalidate=11, "
                      "stale-if-error=22\nCache-Control: no-cache, stale-if-error=99\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_SURROGATE, .dir = CC_DIR_SURROGATE, .swr = 11,
     .sie = 22},
    {"RFC 5861 / 9111 5.2.2.10: s-maxage's implied proxy-revalidate keeps an explicit swr",
     .resp = DATE_NOW "Cache-Control: s-maxage=1, stale-while-revalidate=59\n", .storable = 1,
     .ttl = 1, .src = CC_TTL_S_MAXAGE, .mr = 1, .swr = 59},
    {"RFC 5861: invalid stale-while-revalidate ignored",
     .resp = DATE_NOW "Cache-Control: max-age=60, stale-while-revalidate=soon\n", .storable = 1,
     .ttl = 60, .src = CC_TTL_MAX_AGE},

    /* targeted fields, RFC 9213 */
    {"RFC 9213 3.1: CDN-Cache-Control \"none\" is used: Cache-Control no-store ignored",
     .resp = DATE_NOW "Cache-Control: no-store\nCDN-Cache-Control: none\n" LM_2H, .storable = 1,
     .ttl = 720, .src = CC_TTL_HEURISTIC, .dir = CC_DIR_CDN, .val = 1},
    {"RFC 9213 2.1: CDN-Cache-Control no-store",
     .resp = DATE_NOW "CDN-Cache-Control: no-store\nCache-Control: public, max-age=60\n",
     .reason = "no-store", .dir = CC_DIR_CDN},
    {"RFC 9213 2.1: CDN-Cache-Control private over Cache-Control public",
     .resp = DATE_NOW "CDN-Cache-Control: private, max-age=60\nCache-Control: public\n",
     .reason = "private", .ttl = 60, .src = CC_TTL_CDN, .dir = CC_DIR_CDN},
    {"RFC 9213 2.2: a CDN-Cache-Control parse error voids the field",
     .resp = DATE_NOW "CDN-Cache-Control: max-age=60,\nCache-Control: max-age=100\n", .storable = 1,
     .ttl = 100, .src = CC_TTL_MAX_AGE},
    {"RFC 9213 2.2: one bad CDN-Cache-Control line voids them all",
     .resp = DATE_NOW "CDN-Cache-Control: max-age=60\nCDN-Cache-Control: Max-Age=6\n"
                      "Cache-Control: max-age=100\n",
     .storable = 1, .ttl = 100, .src = CC_TTL_MAX_AGE},
    {"RFC 9213 2.1: an empty CDN-Cache-Control is ignored",
     .resp = DATE_NOW "CDN-Cache-Control:  \nCache-Control: max-age=100\n", .storable = 1,
     .ttl = 100, .src = CC_TTL_MAX_AGE},
    {"RFC 9213 2.1: decimal max-age not consumed, the field still decides",
     .resp = DATE_NOW "CDN-Cache-Control: max-age=1.5\nCache-Control: max-age=100\n", .storable = 1,
     .dir = CC_DIR_CDN},
    {"RFC 8941 4.2.2: repeated CDN-Cache-Control lines, the last max-age wins",
     .resp = DATE_NOW "CDN-Cache-Control: max-age=60\nCDN-Cache-Control: max-age=120\n",
     .storable = 1, .ttl = 120, .src = CC_TTL_CDN, .dir = CC_DIR_CDN},
    {"Surrogate-Control: freshness from max-age only (s-maxage there ignored)",
     .resp = DATE_NOW "Surrogate-Control: s-maxage=50\nCache-Control: max-age=100\n", .storable = 1,
     .ttl = 100, .src = CC_TTL_MAX_AGE},
    {"Surrogate-Control no-store wins over Cache-Control",
     .resp = DATE_NOW "Surrogate-Control: no-store\nCache-Control: public, max-age=60\n",
     .reason = "no-store", .dir = CC_DIR_SURROGATE},
    {"Surrogate-Control used: Cache-Control private ignored (Fastly-style split)",
     .resp = DATE_NOW "Surrogate-Control: max-age=3600\nCache-Control: private, max-age=0\n",
     .storable = 1, .ttl = 3600, .src = CC_TTL_SURROGATE, .dir = CC_DIR_SURROGATE},

    /* Authorization, RFC 9111 3.5 */
    {"RFC 9111 3.5: Authorization makes a response unstorable",
     .resp = DATE_NOW "Cache-Control: max-age=60\n", .req = AUTH, .reason = "authorization",
     .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 3.5: ... unless public", .resp = DATE_NOW "Cache-Control: public, max-age=60\n",
     .req = AUTH, .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 3.5: ... unless s-maxage", .resp = DATE_NOW "Cache-Control: s-maxage=60\n",
     .req = AUTH, .storable = 1, .ttl = 60, .src = CC_TTL_S_MAXAGE, .mr = 1},
    {"RFC 9111 3.5: ... unless must-revalidate",
     .resp = DATE_NOW "Cache-Control: must-revalidate, max-age=60\n", .req = AUTH, .storable = 1,
     .ttl = 60, .src = CC_TTL_MAX_AGE, .mr = 1},
    {"RFC 9111 3.5: ... or the route allows it", .resp = DATE_NOW "Cache-Control: max-age=60\n",
     .req = AUTH, .rules = R_AUTHORIZATION, .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE},

    /* Set-Cookie, Fastly/Varnish-style default */
    {"Set-Cookie makes a response unstorable",
     .resp = DATE_NOW "Cache-Control: max-age=60\nSet-Cookie: id=1\n", .reason = "set-cookie",
     .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"Set-Cookie: the route may allow it",
     .resp = DATE_NOW "Cache-Control: max-age=60\nSet-Cookie: id=1\n", .rules = R_SET_COOKIE,
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE},

    /* Vary, RFC 9111 4.1 */
    {"RFC 9111 4.1: Vary * never matches, never stored",
     .resp = DATE_NOW "Cache-Control: max-age=60\nVary: *\n", .reason = "vary-star", .ttl = 60,
     .src = CC_TTL_MAX_AGE, .vary = "*", .vary_lines = 1},
    {"RFC 9111 4.1: Vary * in a second line",
     .resp = DATE_NOW "Cache-Control: max-age=60\nVary: Accept\nVary: Cookie, *\n",
     .reason = "vary-star", .ttl = 60, .src = CC_TTL_MAX_AGE, .vary = "Accept", .vary_lines = 2},
    {"RFC 9110 12.5.5: Vary lines reported for the key",
     .resp = DATE_NOW "Cache-Control: max-age=60\nVary:  Accept-Encoding, Accept-Language \n"
                      "Vary:\nVary: Cookie\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .vary = "Accept-Encoding, Accept-Language",
     .vary_lines = 2},
    {"RFC 9110 12.5.5: a Vary member that is not a token",
     .resp = DATE_NOW "Cache-Control: max-age=60\nVary: Accept Encoding\n",
     .reason = "vary-invalid", .ttl = 60, .src = CC_TTL_MAX_AGE, .vary = "Accept Encoding",
     .vary_lines = 1},

    /* Age, RFC 9111 4.2.3 */
    {"RFC 9111 4.2.3: Age plus response_delay",
     .resp = DATE_NOW "Age: 10\nCache-Control: max-age=60\n", .request_time = NOW - 2,
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .age = 12},
    {"RFC 9111 4.2.3: apparent age wins when larger",
     .resp = "Date: Sun, 06 Nov 1994 08:47:57 GMT\nAge: 10\nCache-Control: max-age=60\n",
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .age = 100},
    {"RFC 9111 4.2.3: a Date in the future gives no apparent age",
     .resp = "Date: Sun, 06 Nov 1994 08:51:17 GMT\nCache-Control: max-age=60\n", .storable = 1,
     .ttl = 60, .src = CC_TTL_MAX_AGE},
    {"RFC 9111 5.1: an invalid Age is ignored",
     .resp = DATE_NOW "Age: -5\nCache-Control: max-age=60\n", .request_time = NOW - 2,
     .storable = 1, .ttl = 60, .src = CC_TTL_MAX_AGE, .age = 2},
    {"RFC 9111 1.2.2: Age over 2^31 becomes 2^31",
     .resp = DATE_NOW "Age: 99999999999999999999\nCache-Control: max-age=60\n", .storable = 1,
     .ttl = 60, .src = CC_TTL_MAX_AGE, .age = CC_DELTA_MAX},

    /* route rules */
    {"rule: ttl_override replaces the origin's lifetime",
     .resp = DATE_NOW "Cache-Control: max-age=5\n", .rules = R_TTL60, .storable = 1, .ttl = 60,
     .src = CC_TTL_RULE},
    {"rule: ttl_override does not make no-store storable",
     .resp = DATE_NOW "Cache-Control: no-store\n", .rules = R_TTL60, .reason = "no-store",
     .ttl = 60, .src = CC_TTL_RULE},
    {"rule: ttl_override does not make a 500 storable", .status = 500, .resp = DATE_NOW,
     .rules = R_TTL60, .reason = "uncacheable-status", .ttl = 60, .src = CC_TTL_RULE},
    {"rule: ignore_origin_cache_control, then heuristics",
     .resp = DATE_NOW "Cache-Control: no-store\nCDN-Cache-Control: no-store\n" EXPIRES_P60 LM_2H,
     .rules = R_IGNORE, .storable = 1, .ttl = 720, .src = CC_TTL_HEURISTIC, .dir = CC_DIR_NONE,
     .val = 1},
    {"rule: ignore_origin_cache_control with ttl_override",
     .resp = DATE_NOW "Cache-Control: private\n", .rules = R_IGNORE | R_TTL60, .storable = 1,
     .ttl = 60, .src = CC_TTL_RULE, .dir = CC_DIR_NONE},
    {"RFC 9110 8.8.3: an ETag is a validator",
     .resp = DATE_NOW "ETag: \"v1\"\nCache-Control: max-age=60\n", .storable = 1, .ttl = 60,
     .src = CC_TTL_MAX_AGE, .val = 1},
};

static void check_policy_case(const struct policy_case *c)
{
    struct cc_field rf[16], qf[16];
    struct cc_response resp = {.status = c->status ? c->status : 200, .fields = rf};
    const char *method = c->method ? c->method : "GET";
    struct cc_request req = {.method = method, .method_len = strlen(method), .fields = qf};
    struct cc_rules rules;
    struct cc_policy p;

    resp.nfields = mkfields(c->resp, rf, ARRAY_LEN(rf));
    resp.request_time = c->request_time;
    req.nfields = mkfields(c->req, qf, ARRAY_LEN(qf));
    cc_rules_init(&rules);
    rules.allow_set_cookie = c->rules & R_SET_COOKIE;
    rules.allow_authorization = c->rules & R_AUTHORIZATION;
    rules.ignore_origin_cache_control = c->rules & R_IGNORE;
    if (c->rules & R_TTL60)
        rules.ttl_override = 60;
    cc_policy_for(&resp, &req, NOW, &rules, &p);

    CHECK_MSG(p.storable == c->storable, "%s: storable %d (%s)", c->rule, p.storable,
              p.reason ? p.reason : "-");
    CHECK_MSG((p.reason == NULL && c->reason == NULL) ||
                  (p.reason && c->reason && strcmp(p.reason, c->reason) == 0),
              "%s: reason %s", c->rule, p.reason ? p.reason : "NULL");
    CHECK_MSG(p.ttl == c->ttl, "%s: ttl %lld", c->rule, (long long)p.ttl);
    CHECK_MSG(p.ttl_source == c->src, "%s: ttl_source %d", c->rule, (int)p.ttl_source);
    CHECK_MSG(p.directives == c->dir, "%s: directives %d", c->rule, (int)p.directives);
    CHECK_MSG(p.age == c->age, "%s: age %lld", c->rule, (long long)p.age);
    CHECK_MSG(p.swr == c->swr && p.sie == c->sie, "%s: swr %lld sie %lld", c->rule,
              (long long)p.swr, (long long)p.sie);
    CHECK_MSG(p.must_revalidate == c->mr, "%s: must_revalidate %d", c->rule, p.must_revalidate);
    CHECK_MSG(p.no_cache == c->nc, "%s: no_cache %d", c->rule, p.no_cache);
    CHECK_MSG(p.has_validator == c->val, "%s: has_validator %d", c->rule, p.has_validator);
    CHECK_MSG(p.immutable == c->imm, "%s: immutable %d", c->rule, p.immutable);
    CHECK_MSG(p.vary_star == (c->reason && strcmp(c->reason, "vary-star") == 0), "%s: vary_star %d",
              c->rule, p.vary_star);
    if (c->vary == NULL)
        CHECK_MSG(p.vary == NULL && p.vary_lines == 0, "%s: vary set", c->rule);
    else
        CHECK_MSG(p.vary != NULL && p.vary_len == strlen(c->vary) &&
                      memcmp(p.vary, c->vary, p.vary_len) == 0 && p.vary_lines == c->vary_lines,
                  "%s: vary \"%.*s\" lines %u", c->rule, (int)p.vary_len, p.vary ? p.vary : "",
                  p.vary_lines);
    CHECK_MSG(p.response_time == NOW, "%s: response_time", c->rule);
}

static void test_policy(void)
{
    for (size_t i = 0; i < ARRAY_LEN(policy_cases); i++)
        check_policy_case(&policy_cases[i]);

    /* rules == NULL means no overrides */
    struct cc_field f[2];
    struct cc_response resp = {.status = 200, .fields = f};
    struct cc_request req = {.method = "GET", .method_len = 3};
    struct cc_policy p;
    resp.nfields = mkfields(DATE_NOW "Cache-Control: max-age=60\n", f, 2);
    cc_policy_for(&resp, &req, NOW, NULL, &p);
    CHECK(p.storable && p.ttl == 60);
}

/* ---- ages and remaining lifetime, RFC 9111 4.2.3 ------------------------------------ */

static void test_age(void)
{
    static const struct {
        const char *rule;
        int64_t age_value, date, request_time, response_time, want;
    } cases[] = {
        {"4.2.3 nothing", 0, NOW, NOW, NOW, 0},
        {"4.2.3 corrected_age_value = Age + response_delay", 10, NOW, NOW - 2, NOW, 12},
        {"4.2.3 apparent_age", 0, NOW - 100, NOW, NOW, 100},
        {"4.2.3 apparent_age is never negative", 0, NOW + 100, NOW, NOW, 0},
        {"4.2.3 a negative response_delay counts as 0", 5, NOW, NOW + 50, NOW, 5},
        {"1.2.2 saturates at 2^31", INT64_MAX, NOW, INT64_MIN, NOW, CC_DELTA_MAX},
        {"1.2.2 saturates with extreme clocks", 0, INT64_MIN, 0, INT64_MAX, CC_DELTA_MAX},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int64_t got = cc_initial_age(cases[i].age_value, cases[i].date, cases[i].request_time,
                                     cases[i].response_time);
        CHECK_MSG(got == cases[i].want, "RFC 9111 %s: %lld", cases[i].rule, (long long)got);
    }

    /* current_age = corrected_initial_age + resident_time; fresh while ttl > age */
    struct cc_policy p = {.ttl = 60, .age = 12, .response_time = NOW};
    CHECK_INT(cc_current_age(&p, NOW + 10), 22);
    CHECK_INT(cc_ttl_left(&p, NOW + 10), 38);
    CHECK_INT(cc_ttl_left(&p, NOW + 100), -52);
    CHECK_INT(cc_current_age(&p, NOW - 10), 12); /* clock went backwards */
    p.no_cache = true;                           /* RFC 9111 5.2.2.4 */
    CHECK_INT(cc_ttl_left(&p, NOW + 10), 0);
    CHECK_INT(cc_ttl_left(&p, NOW + 100), -52);
}

/* ---- conditional requests, RFC 9110 13 ---------------------------------------------- */

static void test_not_modified(void)
{
    static const struct {
        const char *rule;
        const char *method;
        const char *req;
        const char *etag, *lm;
        int want;
    } cases[] = {
        {"13.1.2 strong tags match", "GET", "If-None-Match: \"a\"\n", "\"a\"", NULL, 1},
        {"13.1.2 weak comparison: W/ on the request", "GET", "If-None-Match: W/\"a\"\n", "\"a\"",
         NULL, 1},
        {"13.1.2 weak comparison: W/ on the stored tag", "GET", "If-None-Match: \"a\"\n", "W/\"a\"",
         NULL, 1},
        {"13.1.2 list", "GET", "If-None-Match: \"x\", W/\"y\" ,\"a\"\n", "\"a\"", NULL, 1},
        {"13.1.2 list across field lines", "GET", "If-None-Match: \"x\"\nIf-None-Match: \"a\"\n",
         "\"a\"", NULL, 1},
        {"13.1.2 no match", "GET", "If-None-Match: \"x\", \"y\"\n", "\"a\"", NULL, 0},
        {"13.1.2 tags are case-sensitive", "GET", "If-None-Match: \"A\"\n", "\"a\"", NULL, 0},
        {"13.1.2 \"*\" matches a stored response", "GET", "If-None-Match: *\n", "\"a\"", NULL, 1},
        {"13.1.2 \"*\" matches without an ETag", "HEAD", "If-None-Match: *\n", NULL, NULL, 1},
        {"8.8.3 commas inside a tag", "GET", "If-None-Match: \"a,b\"\n", "\"a,b\"", NULL, 1},
        {"8.8.3 lower-case w/ is malformed", "GET", "If-None-Match: w/\"a\"\n", "\"a\"", NULL, 0},
        {"8.8.3 DEL is not an etagc", "GET", "If-None-Match: \"a\x7f\"\n", "\"a\x7f\"", NULL, 0},
        {"8.8.3 unquoted tag is malformed", "GET", "If-None-Match: a\n", "\"a\"", NULL, 0},
        {"8.8.3 unquoted stored tag never matches", "GET", "If-None-Match: \"a\"\n", "a", NULL, 0},
        {"13.2.2 If-None-Match decides over If-Modified-Since (no match)", "GET",
         "If-None-Match: \"x\"\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\n", "\"a\"",
         "Sun, 06 Nov 1994 06:49:37 GMT", 0},
        {"13.2.2 If-None-Match decides over If-Modified-Since (match)", "GET",
         "If-None-Match: \"a\"\nIf-Modified-Since: Sun, 06 Nov 1994 05:49:37 GMT\n", "\"a\"",
         "Sun, 06 Nov 1994 06:49:37 GMT", 1},
        {"13.1.3 not modified since", "GET", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\n",
         NULL, "Sun, 06 Nov 1994 06:49:37 GMT", 1},
        {"13.1.3 equal dates are not modified", "GET",
         "If-Modified-Since: Sun, 06 Nov 1994 06:49:37 GMT\n", NULL,
         "Sun, 06 Nov 1994 06:49:37 GMT", 1},
        {"13.1.3 modified since", "GET", "If-Modified-Since: Sun, 06 Nov 1994 05:49:37 GMT\n", NULL,
         "Sun, 06 Nov 1994 06:49:37 GMT", 0},
        {"13.1.3 obsolete date formats accepted", "GET",
         "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\n", NULL,
         "Sun, 06 Nov 1994 06:49:37 GMT", 1},
        {"13.1.3 invalid date ignored", "GET", "If-Modified-Since: yesterday\n", NULL,
         "Sun, 06 Nov 1994 06:49:37 GMT", 0},
        {"13.1.3 more than one member ignored", "GET",
         "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\n"
         "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\n",
         NULL, "Sun, 06 Nov 1994 06:49:37 GMT", 0},
        {"13.1.3 ignored for other methods", "POST",
         "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\n", NULL,
         "Sun, 06 Nov 1994 06:49:37 GMT", 0},
        {"13.1.2 only GET/HEAD get 304", "DELETE", "If-None-Match: \"a\"\n", "\"a\"", NULL, 0},
        {"13.1.3 no Last-Modified stored", "GET",
         "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\n", "\"a\"", NULL, 0},
        {"13.2.2 no conditional fields", "GET", "Accept: */*\n", "\"a\"",
         "Sun, 06 Nov 1994 06:49:37 GMT", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct cc_field f[8];
        struct cc_request req = {.method = cases[i].method,
                                 .method_len = strlen(cases[i].method),
                                 .fields = f,
                                 .nfields = mkfields(cases[i].req, f, ARRAY_LEN(f))};
        int got = cc_not_modified(&req, cases[i].etag, cases[i].etag ? strlen(cases[i].etag) : 0,
                                  cases[i].lm, cases[i].lm ? strlen(cases[i].lm) : 0);
        CHECK_MSG(got == cases[i].want, "RFC 9110 %s: %d", cases[i].rule, got);
    }
    CHECK(cc_etag_weak_eq("W/\"1\"", 5, " \"1\" ", 5));
    CHECK(!cc_etag_weak_eq("\"1\"", 3, "", 0));
}

/* ---- request side, methods, stripped fields ---------------------------------------- */

static void test_request_helpers(void)
{
    static const struct {
        const char *rule;
        const char *req;
        int want;
    } no_cache[] = {
        {"RFC 9111 5.2.1.4 Cache-Control: no-cache", "Cache-Control: no-cache\n", 1},
        {"RFC 9111 5.4 Pragma: no-cache without Cache-Control", "Pragma: no-cache\n", 1},
        {"RFC 9111 5.4 Pragma names are case-insensitive", "Pragma: No-Cache\n", 1},
        {"RFC 9111 5.4 Pragma ignored with Cache-Control",
         "Cache-Control: max-stale\nPragma: no-cache\n", 0},
        {"RFC 9111 5.2.1 other request directives", "Cache-Control: max-age=0, max-stale\n", 0},
        {"no fields", "", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(no_cache); i++) {
        struct cc_field f[4];
        struct cc_request req = {.method = "GET", .method_len = 3, .fields = f};
        req.nfields = mkfields(no_cache[i].req, f, ARRAY_LEN(f));
        CHECK_MSG(cc_request_no_cache(&req) == no_cache[i].want, "%s", no_cache[i].rule);
    }

    /* RFC 9111 5.2.1: request directives */
    struct cc_field f[2];
    struct cc_request req = {.method = "GET", .method_len = 3, .fields = f};
    struct cc_directives d;
    req.nfields = mkfields("Cache-Control: max-stale, min-fresh=5\n"
                           "Cache-Control: only-if-cached, max-age=0\n",
                           f, 2);
    cc_request_directives(&req, &d);
    CHECK(d.max_stale == CC_ANY && d.min_fresh == 5 && d.only_if_cached && d.max_age == 0);

    static const struct {
        const char *method;
        int unsafe;
    } methods[] = {
        {"GET", 0}, {"HEAD", 0},   {"OPTIONS", 0}, {"TRACE", 0}, {"POST", 1},
        {"PUT", 1}, {"DELETE", 1}, {"PATCH", 1},   {"get", 1},   {"BREW", 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(methods); i++)
        CHECK_MSG(cc_is_unsafe_method(methods[i].method, strlen(methods[i].method)) ==
                      methods[i].unsafe,
                  "RFC 9110 9.2.1 %s", methods[i].method);

    static const struct {
        const char *method;
        int status, want;
    } inval[] = {
        {"POST", 200, 1}, {"POST", 303, 1}, {"DELETE", 204, 1}, {"POST", 404, 0},
        {"PUT", 500, 0},  {"GET", 200, 0},  {"PATCH", 100, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(inval); i++)
        CHECK_MSG(cc_response_invalidates(inval[i].method, strlen(inval[i].method),
                                          inval[i].status) == inval[i].want,
                  "RFC 9111 4.4 %s %d", inval[i].method, inval[i].status);

    static const struct {
        const char *name;
        int strip;
    } strip[] = {
        {"CDN-Cache-Control", 1}, {"cdn-cache-control", 1}, {"Surrogate-Control", 1},
        {"Cache-Control", 0},     {"Surrogate-Key", 0},     {"CDN-Cache-Control2", 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(strip); i++)
        CHECK_MSG(cc_strip_field(strip[i].name, strlen(strip[i].name)) == strip[i].strip,
                  "RFC 9213 targeted field %s", strip[i].name);

    CHECK(strcmp(cc_strerror(CC_OK), "ok") == 0);
    CHECK(cc_strerror(CC_E_SYNTAX) != NULL && cc_strerror(-99) != NULL);
}

int main(void)
{
    test_parse_cache_control();
    test_parse_targeted();
    test_http_date();
    test_vary();
    test_policy();
    test_age();
    test_not_modified();
    test_request_helpers();
    return check_report("test_cc");
}
