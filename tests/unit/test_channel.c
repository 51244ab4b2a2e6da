/* SPDX-License-Identifier: Apache-2.0
 *
 * test_channel: client channel classification (proxy/channel.c). Each case loads
 * a `channels` config with cfg_load, then classifies request heads parsed by
 * h1_parse_request, or built by hand the way the HTTP/2 layer fills struct h1_msg
 * (lower-case names, one Cookie field per cookie, bytes h1 would refuse). The
 * user_agent automaton is also checked against a naive search on generated input.
 */
#include "cfg.h"
#include "channel.h"
#include "h1.h"
#include "util.h"

#include "check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------ */

#define MINIMAL "listen = { { addr = \"127.0.0.1:0\" } }\n"

/* The brief's example: every kind of condition. */
#define ALL_KINDS                                                                                  \
    MINIMAL                                                                                        \
    "channels = {\n"                                                                               \
    "  { name = \"app\",    header = { [\"X-Channel\"] = \"app\" } },\n"                           \
    "  { name = \"mobile\", header = { [\"X-Channel\"] = \"mobile\" } },\n"                        \
    "  { name = \"web\",    header = { [\"X-Channel\"] = \"web\" } },\n"                           \
    "  { name = \"mobile\", client_hint_mobile = true },\n"                                        \
    "  { name = \"mobile\", user_agent = \"Android|iPhone|Mobile\" },\n"                           \
    "  { name = \"beta\",   cookie = { bucket = \"b\" } },\n"                                      \
    "  { name = \"app\",    query = { channel = \"app\" } },\n"                                    \
    "  { name = \"web\" },\n"                                                                      \
    "}\n"

/* Writes `text` to a temporary file and loads it; NULL (and a failed check) when
 * the config is refused. */
static struct cfg *load(const char *text)
{
    char path[] = "/tmp/tessera-channel-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return NULL;
    size_t n = strlen(text);
    CHECK(write(fd, text, n) == (ssize_t)n);
    close(fd);
    char *errs = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&errs, &len);
    struct cfg *c = cfg_load(path, err);
    fclose(err);
    CHECK_MSG(c != NULL, "%s", errs);
    free(errs);
    unlink(path);
    return c;
}

static const struct h1_limits limits = {.max_head = 1 << 16, .max_uri = 8192, .max_headers = 100};

/* Classifies an HTTP/1.1 head written with "\n" line ends (made "\r\n" here). */
static const char *classify_h1(const struct cfg *c, const char *head, const char *query)
{
    static char buf[1 << 16];
    static struct h1_msg m;
    size_t o = 0;
    for (const char *p = head; *p && o + 2 < sizeof(buf); p++) {
        if (*p == '\n')
            buf[o++] = '\r';
        buf[o++] = *p;
    }
    int r = h1_parse_request(buf, o, &limits, &m);
    CHECK_MSG(r == H1_OK, "%s: %s", head, h1_strerror(r));
    if (r != H1_OK)
        return NULL;
    return channel_classify(c, &m, query, query ? strlen(query) : 0);
}

/* Classifies fields given as name, value, ..., NULL, set straight into the struct
 * like the HTTP/2 layer does. */
static const char *classify_fields(const struct cfg *c, const char *query, ...)
{
    static struct h1_msg m;
    va_list ap;
    memset(&m, 0, sizeof(m));
    va_start(ap, query);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        struct h1_header *h = &m.headers[m.num_headers++];
        h->name = name;
        h->name_len = strlen(name);
        h->value = value;
        h->value_len = strlen(value);
    }
    va_end(ap);
    return channel_classify(c, &m, query, query ? strlen(query) : 0);
}

#define CHECK_CHANNEL(got, want)                                                                   \
    do {                                                                                           \
        const char *g_ = (got);                                                                    \
        CHECK_MSG(g_ != NULL && strcmp(g_, (want)) == 0, "got %s, want %s", g_ ? g_ : "(null)",    \
                  (want));                                                                         \
    } while (0)

/* ---- every condition kind ----------------------------------------------------- */

static void test_kinds(void)
{
    static const struct {
        const char *fields; /* header lines after the request line */
        const char *query;
        const char *want;
    } cases[] = {
        /* nothing: the default */
        {"", NULL, "web"},
        {"", "", "web"},
        /* header: any case of the name, the exact value */
        {"X-Channel: app\n", NULL, "app"},
        {"x-channel: mobile\n", NULL, "mobile"},
        {"X-CHANNEL: web\n", NULL, "web"},
        {"X-Channel:app\n", NULL, "app"},
        {"X-Channel:   app   \n", NULL, "app"}, /* the parser trims white space */
        {"X-Channel: App\n", NULL, "web"},
        {"X-Channel: apps\n", NULL, "web"},
        {"X-Channel: app, web\n", NULL, "web"},
        {"X-Channel: tv\n", NULL, "web"},
        {"X-Channels: app\n", NULL, "web"},
        /* the first field line with the name decides */
        {"X-Channel: mobile\nX-Channel: app\n", NULL, "mobile"},
        {"X-Channel: tv\nX-Channel: app\n", NULL, "web"},
        /* Sec-CH-UA-Mobile: an RFC 8941 Boolean item */
        {"Sec-CH-UA-Mobile: ?1\n", NULL, "mobile"},
        {"sec-ch-ua-mobile: ?1\n", NULL, "mobile"},
        {"Sec-CH-UA-Mobile: ?0\n", NULL, "web"},
        {"Sec-CH-UA-Mobile: ?1;a\n", NULL, "mobile"},
        {"Sec-CH-UA-Mobile: ?1;a=1;b=\"x\\\"y\";c=?0;d=tok/en:x;e=:aGk=:;f=-1.5\n", NULL, "mobile"},
        {"Sec-CH-UA-Mobile: ?1; a=1\n", NULL, "mobile"},
        {"Sec-CH-UA-Mobile: ?1;A=1\n", NULL, "web"},                /* keys are lower case */
        {"Sec-CH-UA-Mobile: ?1;a=\n", NULL, "web"},                 /* a value must follow '=' */
        {"Sec-CH-UA-Mobile: ?1;a=1.2345\n", NULL, "web"},           /* at most 3 decimals */
        {"Sec-CH-UA-Mobile: ?1;a=1234567890123456\n", NULL, "web"}, /* 16 digits */
        {"Sec-CH-UA-Mobile: ?1;a=\"x\n", NULL, "web"},              /* open string */
        {"Sec-CH-UA-Mobile: ?1;a=:a*:\n", NULL, "web"},             /* not base64 */
        {"Sec-CH-UA-Mobile: ?1, ?1\n", NULL, "web"},                /* a list, not an item */
        {"Sec-CH-UA-Mobile: ?1 x\n", NULL, "web"},
        {"Sec-CH-UA-Mobile: ?10\n", NULL, "web"},
        {"Sec-CH-UA-Mobile: 1\n", NULL, "web"},
        {"Sec-CH-UA-Mobile: ?true\n", NULL, "web"},
        {"Sec-CH-UA-Mobile: \"?1\"\n", NULL, "web"},
        {"Sec-CH-UA-Mobile:\n", NULL, "web"},
        {"Sec-CH-UA-Mobile: ?1\nSec-CH-UA-Mobile: ?1\n", NULL, "web"}, /* joined: "?1, ?1" */
        /* User-Agent: literal alternatives, any case */
        {"User-Agent: Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36\n", NULL,
         "mobile"},
        {"User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)\n", NULL, "mobile"},
        {"User-Agent: IPHONE\n", NULL, "mobile"},
        {"user-agent: xxandroidxx\n", NULL, "mobile"},
        {"User-Agent: mobile\n", NULL, "mobile"},
        {"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0\n", NULL, "web"},
        {"User-Agent: Androi\n", NULL, "web"},
        {"User-Agent: iPhon e\n", NULL, "web"},
        {"User-Agent: \n", NULL, "web"},
        /* Cookie: the first cookie of the name, exact value, DQUOTEs dropped */
        {"Cookie: bucket=b\n", NULL, "beta"},
        {"Cookie: a=1; bucket=b; c=2\n", NULL, "beta"},
        {"Cookie: a=1;bucket=b\n", NULL, "beta"},
        {"Cookie: bucket=\"b\"\n", NULL, "beta"},
        {"Cookie: bucket = b \n", NULL, "beta"},
        {"Cookie: bucket=a; bucket=b\n", NULL, "web"},
        {"Cookie: bucket=b; bucket=a\n", NULL, "beta"},
        {"Cookie: bucket\n", NULL, "web"},
        {"Cookie: bucket; bucket=b\n", NULL, "beta"}, /* no '=': names no cookie */
        {"Cookie: bucket=\n", NULL, "web"},
        {"Cookie: bucket=bb\n", NULL, "web"},
        {"Cookie: Bucket=b\n", NULL, "web"}, /* cookie names are case-sensitive */
        {"Cookie: xbucket=b\n", NULL, "web"},
        {"Cookie: bucket=\"b\n", NULL, "web"},
        {"Cookie: ;;; bucket=b;;\n", NULL, "beta"},
        {"Cookie: a=1\nCookie: bucket=b\n", NULL, "beta"},
        /* query: the first parameter of the name, both sides percent-decoded */
        {"", "channel=app", "app"},
        {"", "x=1&channel=app&y=2", "app"},
        {"", "channel=%61pp", "app"},
        {"", "chan%6eel=%61%70%70", "app"},
        {"", "channel=APP", "web"},
        {"", "channel=ap", "web"},
        {"", "channel=app2", "web"},
        {"", "channel", "web"},
        {"", "channel=", "web"},
        {"", "channel=app&channel=web", "app"},
        {"", "channel=web&channel=app", "web"},
        {"", "channel=%zzapp&channel=app", "web"},
        {"", "channel=app%", "web"},
        {"", "channel=app%6", "web"},
        {"", "channel=a+pp", "web"},
        {"", "chan%zznel=app&channel=app", "app"}, /* an undecodable name is another name */
        {"", "&&channel=app&&", "app"},
        {"", "xchannel=app", "web"},
        /* first match wins, in file order */
        {"X-Channel: web\nUser-Agent: Android\n", NULL, "web"},
        {"User-Agent: Android\nX-Channel: app\n", NULL, "app"},
        {"X-Channel: tv\nUser-Agent: Android\n", NULL, "mobile"},
        {"Sec-CH-UA-Mobile: ?0\nUser-Agent: iPhone\n", NULL, "mobile"},
        {"User-Agent: iPhone\nCookie: bucket=b\n", NULL, "mobile"},
        {"Cookie: bucket=b\n", "channel=app", "beta"},
        {"X-Channel: mobile\n", "channel=app", "mobile"},
    };
    struct cfg *c = load(ALL_KINDS);
    if (c == NULL)
        return;
    CHECK_INT(c->nchannels, 8);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char head[2048];
        snprintf(head, sizeof(head), "GET / HTTP/1.1\nHost: a\n%s\n", cases[i].fields);
        const char *got = classify_h1(c, head, cases[i].query);
        CHECK_MSG(got != NULL && strcmp(got, cases[i].want) == 0,
                  "case %zu (%s?%s): got %s, want %s", i, cases[i].fields,
                  cases[i].query ? cases[i].query : "", got ? got : "(null)", cases[i].want);
    }
    cfg_unref(c);
}

/* ---- names -------------------------------------------------------------------- */

static void test_names(void)
{
    struct cfg *c = load(ALL_KINDS);
    if (c == NULL)
        return;
    /* distinct, in order of first use; the result is one of them, by pointer */
    CHECK_INT(c->channel_names.n, 4);
    if (c->channel_names.n == 4) {
        CHECK(strcmp(c->channel_names.items[0], "app") == 0);
        CHECK(strcmp(c->channel_names.items[1], "mobile") == 0);
        CHECK(strcmp(c->channel_names.items[2], "web") == 0);
        CHECK(strcmp(c->channel_names.items[3], "beta") == 0);
        CHECK(classify_fields(c, "channel=app", NULL) == c->channel_names.items[0]);
        CHECK(classify_fields(c, NULL, "x-channel", "app", NULL) == c->channel_names.items[0]);
        CHECK(classify_fields(c, NULL, "user-agent", "Mobile", NULL) == c->channel_names.items[1]);
        CHECK(classify_fields(c, NULL, "x-channel", "web", NULL) == c->channel_names.items[2]);
        CHECK(classify_fields(c, NULL, NULL) == c->channel_names.items[2]);
    }
    CHECK_INT(c->channels[0].kind, CFG_CHANNEL_HEADER);
    CHECK_INT(c->channels[3].kind, CFG_CHANNEL_CLIENT_HINT_MOBILE);
    CHECK_INT(c->channels[4].kind, CFG_CHANNEL_USER_AGENT);
    CHECK_INT(c->channels[5].kind, CFG_CHANNEL_COOKIE);
    CHECK_INT(c->channels[6].kind, CFG_CHANNEL_QUERY);
    CHECK_INT(c->channels[7].kind, CFG_CHANNEL_DEFAULT);
    CHECK_INT(c->channels[6].name_idx, 0);
    CHECK_INT(c->channels[7].name_idx, 2);
    cfg_unref(c);

    /* no channels at all: one default channel, "web" */
    c = load(MINIMAL);
    if (c == NULL)
        return;
    CHECK_INT(c->nchannels, 1);
    CHECK_INT(c->channel_names.n, 1);
    CHECK_INT(c->channels[0].kind, CFG_CHANNEL_DEFAULT);
    CHECK(c->channel_ua == NULL);
    CHECK_CHANNEL(
        classify_fields(c, "channel=app", "x-channel", "app", "user-agent", "Android", NULL),
        "web");
    CHECK(strcmp(channel_vary(c), "") == 0);
    cfg_unref(c);

    /* a default of another name */
    c = load(MINIMAL "channels = { { name = \"app\", query = { channel = \"app\" } },\n"
                     "  { name = \"desktop-2\" } }\n");
    if (c == NULL)
        return;
    CHECK_CHANNEL(classify_fields(c, "channel=app", NULL), "app");
    CHECK_CHANNEL(classify_fields(c, "channel=web", NULL), "desktop-2");
    CHECK(strcmp(channel_vary(c), "") == 0); /* the query is in every cache key */
    cfg_unref(c);
}

/* ---- HTTP/2-shaped heads ------------------------------------------------------ */

static void test_h2_fields(void)
{
    struct cfg *c = load(ALL_KINDS);
    if (c == NULL)
        return;
    /* one Cookie field per cookie (RFC 9113 8.2.3) */
    CHECK_CHANNEL(
        classify_fields(c, NULL, "cookie", "a=1", "cookie", "bucket=b", "cookie", "c=3", NULL),
        "beta");
    CHECK_CHANNEL(classify_fields(c, NULL, "cookie", "bucket=x", "cookie", "bucket=b", NULL),
                  "web");
    CHECK_CHANNEL(
        classify_fields(c, NULL, "cookie", "a=1", "x-other", "1", "cookie", "bucket=b", NULL),
        "beta");
    /* lower-case names, as HTTP/2 sends them */
    CHECK_CHANNEL(classify_fields(c, NULL, "x-channel", "mobile", NULL), "mobile");
    CHECK_CHANNEL(classify_fields(c, NULL, "sec-ch-ua-mobile", "?1", NULL), "mobile");
    /* RFC 8941 allows only SP around an item; h1 trims OWS, HTTP/2 may not */
    CHECK_CHANNEL(classify_fields(c, NULL, "sec-ch-ua-mobile", "  ?1  ", NULL), "mobile");
    CHECK_CHANNEL(classify_fields(c, NULL, "sec-ch-ua-mobile", "\t?1", NULL), "web");
    /* values that HTTP/1.1 would refuse do no harm */
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", "\x01\xff\x80iphone\x7f", NULL), "mobile");
    CHECK_CHANNEL(classify_fields(c, NULL, "x-channel", "app\r\n", NULL), "web");
    CHECK_CHANNEL(classify_fields(c, NULL, "cookie", "bucket=b\r\n", NULL), "web");
    static const char nul_ua[] = "And\0roid";
    static struct h1_msg m;
    memset(&m, 0, sizeof(m));
    m.headers[0] = (struct h1_header){"user-agent", 10, nul_ua, sizeof(nul_ua) - 1};
    m.num_headers = 1;
    CHECK_CHANNEL(channel_classify(c, &m, NULL, 0), "web");
    /* a query given with its length only: no NUL after it */
    const char q[] = "channel=appXYZ";
    CHECK_CHANNEL(channel_classify(c, &m, q, 11), "app");
    CHECK_CHANNEL(channel_classify(c, &m, q, 10), "web");
    cfg_unref(c);
}

/* ---- User-Agents -------------------------------------------------------------- */

static void test_long_user_agents(void)
{
    struct cfg *c = load(ALL_KINDS);
    if (c == NULL)
        return;
    static char ua[8192];
    /* the alternative ends on the last byte scanned: found */
    memset(ua, 'x', sizeof(ua));
    memcpy(ua + CHANNEL_UA_SCAN_MAX - 7, "Android", 7);
    ua[sizeof(ua) - 1] = '\0';
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", ua, NULL), "mobile");
    /* one byte later it straddles the cap: not seen */
    memset(ua, 'x', sizeof(ua));
    memcpy(ua + CHANNEL_UA_SCAN_MAX - 6, "Android", 7);
    ua[sizeof(ua) - 1] = '\0';
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", ua, NULL), "web");
    /* a long value through the HTTP/1.1 parser too */
    char head[9000];
    memset(ua, 'y', 4000);
    memcpy(ua + 4000, "iPhone", 7);
    snprintf(head, sizeof(head), "GET / HTTP/1.1\nHost: a\nUser-Agent: %s\n\n", ua);
    CHECK_CHANNEL(classify_h1(c, head, NULL), "web");
    memcpy(ua + 10, "iPhone", 6);
    snprintf(head, sizeof(head), "GET / HTTP/1.1\nHost: a\nUser-Agent: %s\n\n", ua);
    CHECK_CHANNEL(classify_h1(c, head, NULL), "mobile");
    /* near misses repeated: the automaton never backs up */
    size_t o = 0;
    while (o + 8 < CHANNEL_UA_SCAN_MAX - 7) {
        memcpy(ua + o, "AndroiAn", 8);
        o += 8;
    }
    memcpy(ua + o, "android", 8);
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", ua, NULL), "mobile");
    ua[o] = '\0';
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", ua, NULL), "web");
    /* the first User-Agent line is the one searched */
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", "curl/8", "user-agent", "Android", NULL),
                  "web");
    cfg_unref(c);
}

/* Alternatives that overlap, contain each other or end inside another: the
 * classic Aho-Corasick corner cases, and a rule that only a failure link finds. */
static void test_overlapping_alternatives(void)
{
    struct cfg *c =
        load(MINIMAL "channels = {\n"
                     "  { name = \"a\", user_agent = \"xbcy|hers\" },\n"
                     "  { name = \"b\", user_agent = \"bc|she\" },\n"
                     "  { name = \"c\", user_agent = \"he|his\" },\n"
                     "  { name = \"d\", user_agent = \"aaab|\\195\\169t\\195\\169\" },\n"
                     "  { name = \"z\" },\n"
                     "}\n");
    if (c == NULL)
        return;
    static const struct {
        const char *ua, *want;
    } cases[] = {
        {"xbcy", "a"},   {"xbcz", "b"}, {"XBCY", "a"},
        {"ushers", "a"}, {"ushe", "b"}, {"uhe", "c"},
        {"hi", "z"},     {"this", "c"}, {"aaaab", "d"},
        {"aaaaab", "d"}, {"aab", "z"},  {"\xc3\xa9t\xc3\xa9", "d"},
        {"ETE", "z"},    {"", "z"},     {"\xc3\x89t\xc3\x89", "z"}, /* only ASCII folds */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *got = classify_fields(c, NULL, "User-Agent", cases[i].ua, NULL);
        CHECK_MSG(got != NULL && strcmp(got, cases[i].want) == 0, "\"%s\": got %s, want %s",
                  cases[i].ua, got ? got : "(null)", cases[i].want);
    }
    CHECK(strcmp(channel_vary(c), "User-Agent") == 0);
    cfg_unref(c);
}

/* The automaton against a naive search, on generated rules and User-Agents over a
 * small alphabet (so that alternatives overlap a lot). Deterministic. */
static uint32_t rng = 12345;
static unsigned next_rand(unsigned n)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 16) % n;
}

static int naive_contains(const char *ua, size_t n, const char *alt)
{
    size_t al = strlen(alt);
    for (size_t i = 0; i + al <= n; i++) {
        size_t k = 0;
        while (k < al) {
            char ch = ua[i + k];
            if (ch >= 'A' && ch <= 'Z')
                ch = (char)(ch - 'A' + 'a');
            if (ch != alt[k])
                break;
            k++;
        }
        if (k == al)
            return 1;
    }
    return 0;
}

static void test_user_agent_differential(void)
{
    for (int round = 0; round < 40; round++) {
        char text[4096], alts[8][16][8];
        size_t nrules = 1 + next_rand(6), nalts[8];
        int o = snprintf(text, sizeof(text), MINIMAL "channels = {\n");
        for (size_t r = 0; r < nrules; r++) {
            nalts[r] = 1 + next_rand(4);
            o += snprintf(text + o, sizeof(text) - (size_t)o,
                          "  { name = \"r%zu\", user_agent = \"", r);
            for (size_t a = 0; a < nalts[r]; a++) {
                size_t len = 1 + next_rand(5);
                for (size_t k = 0; k < len; k++)
                    alts[r][a][k] = "abc"[next_rand(3)];
                alts[r][a][len] = '\0';
                o += snprintf(text + o, sizeof(text) - (size_t)o, "%s%s", a ? "|" : "", alts[r][a]);
            }
            o += snprintf(text + o, sizeof(text) - (size_t)o, "\" },\n");
        }
        snprintf(text + o, sizeof(text) - (size_t)o, "  { name = \"none\" },\n}\n");
        struct cfg *c = load(text);
        if (c == NULL)
            return;
        for (int t = 0; t < 50; t++) {
            char ua[64];
            size_t n = next_rand(sizeof(ua) - 1);
            for (size_t k = 0; k < n; k++)
                ua[k] = "abcABx"[next_rand(6)];
            ua[n] = '\0';
            const char *want = "none";
            char name[32];
            for (size_t r = 0; r < nrules && strcmp(want, "none") == 0; r++) {
                for (size_t a = 0; a < nalts[r]; a++) {
                    if (naive_contains(ua, n, alts[r][a])) {
                        snprintf(name, sizeof(name), "r%zu", r);
                        want = name;
                        break;
                    }
                }
            }
            const char *got = classify_fields(c, NULL, "user-agent", ua, NULL);
            CHECK_MSG(got != NULL && strcmp(got, want) == 0, "round %d, \"%s\": got %s, want %s",
                      round, ua, got ? got : "(null)", want);
        }
        cfg_unref(c);
    }
}

/* 31 user_agent rules: every bit of the rule set but the default's. */
static void test_many_rules(void)
{
    char text[4096];
    int o = snprintf(text, sizeof(text), MINIMAL "channels = {\n");
    for (int i = 0; i < 31; i++)
        o += snprintf(text + o, sizeof(text) - (size_t)o,
                      "  { name = \"c%d\", user_agent = \"tok%02d|x%dy\" },\n", i, i, i);
    snprintf(text + o, sizeof(text) - (size_t)o, "  { name = \"none\" },\n}\n");
    struct cfg *c = load(text);
    if (c == NULL)
        return;
    CHECK_INT(c->nchannels, 32);
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", "a TOK30 b", NULL), "c30");
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", "x30y tok00", NULL), "c0");
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", "x7y", NULL), "c7");
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", "tok31", NULL), "none");
    CHECK_INT(c->channel_names.n, 32);
    cfg_unref(c);
}

/* ---- header names and Vary ---------------------------------------------------- */

static void test_header_names_and_vary(void)
{
    struct cfg *c = load(ALL_KINDS);
    if (c == NULL)
        return;
    CHECK_MSG(strcmp(channel_vary(c), "X-Channel, Sec-CH-UA-Mobile, User-Agent, Cookie") == 0, "%s",
              channel_vary(c));
    cfg_unref(c);

    /* a name written in lower case matches any case; Vary keeps the first spelling
     * and names a field once */
    c = load(MINIMAL "channels = {\n"
                     "  { name = \"app\", header = { [\"x-client\"] = \"app\" } },\n"
                     "  { name = \"tv\", header = { [\"X-CLIENT\"] = \"tv\" } },\n"
                     "  { name = \"kiosk\", header = { Host = \"kiosk.example\" } },\n"
                     "  { name = \"mobile\", user_agent = \"Mobile\" },\n"
                     "  { name = \"mobile\", header = { [\"user-agent\"] = \"okhttp/4\" } },\n"
                     "  { name = \"beta\", cookie = { b = \"1\" } },\n"
                     "  { name = \"beta\", cookie = { beta = \"yes\" } },\n"
                     "  { name = \"web\" },\n"
                     "}\n");
    if (c == NULL)
        return;
    CHECK_MSG(strcmp(channel_vary(c), "x-client, Host, User-Agent, Cookie") == 0, "%s",
              channel_vary(c));
    CHECK_CHANNEL(classify_fields(c, NULL, "X-Client", "app", NULL), "app");
    CHECK_CHANNEL(classify_fields(c, NULL, "X-CLIENT", "app", NULL), "app");
    CHECK_CHANNEL(classify_fields(c, NULL, "x-client", "tv", NULL), "tv");
    CHECK_CHANNEL(classify_fields(c, NULL, "x-client", "TV", NULL), "web");
    CHECK_CHANNEL(classify_fields(c, NULL, "host", "kiosk.example", NULL), "kiosk");
    CHECK_CHANNEL(classify_fields(c, NULL, "User-Agent", "okhttp/4", NULL), "mobile");
    CHECK_CHANNEL(classify_fields(c, NULL, "cookie", "beta=yes", NULL), "beta");
    CHECK_CHANNEL(classify_h1(c, "GET / HTTP/1.1\nHost: kiosk.example\n\n", NULL), "kiosk");
    /* a header name that only starts like the configured one */
    CHECK_CHANNEL(classify_fields(c, NULL, "x-clien", "app", "x-client-2", "app", NULL), "web");
    cfg_unref(c);
}

/* ---- the demo configuration --------------------------------------------------- */

static void test_demo(void)
{
    char root[1024], path[1100];
    snprintf(root, sizeof(root), "%s", __FILE__);
    char *cut = strstr(root, "tests/unit/test_channel.c");
    if (cut == NULL)
        return;
    *cut = '\0';
    snprintf(path, sizeof(path), "%sconf/tessera.lua", root);
    struct cfg *c = cfg_load(path, stderr);
    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK(strcmp(channel_vary(c), "X-Channel, Sec-CH-UA-Mobile, User-Agent") == 0);
    CHECK_CHANNEL(classify_fields(c, NULL, NULL), "web");
    CHECK_CHANNEL(classify_fields(c, NULL, "x-channel", "app", "user-agent", "Android", NULL),
                  "app");
    CHECK_CHANNEL(classify_fields(c, NULL, "x-channel", "web", "sec-ch-ua-mobile", "?1", NULL),
                  "web");
    CHECK_CHANNEL(classify_fields(c, NULL, "x-channel", "mobile", NULL), "mobile");
    CHECK_CHANNEL(classify_fields(c, NULL, "sec-ch-ua-mobile", "?1", NULL), "mobile");
    CHECK_CHANNEL(classify_fields(c, NULL, "sec-ch-ua-mobile", "?0", "user-agent",
                                  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)", NULL),
                  "mobile");
    CHECK_CHANNEL(classify_fields(c, NULL, "user-agent", "Mozilla/5.0 (Windows NT 10.0)", NULL),
                  "web");
    CHECK_CHANNEL(classify_fields(c, "channel=app", NULL), "web");
    cfg_unref(c);
}

int main(void)
{
    test_kinds();
    test_names();
    test_h2_fields();
    test_long_user_agents();
    test_overlapping_alternatives();
    test_user_agent_differential();
    test_many_rules();
    test_header_names_and_vary();
    test_demo();
    return check_report("test_channel");
}
