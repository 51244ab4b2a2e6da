/* SPDX-License-Identifier: Apache-2.0
 *
 * channel: client channel classification (channel.h) over a generation's
 * `channels` rules (cfg.h, checked by cfg.c).
 *
 * The user_agent alternatives of all rules are compiled, once per generation, into
 * one Aho-Corasick automaton turned into a DFA: a state per trie node, a column
 * per byte class (each byte some alternative holds, ASCII upper case folded onto
 * lower case, and one class for every other byte), and per state the set of rules
 * (a bit per channels[] index, at most 32) one of whose alternatives ends there.
 * A request's User-Agent is then scanned once, with one table lookup per byte,
 * however many rules and alternatives there are. Sizes: at most 1 + 32 * 16 * 64
 * states (fits uint16_t), times the classes in use; a few KB for real rules.
 *
 * Ownership: struct channel_ua and the Vary string belong to the generation
 * (cfg_load calls channel__cfg_init, cfg_free channel__cfg_fini); classification
 * only reads them. Thread: any.
 */
#include "channel.h"

#include "cfg.h"
#include "h1.h"
#include "util.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct channel_ua {
    unsigned magic;
#define CHANNEL_UA_MAGIC 0x43485541u
    size_t nstates;
    size_t ncls;            /* columns of next[] */
    unsigned char cls[256]; /* byte -> class; 0: no alternative holds it */
    uint16_t *next;         /* [state * ncls + class] -> state */
    uint32_t *out;          /* [state]: bit i set when a rule channels[i] matched */
};

/* ---- the user_agent automaton ------------------------------------------------- */

static struct channel_ua *ua_build(const struct cfg *c)
{
    size_t total = 1;
    for (size_t i = 0; i < c->nchannels; i++) {
        const struct cfg_channel *ch = &c->channels[i];
        for (size_t j = 0; ch->kind == CFG_CHANNEL_USER_AGENT && j < ch->user_agent.n; j++)
            total += strlen(ch->user_agent.items[j]);
    }
    if (total == 1)
        return NULL;
    /* the schema's bounds (32 rules, 16 alternatives of 64 bytes) keep both true */
    assert(c->nchannels <= 32 && total <= UINT16_MAX);

    struct channel_ua *ua = xcalloc(1, sizeof(*ua));
    ua->magic = CHANNEL_UA_MAGIC;
    ua->ncls = 1;
    for (size_t i = 0; i < c->nchannels; i++) {
        const struct cfg_channel *ch = &c->channels[i];
        for (size_t j = 0; ch->kind == CFG_CHANNEL_USER_AGENT && j < ch->user_agent.n; j++)
            for (const unsigned char *p = (const unsigned char *)ch->user_agent.items[j]; *p; p++)
                if (ua->cls[*p] == 0)
                    ua->cls[*p] = (unsigned char)ua->ncls++;
    }
    assert(ua->ncls <= 256); /* upper case and control bytes never occur in an alternative */
    for (int ch = 'A'; ch <= 'Z'; ch++)
        ua->cls[ch] = ua->cls[ch - 'A' + 'a'];

    /* The trie: a child of 0 means none (the root is nobody's child). */
    ua->next = xcalloc(total * ua->ncls, sizeof(*ua->next));
    ua->out = xcalloc(total, sizeof(*ua->out));
    ua->nstates = 1;
    for (size_t i = 0; i < c->nchannels; i++) {
        const struct cfg_channel *ch = &c->channels[i];
        for (size_t j = 0; ch->kind == CFG_CHANNEL_USER_AGENT && j < ch->user_agent.n; j++) {
            size_t s = 0;
            for (const unsigned char *p = (const unsigned char *)ch->user_agent.items[j]; *p; p++) {
                uint16_t *t = &ua->next[s * ua->ncls + ua->cls[*p]];
                if (*t == 0)
                    *t = (uint16_t)ua->nstates++;
                s = *t;
            }
            ua->out[s] |= UINT32_C(1) << i;
        }
    }

    /* Breadth first, so that a state's failure state (a shorter suffix) is complete
     * before it: missing edges become the failure state's edges, and a state also
     * reports what its failure state reports. */
    uint16_t *fail = xcalloc(ua->nstates, sizeof(*fail));
    uint16_t *queue = xcalloc(ua->nstates, sizeof(*queue));
    size_t head = 0, tail = 0;
    for (size_t k = 0; k < ua->ncls; k++)
        if (ua->next[k] != 0)
            queue[tail++] = ua->next[k]; /* depth 1: fails to the root */
    while (head < tail) {
        size_t s = queue[head++];
        ua->out[s] |= ua->out[fail[s]];
        uint16_t *row = &ua->next[s * ua->ncls];
        const uint16_t *frow = &ua->next[(size_t)fail[s] * ua->ncls];
        for (size_t k = 0; k < ua->ncls; k++) {
            if (row[k] != 0) {
                fail[row[k]] = frow[k];
                queue[tail++] = row[k];
            } else {
                row[k] = frow[k];
            }
        }
    }
    free(queue);
    free(fail);
    return ua;
}

/* The rules (bits of channels[] indexes) with an alternative in v[0..n). */
static uint32_t ua_scan(const struct channel_ua *ua, const char *v, size_t n)
{
    uint32_t hits = 0;
    size_t s = 0;
    if (n > CHANNEL_UA_SCAN_MAX)
        n = CHANNEL_UA_SCAN_MAX;
    for (size_t i = 0; i < n; i++) {
        s = ua->next[s * ua->ncls + ua->cls[(unsigned char)v[i]]];
        hits |= ua->out[s];
    }
    return hits;
}

/* ---- Vary --------------------------------------------------------------------- */

static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* Appends ", name" to buf[0..*len) unless the list holds it in some case. */
static void vary_add(char *buf, size_t *len, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < *len;) {
        const char *comma = memchr(buf + i, ',', *len - i);
        size_t e = comma ? (size_t)(comma - buf) : *len;
        if (ieq(buf + i, e - i, name, nlen))
            return;
        i = e + 2;
    }
    if (*len > 0) {
        memcpy(buf + *len, ", ", 2);
        *len += 2;
    }
    memcpy(buf + *len, name, nlen);
    *len += nlen;
    buf[*len] = '\0';
}

static const char *field_of(const struct cfg_channel *ch)
{
    switch (ch->kind) {
    case CFG_CHANNEL_HEADER: return ch->header.name;
    case CFG_CHANNEL_CLIENT_HINT_MOBILE: return "Sec-CH-UA-Mobile";
    case CFG_CHANNEL_USER_AGENT: return "User-Agent";
    case CFG_CHANNEL_COOKIE: return "Cookie";
    case CFG_CHANNEL_QUERY: /* the query is part of the URL, hence of every cache key */
    case CFG_CHANNEL_DEFAULT: break;
    }
    return NULL;
}

void channel__cfg_init(struct cfg *c)
{
    assert(c->magic == CFG_MAGIC && c->nchannels >= 1);
    assert(c->channels[c->nchannels - 1].kind == CFG_CHANNEL_DEFAULT);
    size_t cap = 1;
    for (size_t i = 0; i < c->nchannels; i++) {
        const char *f = field_of(&c->channels[i]);
        cap += f != NULL ? strlen(f) + 2 : 0;
    }
    size_t len = 0;
    c->channel_vary = xmalloc(cap);
    c->channel_vary[0] = '\0';
    for (size_t i = 0; i < c->nchannels; i++) {
        const char *f = field_of(&c->channels[i]);
        if (f != NULL)
            vary_add(c->channel_vary, &len, f);
    }
    c->channel_ua = ua_build(c);
}

void channel__cfg_fini(struct cfg *c)
{
    if (c->channel_ua != NULL) {
        assert(c->channel_ua->magic == CHANNEL_UA_MAGIC);
        c->channel_ua->magic = 0;
        free(c->channel_ua->next);
        free(c->channel_ua->out);
        free(c->channel_ua);
        c->channel_ua = NULL;
    }
    free(c->channel_vary);
    c->channel_vary = NULL;
}

const char *channel_vary(const struct cfg *cfg)
{
    assert(cfg->magic == CFG_MAGIC);
    return cfg->channel_vary != NULL ? cfg->channel_vary : "";
}

/* ---- conditions --------------------------------------------------------------- */

static const struct h1_header *first_field(const struct h1_msg *m, const char *name, size_t nlen)
{
    for (size_t i = 0; i < m->num_headers; i++)
        if (ieq(m->headers[i].name, m->headers[i].name_len, name, nlen))
            return &m->headers[i];
    return NULL;
}

static bool header_is(const struct h1_msg *m, const struct cfg_channel_pair *p)
{
    const struct h1_header *h = first_field(m, p->name, p->name_len);
    return h != NULL && h->value_len == p->value_len &&
           memcmp(h->value, p->value, p->value_len) == 0;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Cookie pairs as RFC 6265 4.2.1 writes them, "a=1; b=2", parsed leniently like
 * RFC 6265 5.4 (white space around names and values is dropped); a pair without
 * '=' names no cookie. The first cookie of the name decides, over every Cookie
 * field line in order (RFC 9113 8.2.3 lets HTTP/2 clients send one per cookie). */
static bool cookie_is(const struct h1_msg *m, const struct cfg_channel_pair *p)
{
    for (size_t i = 0; i < m->num_headers; i++) {
        const struct h1_header *h = &m->headers[i];
        if (!ieq(h->name, h->name_len, "cookie", 6))
            continue;
        const char *s = h->value, *end = h->value + h->value_len;
        while (s < end) {
            const char *semi = memchr(s, ';', (size_t)(end - s));
            const char *e = semi ? semi : end;
            const char *eq = memchr(s, '=', (size_t)(e - s));
            const char *next = semi ? semi + 1 : end;
            if (eq != NULL) {
                const char *ns = s, *ne = eq, *vs = eq + 1, *ve = e;
                while (ns < ne && is_ows(*ns))
                    ns++;
                while (ne > ns && is_ows(ne[-1]))
                    ne--;
                if ((size_t)(ne - ns) == p->name_len && memcmp(ns, p->name, p->name_len) == 0) {
                    while (vs < ve && is_ows(*vs))
                        vs++;
                    while (ve > vs && is_ows(ve[-1]))
                        ve--;
                    if (ve - vs >= 2 && vs[0] == '"' && ve[-1] == '"') {
                        vs++;
                        ve--;
                    }
                    return (size_t)(ve - vs) == p->value_len &&
                           memcmp(vs, p->value, p->value_len) == 0;
                }
            }
            s = next;
        }
    }
    return false;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* True when s[0..n), percent-decoded, is exactly want[0..wlen). Decodes on the fly:
 * nothing is copied. */
static bool decoded_eq(const char *s, size_t n, const char *want, size_t wlen)
{
    size_t j = 0;
    for (size_t i = 0; i < n; j++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = n - i >= 3 ? hex_value((unsigned char)s[i + 1]) : -1;
            int lo = n - i >= 3 ? hex_value((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            i++;
        }
        if (j == wlen || (unsigned char)want[j] != c)
            return false;
    }
    return j == wlen;
}

/* The first parameter of the name decides; "name" alone has the value "". */
static bool query_is(const char *q, size_t n, const struct cfg_channel_pair *p)
{
    const char *s = q, *end = q + n;
    if (q == NULL)
        return false;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *ne = eq ? eq : e;
        if (decoded_eq(s, (size_t)(ne - s), p->name, p->name_len))
            return eq != NULL && decoded_eq(eq + 1, (size_t)(e - eq - 1), p->value, p->value_len);
        s = amp ? amp + 1 : end;
    }
    return false;
}

/* ---- RFC 8941 items, for Sec-CH-UA-Mobile ------------------------------------ */

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_lcalpha(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_alpha(unsigned char c)
{
    return is_lcalpha(c) || (c >= 'A' && c <= 'Z');
}

static bool is_tchar(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 8941 4.2.4: an Integer or a Decimal. */
static bool sf_number(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    size_t nd = 0, fd = 0;
    bool dot = false;
    if (p < end && *p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return false;
    while (p < end) {
        if (is_digit(*p)) {
            *(dot ? &fd : &nd) += 1;
        } else if (!dot && *p == '.') {
            if (nd > 12)
                return false;
            dot = true;
        } else {
            break;
        }
        p++;
        if (dot ? nd + 1 + fd > 16 : nd > 15)
            return false;
    }
    if (dot && (fd == 0 || fd > 3))
        return false;
    *pp = p;
    return true;
}

/* RFC 8941 4.2.3.1: any Bare Item. */
static bool sf_bare_item(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    if (p == end)
        return false;
    if (*p == '-' || is_digit(*p))
        return sf_number(pp, end);
    if (*p == '"') { /* 4.2.5 String */
        for (p++; p < end; p++) {
            if (*p == '\\') {
                if (++p == end || (*p != '"' && *p != '\\'))
                    return false;
            } else if (*p == '"') {
                *pp = p + 1;
                return true;
            } else if (*p < 0x20 || *p > 0x7e) {
                return false;
            }
        }
        return false;
    }
    if (is_alpha(*p) || *p == '*') { /* 4.2.6 Token */
        for (p++; p < end && (is_tchar(*p) || *p == ':' || *p == '/'); p++)
            ;
        *pp = p;
        return true;
    }
    if (*p == ':') { /* 4.2.7 Byte Sequence */
        for (p++; p < end && *p != ':'; p++)
            if (!is_alpha(*p) && !is_digit(*p) && *p != '+' && *p != '/' && *p != '=')
                return false;
        if (p == end)
            return false;
        *pp = p + 1;
        return true;
    }
    if (*p == '?' && end - p >= 2 && (p[1] == '0' || p[1] == '1')) { /* 4.2.8 Boolean */
        *pp = p + 2;
        return true;
    }
    return false;
}

/* True when v[0..n) is an RFC 8941 Item (4.2) whose bare item is the Boolean true,
 * with any well-formed Parameters (4.2.3.2): "?1", "?1;a", "?1;q=0.5". */
static bool sf_is_true(const char *v, size_t n)
{
    const unsigned char *p = (const unsigned char *)v, *end = p + n;
    while (p < end && *p == ' ')
        p++;
    if (end - p < 2 || p[0] != '?' || p[1] != '1')
        return false;
    p += 2;
    while (p < end && *p == ';') {
        for (p++; p < end && *p == ' '; p++)
            ;
        if (p == end || !(is_lcalpha(*p) || *p == '*'))
            return false;
        for (p++; p < end && (is_lcalpha(*p) || is_digit(*p) || strchr("_-.*", *p) != NULL); p++)
            ;
        if (p < end && *p == '=') {
            p++;
            if (!sf_bare_item(&p, end))
                return false;
        }
    }
    while (p < end && *p == ' ')
        p++;
    return p == end;
}

/* Several field lines are one comma-joined value (RFC 8941 4.2), which is never a
 * single Item: no match. */
static bool client_hint_mobile(const struct h1_msg *m)
{
    const struct h1_header *h = NULL;
    for (size_t i = 0; i < m->num_headers; i++) {
        if (!ieq(m->headers[i].name, m->headers[i].name_len, "sec-ch-ua-mobile", 16))
            continue;
        if (h != NULL)
            return false;
        h = &m->headers[i];
    }
    return h != NULL && sf_is_true(h->value, h->value_len);
}

/* ---- classification ----------------------------------------------------------- */

const char *channel_classify(const struct cfg *cfg, const struct h1_msg *m, const char *query,
                             size_t qlen)
{
    assert(cfg->magic == CFG_MAGIC && cfg->nchannels >= 1);
    uint32_t ua_hits = 0;
    bool ua_done = false;
    for (size_t i = 0; i < cfg->nchannels; i++) {
        const struct cfg_channel *ch = &cfg->channels[i];
        bool hit = false;
        switch (ch->kind) {
        case CFG_CHANNEL_DEFAULT: hit = true; break;
        case CFG_CHANNEL_HEADER: hit = header_is(m, &ch->header); break;
        case CFG_CHANNEL_CLIENT_HINT_MOBILE: hit = client_hint_mobile(m); break;
        case CFG_CHANNEL_USER_AGENT:
            if (!ua_done) {
                /* one scan answers every user_agent rule */
                const struct h1_header *h = first_field(m, "user-agent", 10);
                assert(cfg->channel_ua != NULL && cfg->channel_ua->magic == CHANNEL_UA_MAGIC);
                ua_hits = h != NULL ? ua_scan(cfg->channel_ua, h->value, h->value_len) : 0;
                ua_done = true;
            }
            hit = (ua_hits >> i) & 1;
            break;
        case CFG_CHANNEL_COOKIE: hit = cookie_is(m, &ch->cookie); break;
        case CFG_CHANNEL_QUERY: hit = query_is(query, qlen, &ch->query); break;
        }
        if (hit)
            return cfg->channel_names.items[ch->name_idx];
    }
    /* cfg_load makes the last rule a default: never reached */
    assert(0);
    return cfg->channel_names.items[cfg->channels[cfg->nchannels - 1].name_idx];
}
