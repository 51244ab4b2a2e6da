/* SPDX-License-Identifier: Apache-2.0
 *
 * test_tls: proxy/tls.c against an mbedTLS client, all in memory: the client's
 * records go through an evbuffer into tls_conn_decrypt, the server's come back
 * through another. Certificates and keys are made at run time with openssl(1) in a
 * temporary directory, removed at the end: no private key is committed.
 *
 * Covers ALPN, SNI selection (exact, case, wildcard, CN, unknown), the cipher suites
 * and curves refused or chosen, TLS 1.0/1.1 refused, 1 MB both ways, ticket
 * resumption, close_notify, garbage and tampered records, byte-by-byte feeding,
 * tls_ctx_new's errors, and threads sharing one tls_ctx.
 */
#include "tls.h"

#include <event2/buffer.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util.h"

/* ---- fixtures ----------------------------------------------------------------- */

static char dir[64];
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg; /* locks itself: the thread test shares it */
static mbedtls_x509_crt cas;          /* every self-signed certificate: the client trusts them */
static mbedtls_x509_crt crt_default, crt_shop, crt_cn;

static const char *const files[] = {"default.pem", "default.key", "shop.pem",   "shop.key",
                                    "cn.pem",      "cn.key",      "noname.pem", "noname.key",
                                    "other.key",   "enc.key",     "garbage.pem"};

/* dir/name in one of a few rotating buffers, so that several can be arguments. */
static const char *at(const char *name)
{
    static char bufs[8][128];
    static unsigned next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "%s", cmd);
    return rc;
}

#define EC_KEY "-newkey ec -pkeyopt ec_paramgen_curve:P-256"
#define REQ "openssl req -x509 -nodes -days 30 2>/dev/null"

static int make_files(void)
{
    strcpy(dir, "/tmp/tessera-tls-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return -1;
    }
    int bad = 0;
    bad |= sh(REQ " " EC_KEY " -subj /CN=default.test"
                  " -addext subjectAltName=DNS:default.test,DNS:www.default.test"
                  " -keyout %s -out %s",
              at("default.key"), at("default.pem"));
    bad |= sh(REQ " -newkey rsa:2048 -subj /CN=shop -addext 'subjectAltName=DNS:*.shop.test'"
                  " -keyout %s -out %s",
              at("shop.key"), at("shop.pem"));
    bad |=
        sh(REQ " " EC_KEY " -subj /CN=cn-only.test -keyout %s -out %s", at("cn.key"), at("cn.pem"));
    bad |= sh(REQ " " EC_KEY " -subj /O=Nameless -addext subjectAltName=IP:127.0.0.1"
                  " -keyout %s -out %s",
              at("noname.key"), at("noname.pem"));
    bad |= sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s",
              at("other.key"));
    bad |= sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 "
              "-pass pass:secret -out %s",
              at("enc.key"));
    bad |= sh("printf 'not a certificate\\n' > %s", at("garbage.pem"));
    return bad ? -1 : 0;
}

static void remove_files(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        unlink(at(files[i]));
    rmdir(dir);
}

static int setup(void)
{
    static const unsigned char pers[] = "test_tls";
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&cas);
    mbedtls_x509_crt_init(&crt_default);
    mbedtls_x509_crt_init(&crt_shop);
    mbedtls_x509_crt_init(&crt_cn);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof(pers) - 1))
        return -1;
    if (make_files() < 0)
        return -1;
    int bad = 0;
    bad |= mbedtls_x509_crt_parse_file(&crt_default, at("default.pem"));
    bad |= mbedtls_x509_crt_parse_file(&crt_shop, at("shop.pem"));
    bad |= mbedtls_x509_crt_parse_file(&crt_cn, at("cn.pem"));
    bad |= mbedtls_x509_crt_parse_file(&cas, at("default.pem"));
    bad |= mbedtls_x509_crt_parse_file(&cas, at("shop.pem"));
    bad |= mbedtls_x509_crt_parse_file(&cas, at("cn.pem"));
    CHECK_INT(bad, 0);
    return bad ? -1 : 0;
}

static void teardown(void)
{
    remove_files();
    mbedtls_x509_crt_free(&cas);
    mbedtls_x509_crt_free(&crt_default);
    mbedtls_x509_crt_free(&crt_shop);
    mbedtls_x509_crt_free(&crt_cn);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
}

static const char *const alpn_both[] = {"h2", "http/1.1", NULL};

/* The usual context: default.test (EC), *.shop.test (RSA), cn-only.test (EC, CN). */
static struct tls_ctx *make_ctx(int tickets, char **err)
{
    struct tls_cert_conf certs[] = {
        {at("default.pem"), at("default.key")},
        {at("shop.pem"), at("shop.key")},
        {at("cn.pem"), at("cn.key")},
    };
    struct tls_ctx_conf conf = {certs, ARRAY_SIZE(certs), alpn_both, tickets, 3600};
    return tls_ctx_new(&conf, err);
}

/* ---- a client and a server connected by two evbuffers ------------------------- */

struct client_opts {
    const char *const *alpn;  /* NULL-terminated; NULL: no ALPN */
    const char *sni;          /* NULL: no server_name */
    int min_minor, max_minor; /* 0: TLS 1.2 */
    const int *suites;        /* NULL: mbedTLS's default list */
    const mbedtls_ecp_group_id *curves;
    bool verify;  /* authmode OPTIONAL against `cas`; else NONE */
    bool require; /* authmode REQUIRED against `cas` */
    const mbedtls_ssl_session *session;
};

struct pair {
    mbedtls_ssl_config conf;
    mbedtls_ssl_context cli;
    struct tls_conn *srv;
    struct evbuffer *c2s, *s2c, *plain;
    int srv_rc, cli_rc;
    size_t srv_sent;     /* handshake bytes the server sent */
    size_t last_sent;    /* ... in the last call */
    unsigned not_needed; /* byte-by-byte: calls that did not say NEED_MORE before the end */
    unsigned leftovers;  /* byte-by-byte: calls that left input unconsumed */
};

static int cli_send(void *arg, const unsigned char *buf, size_t len)
{
    struct pair *p = arg;
    return evbuffer_add(p->c2s, buf, len) == 0 ? (int)len : MBEDTLS_ERR_SSL_ALLOC_FAILED;
}

static int cli_recv(void *arg, unsigned char *buf, size_t len)
{
    struct pair *p = arg;
    int n = evbuffer_remove(p->s2c, buf, len);
    return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

static int pair_open(struct pair *p, struct tls_ctx *ctx, const struct client_opts *o)
{
    memset(p, 0, sizeof(*p));
    mbedtls_ssl_config_init(&p->conf);
    mbedtls_ssl_init(&p->cli);
    p->c2s = evbuffer_new();
    p->s2c = evbuffer_new();
    p->plain = evbuffer_new();
    p->srv = tls_conn_new(ctx);
    if (p->srv == NULL)
        return -1;
    if (mbedtls_ssl_config_defaults(&p->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT))
        return -1;
    mbedtls_ssl_conf_rng(&p->conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_min_version(&p->conf, 3, o->min_minor ? o->min_minor : 3);
    mbedtls_ssl_conf_max_version(&p->conf, 3, o->max_minor ? o->max_minor : 3);
    if (o->suites != NULL)
        mbedtls_ssl_conf_ciphersuites(&p->conf, o->suites);
    if (o->curves != NULL)
        mbedtls_ssl_conf_curves(&p->conf, o->curves);
    if (o->alpn != NULL && mbedtls_ssl_conf_alpn_protocols(&p->conf, (const char **)o->alpn))
        return -1;
    int mode = o->require  ? MBEDTLS_SSL_VERIFY_REQUIRED
               : o->verify ? MBEDTLS_SSL_VERIFY_OPTIONAL
                           : MBEDTLS_SSL_VERIFY_NONE;
    mbedtls_ssl_conf_authmode(&p->conf, mode);
    mbedtls_ssl_conf_ca_chain(&p->conf, &cas, NULL);
    if (mbedtls_ssl_setup(&p->cli, &p->conf))
        return -1;
    if (o->sni != NULL && mbedtls_ssl_set_hostname(&p->cli, o->sni))
        return -1;
    if (o->session != NULL && mbedtls_ssl_set_session(&p->cli, o->session))
        return -1;
    mbedtls_ssl_set_bio(&p->cli, p, cli_send, cli_recv, NULL);
    return 0;
}

static void pair_close(struct pair *p)
{
    tls_conn_free(p->srv);
    mbedtls_ssl_free(&p->cli);
    mbedtls_ssl_config_free(&p->conf);
    evbuffer_free(p->c2s);
    evbuffer_free(p->s2c);
    evbuffer_free(p->plain);
}

/* Feeds what the client sent to the server, `chunk` bytes a call (0: all at once). */
static void feed_server(struct pair *p, size_t chunk)
{
    struct evbuffer *piece = evbuffer_new();
    while (evbuffer_get_length(p->c2s) > 0 && p->srv_rc >= 0) {
        size_t before = evbuffer_get_length(p->s2c);
        if (chunk == 0) {
            p->srv_rc = tls_conn_decrypt(p->srv, p->c2s, p->plain, p->s2c);
        } else {
            evbuffer_remove_buffer(p->c2s, piece, chunk);
            p->srv_rc = tls_conn_decrypt(p->srv, piece, p->plain, p->s2c);
            p->leftovers += evbuffer_get_length(piece) > 0;
            evbuffer_drain(piece, evbuffer_get_length(piece));
            if (!tls_conn_ready(p->srv) && p->srv_rc != TLS_NEED_MORE)
                p->not_needed++;
        }
        p->last_sent = evbuffer_get_length(p->s2c) - before;
        p->srv_sent += p->last_sent;
    }
    evbuffer_free(piece);
}

/* Runs the handshake to its end on both sides. Returns 0, or the server's negative
 * tls_err, or the client's mbedTLS error. */
static int handshake(struct pair *p, size_t chunk)
{
    for (int round = 0; round < 50; round++) {
        p->cli_rc = mbedtls_ssl_handshake(&p->cli);
        feed_server(p, chunk);
        if (p->srv_rc < 0) {
            p->cli_rc = mbedtls_ssl_handshake(&p->cli); /* let it read the alert */
            return p->srv_rc;
        }
        if (p->cli_rc != 0 && p->cli_rc != MBEDTLS_ERR_SSL_WANT_READ)
            return p->cli_rc;
        if (p->cli_rc == 0 && tls_conn_ready(p->srv))
            return 0;
    }
    return -9999;
}

static int cli_write_all(struct pair *p, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        int n = mbedtls_ssl_write(&p->cli, buf, len);
        if (n <= 0)
            return n;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads everything the server sent into out (cap bytes); returns the count, or the
 * client's error. */
static long cli_read_all(struct pair *p, unsigned char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int r = mbedtls_ssl_read(&p->cli, out + n, cap - n);
        if (r > 0) {
            n += (size_t)r;
            if (n == cap)
                return (long)n;
            continue;
        }
        if (r == MBEDTLS_ERR_SSL_WANT_READ && evbuffer_get_length(p->s2c) == 0)
            return (long)n;
        if (r != MBEDTLS_ERR_SSL_WANT_READ)
            return r;
    }
}

static bool same_cert(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b)
{
    return a != NULL && b != NULL && a->raw.len == b->raw.len &&
           memcmp(a->raw.p, b->raw.p, a->raw.len) == 0;
}

/* ---- cases -------------------------------------------------------------------- */

static void test_version(void)
{
    const char *v = tls_version();
    CHECK_MSG(strncmp(v, "mbed TLS 2.28.", 14) == 0, "%s", v);
    CHECK(tls_version() == v);
    CHECK(strcmp(tls_strerror(TLS_E_CLOSED), "TLS connection closed by the peer") == 0);
    CHECK(strcmp(tls_strerror(12345), "unknown TLS error") == 0);
}

static void check_ctx_error(const struct tls_cert_conf *certs, size_t n, const char *const *alpn,
                            int tickets, unsigned lifetime, const char *want1, const char *want2)
{
    struct tls_ctx_conf conf = {certs, n, alpn, tickets, lifetime};
    char *err = NULL;
    struct tls_ctx *ctx = tls_ctx_new(&conf, &err);
    CHECK(ctx == NULL);
    CHECK_MSG(err != NULL && strstr(err, want1) != NULL && (!want2 || strstr(err, want2)),
              "want \"%s\" and \"%s\" in \"%s\"", want1, want2 ? want2 : "", err ? err : "(null)");
    free(err);
    tls_ctx_unref(ctx);
}

static void test_ctx_errors(void)
{
    char want[256];
    /* a missing file, named */
    struct tls_cert_conf missing[] = {{at("missing.pem"), at("default.key")}};
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", at("missing.pem"));
    check_ctx_error(missing, 1, NULL, 0, 0, want, NULL);
    struct tls_cert_conf nokey[] = {{at("default.pem"), at("nokey.key")}};
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", at("nokey.key"));
    check_ctx_error(nokey, 1, NULL, 0, 0, want, NULL);
    /* a directory */
    struct tls_cert_conf isdir[] = {{dir, at("default.key")}};
    check_ctx_error(isdir, 1, NULL, 0, 0, dir, "Is a directory");
    /* a key that belongs to another certificate */
    struct tls_cert_conf mismatch[] = {{at("default.pem"), at("other.key")}};
    snprintf(want, sizeof(want), "%s: the private key does not match the certificate in %s",
             at("other.key"), at("default.pem"));
    check_ctx_error(mismatch, 1, NULL, 0, 0, want, NULL);
    /* ... also in an extra certificate */
    struct tls_cert_conf mismatch2[] = {{at("default.pem"), at("default.key")},
                                        {at("shop.pem"), at("cn.key")}};
    check_ctx_error(mismatch2, 2, NULL, 0, 0, at("cn.key"), "does not match");
    /* not a certificate; cert and key swapped */
    struct tls_cert_conf garbage[] = {{at("garbage.pem"), at("default.key")}};
    snprintf(want, sizeof(want), "%s: cannot parse certificate: ", at("garbage.pem"));
    check_ctx_error(garbage, 1, NULL, 0, 0, want, NULL);
    struct tls_cert_conf swapped[] = {{at("default.key"), at("default.pem")}};
    check_ctx_error(swapped, 1, NULL, 0, 0, at("default.key"), "are cert and key swapped?");
    struct tls_cert_conf badkey[] = {{at("default.pem"), at("garbage.pem")}};
    snprintf(want, sizeof(want), "%s: cannot parse private key: ", at("garbage.pem"));
    check_ctx_error(badkey, 1, NULL, 0, 0, want, NULL);
    struct tls_cert_conf enc[] = {{at("default.pem"), at("enc.key")}};
    check_ctx_error(enc, 1, NULL, 0, 0, at("enc.key"), "is encrypted");
    /* an extra certificate SNI could never choose; as the default it is fine */
    struct tls_cert_conf noname[] = {{at("default.pem"), at("default.key")},
                                     {at("noname.pem"), at("noname.key")}};
    check_ctx_error(noname, 2, NULL, 0, 0, at("noname.pem"), "has no DNS name");
    /* nothing, bad ALPN, no lifetime */
    check_ctx_error(NULL, 0, NULL, 0, 0, "no certificate", NULL);
    struct tls_cert_conf ok[] = {{at("default.pem"), at("default.key")}};
    static const char *const empty_alpn[] = {"h2", "", NULL};
    check_ctx_error(ok, 1, empty_alpn, 0, 0, "ALPN: protocol 2", NULL);
    check_ctx_error(ok, 1, NULL, 1, 0, "session tickets need a lifetime", NULL);

    /* NULL err is allowed */
    struct tls_ctx_conf conf = {missing, 1, NULL, 0, 0};
    CHECK(tls_ctx_new(&conf, NULL) == NULL);

    /* and the good one, with a nameless default */
    char *err = NULL;
    struct tls_cert_conf good[] = {{at("noname.pem"), at("noname.key")},
                                   {at("default.pem"), at("default.key")}};
    struct tls_ctx_conf gconf = {good, 2, alpn_both, 1, 60};
    struct tls_ctx *ctx = tls_ctx_new(&gconf, &err);
    CHECK_MSG(ctx != NULL && err == NULL, "%s", err ? err : "");
    free(err);
    tls_ctx_unref(tls_ctx_ref(ctx) == ctx ? ctx : NULL);
    tls_ctx_unref(ctx);
    tls_ctx_unref(NULL);
}

static void test_alpn(struct tls_ctx *ctx)
{
    static const char *const h2_h1[] = {"h2", "http/1.1", NULL};
    static const char *const h1_h2[] = {"http/1.1", "h2", NULL};
    static const char *const h1[] = {"http/1.1", NULL};
    static const char *const other[] = {"spdy/3", NULL};
    static const struct {
        const char *const *offer;
        int ok;
        const char *want; /* NULL: none negotiated */
    } cases[] = {
        {h2_h1, 1, "h2"},    {h1_h2, 1, "h2"}, /* the server's order wins */
        {h1, 1, "http/1.1"}, {NULL, 1, NULL},
        {other, 0, NULL}, /* RFC 7301 3.2: no_application_protocol */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct pair p;
        struct client_opts o = {.alpn = cases[i].offer, .sni = "default.test"};
        CHECK(pair_open(&p, ctx, &o) == 0);
        int rc = handshake(&p, 0);
        CHECK_MSG((rc == 0) == cases[i].ok, "case %zu: %d", i, rc);
        const char *got = tls_conn_alpn(p.srv);
        if (cases[i].want == NULL) {
            CHECK_MSG(got == NULL, "case %zu: %s", i, got);
        } else {
            CHECK_MSG(got != NULL && strcmp(got, cases[i].want) == 0, "case %zu: %s", i,
                      got ? got : "(null)");
            const char *cli = mbedtls_ssl_get_alpn_protocol(&p.cli);
            CHECK(cli != NULL && strcmp(cli, cases[i].want) == 0);
        }
        if (!cases[i].ok) {
            CHECK_INT(p.srv_rc, TLS_E_HANDSHAKE);
            CHECK_INT(p.cli_rc, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
        }
        pair_close(&p);
    }
}

static void test_sni(struct tls_ctx *ctx)
{
    static const struct {
        const char *sni;
        const mbedtls_x509_crt *want;
        const char *want_sni;
        uint32_t flags; /* the client's verification result */
    } cases[] = {
        {"default.test", &crt_default, "default.test", 0},
        {"www.default.test", &crt_default, "www.default.test", 0},
        {"a.shop.test", &crt_shop, "a.shop.test", 0},
        {"A.Shop.TEST", &crt_shop, "a.shop.test", 0},
        {"cn-only.test", &crt_cn, "cn-only.test", 0},
        {"b.a.shop.test", &crt_default, "b.a.shop.test", MBEDTLS_X509_BADCERT_CN_MISMATCH},
        {"shop.test", &crt_default, "shop.test", MBEDTLS_X509_BADCERT_CN_MISMATCH},
        {"unknown.test", &crt_default, "unknown.test", MBEDTLS_X509_BADCERT_CN_MISMATCH},
        {"xdefault.test", &crt_default, "xdefault.test", MBEDTLS_X509_BADCERT_CN_MISMATCH},
        {NULL, &crt_default, NULL, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct pair p;
        struct client_opts o = {.sni = cases[i].sni, .verify = cases[i].sni != NULL};
        CHECK(pair_open(&p, ctx, &o) == 0);
        CHECK_MSG(handshake(&p, 0) == 0, "case %zu", i);
        CHECK_MSG(same_cert(mbedtls_ssl_get_peer_cert(&p.cli), cases[i].want), "case %zu: %s", i,
                  cases[i].sni);
        const char *got = tls_conn_sni(p.srv);
        if (cases[i].want_sni == NULL)
            CHECK(got == NULL);
        else
            CHECK_MSG(got != NULL && strcmp(got, cases[i].want_sni) == 0, "case %zu: %s", i,
                      got ? got : "(null)");
        if (o.verify)
            CHECK_MSG(mbedtls_ssl_get_verify_result(&p.cli) == cases[i].flags,
                      "case %zu: flags %#x", i, mbedtls_ssl_get_verify_result(&p.cli));
        pair_close(&p);
    }
    /* a client that refuses the certificate ends with a fatal alert: not answered */
    struct pair p;
    struct client_opts o = {.sni = "unknown.test", .require = true};
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK_INT(handshake(&p, 0), TLS_E_HANDSHAKE);
    CHECK(p.cli_rc < 0);
    CHECK_INT(p.last_sent, 0);
    pair_close(&p);
}

static void test_suites(struct tls_ctx *ctx)
{
    static const int chacha[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};
    static const int chacha_rsa[] = {MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0};
    static const int aes256[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0};
    static const int cbc[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
                              MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
                              MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
                              MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, 0};
    static const int no_ecdhe[] = {MBEDTLS_TLS_RSA_WITH_AES_128_GCM_SHA256,
                                   MBEDTLS_TLS_DHE_RSA_WITH_AES_128_GCM_SHA256,
                                   MBEDTLS_TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 0};
    static const mbedtls_ecp_group_id x25519[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_NONE};
    static const mbedtls_ecp_group_id x25519_p256[] = {
        MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
    static const mbedtls_ecp_group_id p384[] = {MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE};
    static const mbedtls_ecp_group_id p521[] = {MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_NONE};
    static const struct {
        const char *sni;
        const int *suites;
        const mbedtls_ecp_group_id *curves;
        const char *want; /* NULL: refused */
    } cases[] = {
        {"default.test", NULL, NULL, "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"},
        {"a.shop.test", NULL, NULL, "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256"},
        {"default.test", chacha, NULL, "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256"},
        {"a.shop.test", chacha_rsa, NULL, "TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256"},
        {"default.test", aes256, NULL, "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"},
        {"default.test", cbc, NULL, NULL},
        {"a.shop.test", cbc, NULL, NULL},
        {"a.shop.test", no_ecdhe, NULL, NULL},
        {"a.shop.test", NULL, x25519, "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256"},
        {"default.test", NULL, x25519_p256, "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"},
        /* RFC 8422 5.1: an ECDSA certificate's curve must be one the client offers */
        {"default.test", NULL, x25519, NULL},
        {"a.shop.test", NULL, p384, "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256"},
        {"a.shop.test", NULL, p521, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct pair p;
        struct client_opts o = {
            .sni = cases[i].sni, .suites = cases[i].suites, .curves = cases[i].curves};
        CHECK(pair_open(&p, ctx, &o) == 0);
        int rc = handshake(&p, 0);
        if (cases[i].want != NULL) {
            CHECK_MSG(rc == 0, "case %zu: %d", i, rc);
            if (rc != 0)
                goto next;
            CHECK_MSG(strcmp(mbedtls_ssl_get_ciphersuite(&p.cli), cases[i].want) == 0,
                      "case %zu: %s", i, mbedtls_ssl_get_ciphersuite(&p.cli));
            CHECK(strcmp(mbedtls_ssl_get_version(&p.cli), "TLSv1.2") == 0);
        } else {
            CHECK_MSG(rc == TLS_E_HANDSHAKE, "case %zu: %d", i, rc);
            CHECK_MSG(p.cli_rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, "case %zu: client -0x%x", i,
                      (unsigned)-p.cli_rc);
            CHECK(!tls_conn_ready(p.srv));
        }
    next:
        pair_close(&p);
    }
}

static void test_old_versions(struct tls_ctx *ctx)
{
    for (int minor = 1; minor <= 2; minor++) { /* TLS 1.0, 1.1 */
        struct pair p;
        struct client_opts o = {.sni = "default.test", .min_minor = minor, .max_minor = minor};
        CHECK(pair_open(&p, ctx, &o) == 0);
        int rc = handshake(&p, 0);
        CHECK_MSG(rc == TLS_E_HANDSHAKE, "TLS 1.%d: %d", minor - 1, rc);
        CHECK_MSG(p.cli_rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, "TLS 1.%d: client -0x%x",
                  minor - 1, (unsigned)-p.cli_rc);
        /* a later call returns the same error and sends nothing more */
        evbuffer_drain(p.s2c, evbuffer_get_length(p.s2c));
        evbuffer_add(p.c2s, "x", 1);
        CHECK_INT(tls_conn_decrypt(p.srv, p.c2s, p.plain, p.s2c), TLS_E_HANDSHAKE);
        CHECK_INT(evbuffer_get_length(p.s2c), 0);
        pair_close(&p);
    }
    /* a client that allows 1.1 to 1.2 gets 1.2 */
    struct pair p;
    struct client_opts o = {.sni = "default.test", .min_minor = 2, .max_minor = 3};
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 0) == 0);
    CHECK(strcmp(mbedtls_ssl_get_version(&p.cli), "TLSv1.2") == 0);
    pair_close(&p);
}

/* Fills buf with a reproducible pattern. */
static void pattern(unsigned char *buf, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
}

static void test_data(struct tls_ctx *ctx)
{
    enum { MB = 1 << 20 };
    unsigned char *data = xmalloc(MB), *back = xmalloc(MB);
    pattern(data, MB, 42);
    struct pair p;
    struct client_opts o = {.sni = "default.test", .alpn = alpn_both};
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 0) == 0);
    CHECK_INT(evbuffer_get_length(p.plain), 0);

    /* client -> server: 1 MB, fed in odd pieces that cut records anywhere */
    CHECK_INT(cli_write_all(&p, data, MB), 0);
    struct evbuffer *piece = evbuffer_new();
    int need_more = 0, bad = 0;
    while (evbuffer_get_length(p.c2s) > 0) {
        evbuffer_remove_buffer(p.c2s, piece, 7777);
        int rc = tls_conn_decrypt(p.srv, piece, p.plain, p.s2c);
        need_more += rc == TLS_NEED_MORE;
        bad += rc < 0 || evbuffer_get_length(piece) != 0;
    }
    evbuffer_free(piece);
    CHECK_INT(bad, 0);
    CHECK(need_more > 0); /* some pieces ended inside a record with nothing to give */
    CHECK_INT(evbuffer_get_length(p.plain), MB);
    CHECK(evbuffer_remove(p.plain, back, MB) == MB && memcmp(back, data, MB) == 0);
    CHECK_INT(evbuffer_get_length(p.s2c), 0);

    /* server -> client: 1 MB in chains of every size, by reference (no copy in) */
    struct evbuffer *out = evbuffer_new();
    uint32_t seed = 7;
    size_t off = 0, nchains = 0;
    while (off < MB) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 8) % 3 == 0 ? 1 + (seed >> 12) % 40000 : 1 + (seed >> 12) % 300;
        if (n > MB - off)
            n = MB - off;
        evbuffer_add_reference(out, data + off, n, NULL, NULL);
        off += n;
        nchains++;
    }
    CHECK(nchains > 100);
    CHECK_INT(tls_conn_encrypt(p.srv, out, p.s2c), TLS_OK);
    CHECK_INT(evbuffer_get_length(out), 0);
    /* full records: 64 of them, 29 bytes of framing each (AES-GCM) */
    size_t wire = evbuffer_get_length(p.s2c);
    CHECK_MSG(wire <= MB + 65 * 29, "%zu bytes on the wire", wire);
    memset(back, 0, MB);
    CHECK_INT(cli_read_all(&p, back, MB), MB);
    CHECK(memcmp(back, data, MB) == 0);
    evbuffer_free(out);

    /* small writes: each call flushes what it was given */
    out = evbuffer_new();
    evbuffer_add(out, "hello", 5);
    CHECK_INT(tls_conn_encrypt(p.srv, out, p.s2c), TLS_OK);
    CHECK_INT(tls_conn_encrypt(p.srv, out, p.s2c), TLS_OK); /* nothing to do */
    CHECK_INT(cli_read_all(&p, back, MB), 5);
    CHECK(memcmp(back, "hello", 5) == 0);
    evbuffer_free(out);

    /* nothing in: OK, nothing out */
    CHECK_INT(tls_conn_decrypt(p.srv, p.c2s, p.plain, p.s2c), TLS_OK);
    CHECK_INT(evbuffer_get_length(p.plain), 0);
    pair_close(&p);
    free(data);
    free(back);
}

static void test_resume(void)
{
    struct tls_ctx *ctx = make_ctx(1, NULL), *other = make_ctx(1, NULL), *none = make_ctx(0, NULL);
    CHECK(ctx != NULL && other != NULL && none != NULL);
    if (ctx == NULL || other == NULL || none == NULL)
        goto done;
    mbedtls_ssl_session sess;
    mbedtls_ssl_session_init(&sess);
    struct pair p;
    struct client_opts o = {.sni = "a.shop.test", .alpn = alpn_both};
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 0) == 0);
    CHECK(!tls_conn_resumed(p.srv));
    size_t full = p.srv_sent;
    CHECK(mbedtls_ssl_get_session(&p.cli, &sess) == 0);
    CHECK(sess.ticket != NULL && sess.ticket_len > 0);
    pair_close(&p);

    /* the ticket resumes: no certificate sent this time */
    o.session = &sess;
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 0) == 0);
    CHECK(tls_conn_resumed(p.srv));
    CHECK_MSG(p.srv_sent * 3 < full, "resumed %zu, full %zu", p.srv_sent, full);
    CHECK(strcmp(tls_conn_alpn(p.srv), "h2") == 0);
    CHECK(strcmp(tls_conn_sni(p.srv), "a.shop.test") == 0);
    unsigned char buf[16];
    CHECK_INT(cli_write_all(&p, (const unsigned char *)"ping", 4), 0);
    CHECK_INT(tls_conn_decrypt(p.srv, p.c2s, p.plain, p.s2c), TLS_OK);
    CHECK(evbuffer_remove(p.plain, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0);
    pair_close(&p);

    /* ... byte by byte too */
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 1) == 0);
    CHECK(tls_conn_resumed(p.srv));
    CHECK_INT(p.leftovers, 0);
    pair_close(&p);

    /* another context's ticket, a context without tickets, or a tampered ticket:
     * a full handshake instead */
    struct tls_ctx *fallbacks[] = {other, none, ctx};
    for (size_t i = 0; i < ARRAY_SIZE(fallbacks); i++) {
        if (i == 2)
            sess.ticket[sess.ticket_len / 2] ^= 1;
        CHECK(pair_open(&p, fallbacks[i], &o) == 0);
        CHECK_MSG(handshake(&p, 0) == 0, "case %zu", i);
        CHECK_MSG(!tls_conn_resumed(p.srv), "case %zu", i);
        CHECK_MSG(p.srv_sent * 3 > full, "case %zu", i);
        pair_close(&p);
    }
    mbedtls_ssl_session_free(&sess);
done:
    tls_ctx_unref(ctx);
    tls_ctx_unref(other);
    tls_ctx_unref(none);
}

static void test_byte_by_byte(struct tls_ctx *ctx)
{
    struct pair p, q;
    struct client_opts o = {.sni = "a.shop.test", .alpn = alpn_both};
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 1) == 0);
    CHECK_INT(p.leftovers, 0);
    CHECK_INT(p.not_needed, 0); /* NEED_MORE until the last byte of the handshake */
    CHECK(tls_conn_ready(p.srv));
    CHECK(strcmp(tls_conn_alpn(p.srv), "h2") == 0);
    CHECK(same_cert(mbedtls_ssl_get_peer_cert(&p.cli), &crt_shop));
    /* application data one byte at a time, too */
    CHECK_INT(cli_write_all(&p, (const unsigned char *)"GET / HTTP/1.1\r\n\r\n", 18), 0);
    feed_server(&p, 1);
    CHECK_INT(p.srv_rc, TLS_OK);
    CHECK_INT(evbuffer_get_length(p.plain), 18);
    CHECK_INT(p.leftovers, 0);

    /* the same flights whole give the same result */
    CHECK(pair_open(&q, ctx, &o) == 0);
    CHECK(handshake(&q, 0) == 0);
    CHECK(strcmp(mbedtls_ssl_get_ciphersuite(&p.cli), mbedtls_ssl_get_ciphersuite(&q.cli)) == 0);
    CHECK_INT(p.srv_sent, q.srv_sent);
    pair_close(&p);
    pair_close(&q);
}

static void test_close_notify(struct tls_ctx *ctx)
{
    struct pair p;
    struct client_opts o = {.sni = "default.test"};
    unsigned char buf[64];
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 0) == 0);
    /* data and close_notify in one read: the data arrives, then TLS_E_CLOSED */
    CHECK_INT(cli_write_all(&p, (const unsigned char *)"bye", 3), 0);
    CHECK_INT(mbedtls_ssl_close_notify(&p.cli), 0);
    CHECK_INT(tls_conn_decrypt(p.srv, p.c2s, p.plain, p.s2c), TLS_E_CLOSED);
    CHECK(evbuffer_remove(p.plain, buf, sizeof(buf)) == 3 && memcmp(buf, "bye", 3) == 0);
    CHECK_INT(tls_conn_decrypt(p.srv, p.c2s, p.plain, p.s2c), TLS_E_CLOSED);
    CHECK(tls_conn_ready(p.srv));
    /* answered with ours, once */
    tls_conn_close_notify(p.srv, p.s2c);
    size_t n = evbuffer_get_length(p.s2c);
    CHECK(n > 0);
    tls_conn_close_notify(p.srv, p.s2c);
    CHECK_INT(evbuffer_get_length(p.s2c), n);
    CHECK_INT(mbedtls_ssl_read(&p.cli, buf, sizeof(buf)), MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    pair_close(&p);

    /* the server closes first; before the handshake there is nothing to send */
    CHECK(pair_open(&p, ctx, &o) == 0);
    tls_conn_close_notify(p.srv, p.s2c);
    CHECK_INT(evbuffer_get_length(p.s2c), 0);
    CHECK(handshake(&p, 0) == 0);
    tls_conn_close_notify(p.srv, p.s2c);
    CHECK_INT(mbedtls_ssl_read(&p.cli, buf, sizeof(buf)), MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    pair_close(&p);
}

/* A fresh connection fed `in`; returns what decrypt returned, and checks that the
 * error sticks and that an alert was queued for it. */
static int feed_garbage(struct tls_ctx *ctx, const void *in, size_t len, bool *alert)
{
    struct tls_conn *t = tls_conn_new(ctx);
    struct evbuffer *cin = evbuffer_new(), *plain = evbuffer_new(), *cout = evbuffer_new();
    evbuffer_add(cin, in, len);
    int rc = tls_conn_decrypt(t, cin, plain, cout);
    CHECK(evbuffer_get_length(plain) == 0);
    CHECK(!tls_conn_ready(t));
    unsigned char first = 0;
    evbuffer_copyout(cout, &first, 1);
    *alert = first == 21;
    if (rc < 0) {
        evbuffer_drain(cout, evbuffer_get_length(cout));
        evbuffer_add(cin, "\x16\x03\x03", 3);
        CHECK_INT(tls_conn_decrypt(t, cin, plain, cout), rc);
        CHECK_INT(evbuffer_get_length(cout), 0);
    }
    CHECK_INT(tls_conn_encrypt(t, plain, cout), rc < 0 ? rc : TLS_E_INTERNAL);
    evbuffer_free(cin);
    evbuffer_free(plain);
    evbuffer_free(cout);
    tls_conn_free(t);
    return rc;
}

static void test_garbage(struct tls_ctx *ctx)
{
    static const struct {
        const char *in;
        size_t len;
        int want;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, TLS_E_HANDSHAKE},
        {"\x16\x03\x01\xff\xff", 5, TLS_E_HANDSHAKE},                 /* record too long */
        {"\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9, TLS_E_HANDSHAKE}, /* empty hello */
        {"\x17\x03\x03\x00\x05hello", 10, TLS_E_HANDSHAKE},           /* data before hello */
        /* an alert instead of a ClientHello is just not a ClientHello to mbedTLS */
        {"\x15\x03\x03\x00\x02\x02\x28", 7, TLS_E_HANDSHAKE},
        {"\x80\x2e\x01\x03\x01", 5, TLS_E_HANDSHAKE}, /* SSLv2 hello */
        {"\x16\x03\x01\x00", 4, TLS_NEED_MORE},
        {"\x16", 1, TLS_NEED_MORE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool alert;
        int rc = feed_garbage(ctx, cases[i].in, cases[i].len, &alert);
        CHECK_MSG(rc == cases[i].want, "case %zu: %d", i, rc);
        CHECK_MSG(alert == (rc < 0), "case %zu", i);
    }
    /* random bytes, with and without a plausible record header */
    unsigned char buf[3000];
    int bad = 0;
    for (uint32_t seed = 1; seed <= 400; seed++) {
        size_t len = 1 + seed * 7919 % sizeof(buf);
        pattern(buf, len, seed);
        if (seed % 2 == 0 && len > 5) {
            buf[0] = 0x16;
            buf[1] = 0x03;
            buf[2] = (unsigned char)(seed % 4);
        }
        bool alert;
        int rc = feed_garbage(ctx, buf, len, &alert);
        bad += !(rc == TLS_NEED_MORE || rc == TLS_E_HANDSHAKE || rc == TLS_E_PROTOCOL);
    }
    CHECK_INT(bad, 0);
}

static void test_tampered(struct tls_ctx *ctx)
{
    struct pair p;
    struct client_opts o = {.sni = "default.test"};
    unsigned char buf[64];
    CHECK(pair_open(&p, ctx, &o) == 0);
    CHECK(handshake(&p, 0) == 0);
    CHECK_INT(cli_write_all(&p, (const unsigned char *)"secret", 6), 0);
    size_t n = evbuffer_get_length(p.c2s);
    unsigned char *rec = evbuffer_pullup(p.c2s, -1);
    rec[n - 3] ^= 0x40; /* in the GCM tag */
    CHECK_INT(tls_conn_decrypt(p.srv, p.c2s, p.plain, p.s2c), TLS_E_PROTOCOL);
    CHECK_INT(evbuffer_get_length(p.plain), 0);
    CHECK_INT(mbedtls_ssl_read(&p.cli, buf, sizeof(buf)), MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, "late", 4);
    CHECK_INT(tls_conn_encrypt(p.srv, out, p.s2c), TLS_E_PROTOCOL);
    evbuffer_free(out);
    pair_close(&p);
}

static void test_not_ready(struct tls_ctx *ctx)
{
    struct tls_conn *t = tls_conn_new(ctx);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    evbuffer_add(in, "early", 5);
    CHECK_INT(tls_conn_encrypt(t, in, out), TLS_E_INTERNAL);
    CHECK_INT(evbuffer_get_length(in), 5);
    CHECK_INT(evbuffer_get_length(out), 0);
    CHECK(!tls_conn_ready(t) && !tls_conn_resumed(t));
    CHECK(tls_conn_alpn(t) == NULL && tls_conn_sni(t) == NULL);
    evbuffer_free(in);
    evbuffer_free(out);
    tls_conn_free(t);
    tls_conn_free(NULL);
}

/* ---- threads ------------------------------------------------------------------ */

struct worker {
    pthread_t th;
    struct tls_ctx *ctx;
    int failures, resumed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 8; i++) {
        mbedtls_ssl_session sess;
        mbedtls_ssl_session_init(&sess);
        struct client_opts o = {.sni = i % 2 ? "a.shop.test" : "default.test", .alpn = alpn_both};
        for (int round = 0; round < 2; round++) {
            struct pair p;
            o.session = round ? &sess : NULL;
            unsigned char buf[8];
            if (pair_open(&p, w->ctx, &o) < 0 || handshake(&p, 0) != 0 ||
                cli_write_all(&p, (const unsigned char *)"abc", 3) != 0 ||
                tls_conn_decrypt(p.srv, p.c2s, p.plain, p.s2c) != TLS_OK ||
                evbuffer_remove(p.plain, buf, sizeof(buf)) != 3 ||
                (round == 0 && mbedtls_ssl_get_session(&p.cli, &sess) != 0))
                w->failures++;
            else
                w->resumed += tls_conn_resumed(p.srv);
            pair_close(&p);
        }
        mbedtls_ssl_session_free(&sess);
    }
    return NULL;
}

static void test_threads(struct tls_ctx *ctx)
{
    struct worker w[4];
    for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
        w[i] = (struct worker){.ctx = ctx};
        CHECK(pthread_create(&w[i].th, NULL, worker_main, &w[i]) == 0);
    }
    for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
        pthread_join(w[i].th, NULL);
        CHECK_INT(w[i].failures, 0);
        CHECK_INT(w[i].resumed, 8);
    }
}

int main(void)
{
    test_version();
    if (setup() == 0) {
        char *err = NULL;
        struct tls_ctx *ctx = make_ctx(1, &err);
        CHECK_MSG(ctx != NULL, "%s", err ? err : "");
        free(err);
        test_ctx_errors();
        if (ctx != NULL) {
            test_alpn(ctx);
            test_sni(ctx);
            test_suites(ctx);
            test_old_versions(ctx);
            test_data(ctx);
            test_byte_by_byte(ctx);
            test_close_notify(ctx);
            test_garbage(ctx);
            test_tampered(ctx);
            test_not_ready(ctx);
            test_threads(ctx);
        }
        test_resume();
        tls_ctx_unref(ctx);
    }
    teardown();
    return check_report("test_tls");
}
