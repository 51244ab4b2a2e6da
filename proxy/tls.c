/* SPDX-License-Identifier: Apache-2.0
 *
 * tls: server-side TLS on mbedTLS 2.28, run as a "memory BIO" over evbuffers (see
 * tls.h). mbedTLS reads and writes through on_recv/on_send, which only ever touch the
 * evbuffers handed to the current tls_conn_decrypt/encrypt call: nothing here blocks
 * or owns a socket.
 *
 * Locking: a tls_ctx is immutable after tls_ctx_new and shared by every worker. The
 * mbedTLS objects in it that change while in use lock themselves, because mbedTLS is
 * built with MBEDTLS_THREADING_C + MBEDTLS_THREADING_PTHREAD (Debian 12's 2.28.3 is:
 * see config.h, and libmbedcrypto exports the pthread-backed mbedtls_mutex_* hooks):
 * the CTR_DRBG and the entropy pool, the session-ticket keys (rotated in place) and
 * RSA private keys (blinding values). The build stops below if that is not so. EC
 * keys are only read (the curves' comb tables are static). Under helgrind, test_tls's
 * thread case shows one unlocked write only: the MBEDTLS_SELF_TEST operation counters
 * of ecp.c, statistics that nothing but mbedtls_ecp_self_test reads.
 * Ownership: a tls_ctx is refcounted; every tls_conn holds one reference. A tls_conn
 * belongs to one connection and is used by one thread at a time.
 */
#include "tls.h"

#include "log.h"
#include "util.h"

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h> /* handshake->resume, see record_resume() */
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if MBEDTLS_VERSION_MAJOR != 2
#error "tls.c is written for mbedTLS 2.28 (3.x renamed and privatised much of what it uses)"
#endif
#if !defined(MBEDTLS_THREADING_C) || !defined(MBEDTLS_THREADING_PTHREAD)
/* A mutex around the DRBG alone would not be enough: the ticket keys and RSA blinding
 * would still race between workers. */
#error "tls.c needs mbedTLS built with MBEDTLS_THREADING_C and MBEDTLS_THREADING_PTHREAD"
#endif
#if !defined(MBEDTLS_SSL_SERVER_NAME_INDICATION) || !defined(MBEDTLS_SSL_ALPN) ||                  \
    !defined(MBEDTLS_SSL_SESSION_TICKETS) || !defined(MBEDTLS_SSL_TICKET_C) ||                     \
    !defined(MBEDTLS_GCM_C) || !defined(MBEDTLS_CHACHAPOLY_C) || !defined(MBEDTLS_ERROR_C) ||      \
    !defined(MBEDTLS_VERSION_C)
#error "tls.c needs mbedTLS with SNI, ALPN, session tickets, GCM, ChaCha20-Poly1305, error.c"
#endif

#define CTX_MAGIC 0x544c5343u    /* "TLSC" */
#define CONN_MAGIC 0x544c534eu   /* "TLSN" */
#define MAX_FILE_SIZE (1u << 20) /* a PEM chain is a few KB: larger is the wrong file */
#define MAX_ALPN 16
#define MAX_RECORD 16384  /* largest TLS plaintext record (RFC 5246 6.2.1) */
#define MAX_IDLE_STEPS 64 /* handshake steps in one call that consume nothing */
#define REC_ALERT 21      /* TLS record content type (RFC 5246 6.2.1) */

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* Forward secrecy and AEAD only, in server preference order (mbedTLS 2.28 servers
 * pick by their own order unless MBEDTLS_SSL_SRV_RESPECT_CLIENT_PREFERENCE is set).
 * The ECDSA or RSA half of the list is usable according to the certificate's key. */
static const int ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

/* One certificate chain with its key, and the DNS names SNI can select it by. */
struct cert {
    mbedtls_x509_crt chain; /* the leaf first */
    mbedtls_pk_context key;
    char **names; /* lower case; "*.example.com" matches one more label */
    size_t nnames;
};

struct tls_ctx {
    unsigned magic;
    int refs; /* atomic */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_ticket_context ticket;
    mbedtls_ssl_config conf; /* points into everything below: freed first */
    struct cert *certs;      /* certs[0] is the default */
    size_t ncerts;
    char **alpn; /* NULL-terminated, the list mbedtls_ssl_conf_alpn_protocols keeps */
};

enum conn_state {
    ST_HANDSHAKE, /* until the handshake is over */
    ST_OPEN,      /* application data both ways */
    ST_CLOSED,    /* the peer sent close_notify */
    ST_FAILED,    /* a fatal error: every call returns it again */
};

struct tls_conn {
    unsigned magic;
    enum conn_state state;
    int err; /* the tls_err returned again in ST_CLOSED and ST_FAILED */
    struct tls_ctx *ctx;
    mbedtls_ssl_context ssl;   /* on_sni finds the tls_conn from it */
    struct evbuffer *in, *out; /* set only for the duration of a call */
    char *sni;
    bool resumed;
    bool last_sent_alert; /* the last record handed to on_send was an alert */
    bool sent_close_notify;
};

/* ---- small helpers ------------------------------------------------------------ */

static const char *state_name(enum conn_state s)
{
    switch (s) {
    case ST_HANDSHAKE: return "handshake";
    case ST_OPEN: return "open";
    case ST_CLOSED: return "closed";
    case ST_FAILED: return "failed";
    }
    return "?";
}

static void set_state(struct tls_conn *t, enum conn_state s)
{
    log_debug("tls", "conn %p: %s -> %s", (void *)t, state_name(t->state), state_name(s));
    t->state = s;
}

/* mbedtls_strerror into buf, for use as a printf argument. */
static const char *mbed_err(int ret, char *buf, size_t cap)
{
    mbedtls_strerror(ret, buf, cap);
    return buf;
}

/* Sets *err to a heap copy of the message, keeping the first one set. */
__attribute__((format(printf, 2, 3))) static void set_err(char **err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (err == NULL || *err != NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *err = xstrdup(msg);
}

/* Lower-cases a DNS name into out (at least 254 bytes) and checks its syntax: labels
 * of letters, digits, '-' and '_', no empty label, at most 253 bytes, one trailing
 * dot dropped. With `wildcard`, a first label of exactly "*" is allowed. Returns
 * false for anything else: SNI and certificates carry bytes we must not trust. */
static bool dns_name(const unsigned char *p, size_t len, bool wildcard, char *out)
{
    if (len > 0 && p[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = p[i];
        if (ch == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (ch == '*' && wildcard && i == 0 && len > 2 && p[1] == '.') {
            label++;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
            label++;
        } else if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
            label++;
        } else {
            return false;
        }
        out[i] = (char)ch;
    }
    out[len] = '\0';
    return label > 0;
}

/* ---- loading certificates ----------------------------------------------------- */

/* Reads a whole file, NUL-terminated (mbedTLS wants the NUL counted for PEM). */
static unsigned char *read_file(const char *path, size_t *len, char **err)
{
    unsigned char *buf = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        set_err(err, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        set_err(err, "%s: cannot read: %s", path, strerror(EISDIR));
        goto fail;
    }
    if (st.st_size > (off_t)MAX_FILE_SIZE) {
        set_err(err, "%s: larger than %uKB: not a certificate or key file", path,
                MAX_FILE_SIZE >> 10);
        goto fail;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    buf = xmalloc(cap);
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            set_err(err, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1)
            break; /* grown since fstat: what fstat saw is what we use */
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* The length to give mbedTLS's parsers: PEM text counts its NUL, DER does not. */
static size_t parse_len(const unsigned char *buf, size_t n)
{
    return memmem(buf, n, "-----BEGIN ", 11) != NULL ? n + 1 : n;
}

static void add_name(struct cert *c, const unsigned char *p, size_t len)
{
    char name[256];
    if (!dns_name(p, len, true, name))
        return; /* an IP in a CN, or junk: SNI can never ask for it */
    c->names = xrealloc(c->names, (c->nnames + 1) * sizeof(*c->names));
    c->names[c->nnames++] = xstrdup(name);
}

/* The DNS names of the leaf: its subjectAltName dNSName entries or, when it has none,
 * its subject CNs (RFC 6125 6.4.4: a CN is only looked at without a DNS-ID). */
static void collect_names(struct cert *c)
{
    const mbedtls_x509_crt *leaf = &c->chain;
    for (const mbedtls_x509_sequence *s = &leaf->subject_alt_names; s != NULL; s = s->next) {
        int tag = s->buf.tag & (MBEDTLS_ASN1_TAG_CLASS_MASK | MBEDTLS_ASN1_TAG_VALUE_MASK);
        if (s->buf.p != NULL && tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME))
            add_name(c, s->buf.p, s->buf.len);
    }
    if (c->nnames > 0)
        return;
    for (const mbedtls_x509_name *n = &leaf->subject; n != NULL; n = n->next) {
        if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
            add_name(c, n->val.p, n->val.len);
    }
}

static void warn_validity(const char *file, const mbedtls_x509_crt *leaf)
{
    const mbedtls_x509_time *to = &leaf->valid_to, *from = &leaf->valid_from;
    if (mbedtls_x509_time_is_past(to))
        log_warn("tls", "%s: the certificate expired on %04d-%02d-%02d", file, to->year, to->mon,
                 to->day);
    else if (mbedtls_x509_time_is_future(from))
        log_warn("tls", "%s: the certificate is not valid before %04d-%02d-%02d", file, from->year,
                 from->mon, from->day);
}

/* Loads certs[i] (files cc). Returns 0 or -1 with *err set. */
static int load_cert(struct cert *c, const struct tls_cert_conf *cc, size_t i, char **err)
{
    char why[256];
    size_t n;
    int ret, rc = -1;
    if (cc->cert_file == NULL || cc->key_file == NULL) {
        set_err(err, "certificate %zu: a certificate and a key file are both needed", i + 1);
        return -1;
    }
    unsigned char *pem = read_file(cc->cert_file, &n, err);
    if (pem == NULL)
        return -1;
    ret = mbedtls_x509_crt_parse(&c->chain, pem, parse_len(pem, n));
    if (ret != 0) {
        bool has_key = memmem(pem, n, "PRIVATE KEY-----", 16) != NULL;
        if (ret > 0)
            snprintf(why, sizeof(why), "%d of its certificates are malformed", ret);
        else
            mbed_err(ret, why, sizeof(why));
        set_err(err, "%s: cannot parse certificate: %s%s", cc->cert_file, why,
                has_key ? " (the file holds a private key: are cert and key swapped?)" : "");
        free(pem);
        return -1;
    }
    free(pem);

    unsigned char *der = read_file(cc->key_file, &n, err);
    if (der == NULL)
        return -1;
    ret = mbedtls_pk_parse_key(&c->key, der, parse_len(der, n), NULL, 0);
    if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH) {
        set_err(err, "%s: the private key is encrypted: give it without a passphrase",
                cc->key_file);
        goto done;
    }
    if (ret != 0) {
        bool has_crt = memmem(der, n, "BEGIN CERTIFICATE", 17) != NULL;
        set_err(err, "%s: cannot parse private key: %s%s", cc->key_file,
                mbed_err(ret, why, sizeof(why)),
                has_crt ? " (the file holds a certificate: are cert and key swapped?)" : "");
        goto done;
    }
    if (!mbedtls_pk_can_do(&c->key, MBEDTLS_PK_ECKEY) &&
        !mbedtls_pk_can_do(&c->key, MBEDTLS_PK_RSA)) {
        set_err(err, "%s: a %s key cannot be used: only ECDSA and RSA keys are supported",
                cc->key_file, mbedtls_pk_get_name(&c->key));
        goto done;
    }
    ret = mbedtls_pk_check_pair(&c->chain.pk, &c->key);
    if (ret != 0) {
        set_err(err,
                "%s: the private key does not match the certificate in %s (the first "
                "certificate of that file must be the server's own)",
                cc->key_file, cc->cert_file);
        goto done;
    }
    collect_names(c);
    if (c->nnames == 0 && i > 0) {
        set_err(err,
                "%s: the certificate has no DNS name (subjectAltName or CN), so SNI can never "
                "choose it; only the first (default) certificate may lack one",
                cc->cert_file);
        goto done;
    }
    warn_validity(cc->cert_file, &c->chain);
    for (size_t j = 0; j < c->nnames; j++)
        log_debug("tls", "%s: serves %s", cc->cert_file, c->names[j]);
    rc = 0;
done:
    mbedtls_platform_zeroize(der, n);
    free(der);
    return rc;
}

/* ---- the context -------------------------------------------------------------- */

/* SNI callback (RFC 6066 3): chooses every certificate that names the host exactly,
 * or failing that every one whose wildcard covers it; with none, or an unusable name,
 * the default set by mbedtls_ssl_conf_own_cert stays. Offering several lets mbedTLS
 * pick the one whose key fits the cipher suite (an ECDSA and an RSA chain for one
 * name). Called inside mbedtls_ssl_handshake_step, on the conn's thread. */
static int on_sni(void *arg, mbedtls_ssl_context *ssl, const unsigned char *name, size_t len)
{
    struct tls_ctx *ctx = arg;
    struct tls_conn *t = container_of(ssl, struct tls_conn, ssl);
    char host[256];
    assert(ctx->magic == CTX_MAGIC && t->magic == CONN_MAGIC);
    if (!dns_name(name, len, false, host))
        return 0;
    free(t->sni);
    t->sni = xstrdup(host);
    const char *dot = strchr(host, '.');
    for (int wild = 0; wild < 2; wild++) {
        bool found = false;
        for (size_t i = 0; i < ctx->ncerts; i++) {
            struct cert *c = &ctx->certs[i];
            bool match = false;
            for (size_t j = 0; j < c->nnames && !match; j++) {
                const char *cn = c->names[j];
                if (!wild)
                    match = cn[0] != '*' && strcmp(cn, host) == 0;
                else /* "*.example.com" covers exactly one label (RFC 6125 6.4.3) */
                    match = cn[0] == '*' && dot != NULL && strcmp(cn + 2, dot + 1) == 0;
            }
            if (!match)
                continue;
            int ret = mbedtls_ssl_set_hs_own_cert(ssl, &c->chain, &c->key);
            if (ret != 0)
                return ret;
            found = true;
        }
        if (found)
            break;
    }
    return 0;
}

static void ctx_free(struct tls_ctx *ctx)
{
    mbedtls_ssl_config_free(&ctx->conf);
    mbedtls_ssl_ticket_free(&ctx->ticket);
    mbedtls_ctr_drbg_free(&ctx->drbg);
    mbedtls_entropy_free(&ctx->entropy);
    for (size_t i = 0; i < ctx->ncerts; i++) {
        mbedtls_x509_crt_free(&ctx->certs[i].chain);
        mbedtls_pk_free(&ctx->certs[i].key);
        for (size_t j = 0; j < ctx->certs[i].nnames; j++)
            free(ctx->certs[i].names[j]);
        free(ctx->certs[i].names);
    }
    free(ctx->certs);
    for (size_t i = 0; ctx->alpn != NULL && ctx->alpn[i] != NULL; i++)
        free(ctx->alpn[i]);
    free(ctx->alpn);
    ctx->magic = 0;
    free(ctx);
}

static int setup_alpn(struct tls_ctx *ctx, const char *const *alpn, char **err)
{
    size_t n = 0;
    while (alpn != NULL && alpn[n] != NULL)
        n++;
    if (n == 0)
        return 0;
    if (n > MAX_ALPN) {
        set_err(err, "ALPN: more than %d protocols", MAX_ALPN);
        return -1;
    }
    ctx->alpn = xcalloc(n + 1, sizeof(*ctx->alpn));
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(alpn[i]);
        if (len == 0 || len > 255) { /* RFC 7301 3.1: 1..255 bytes */
            set_err(err, "ALPN: protocol %zu must be 1 to 255 bytes long", i + 1);
            return -1;
        }
        ctx->alpn[i] = xstrdup(alpn[i]);
    }
    if (mbedtls_ssl_conf_alpn_protocols(&ctx->conf, (const char **)ctx->alpn) != 0) {
        set_err(err, "ALPN: the protocol list is too long");
        return -1;
    }
    return 0;
}

struct tls_ctx *tls_ctx_new(const struct tls_ctx_conf *conf, char **err)
{
    static const unsigned char pers[] = "tessera tls_ctx";
    char why[256];
    int ret;
    struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
    ctx->magic = CTX_MAGIC;
    ctx->refs = 1;
    mbedtls_entropy_init(&ctx->entropy);
    mbedtls_ctr_drbg_init(&ctx->drbg);
    mbedtls_ssl_ticket_init(&ctx->ticket);
    mbedtls_ssl_config_init(&ctx->conf);
    if (err != NULL)
        *err = NULL;

    if (conf->ncerts == 0 || conf->certs == NULL) {
        set_err(err, "no certificate: TLS needs at least one certificate and key");
        goto fail;
    }
    ret = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy, pers,
                                sizeof(pers) - 1);
    if (ret != 0) {
        set_err(err, "cannot seed the random generator: %s", mbed_err(ret, why, sizeof(why)));
        goto fail;
    }
    ctx->certs = xcalloc(conf->ncerts, sizeof(*ctx->certs));
    ctx->ncerts = conf->ncerts;
    for (size_t i = 0; i < ctx->ncerts; i++) {
        mbedtls_x509_crt_init(&ctx->certs[i].chain);
        mbedtls_pk_init(&ctx->certs[i].key);
    }
    for (size_t i = 0; i < ctx->ncerts; i++)
        if (load_cert(&ctx->certs[i], &conf->certs[i], i, err) < 0)
            goto fail;

    ret = mbedtls_ssl_config_defaults(&ctx->conf, MBEDTLS_SSL_IS_SERVER,
                                      MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        set_err(err, "cannot set up TLS: %s", mbed_err(ret, why, sizeof(why)));
        goto fail;
    }
    mbedtls_ssl_conf_rng(&ctx->conf, mbedtls_ctr_drbg_random, &ctx->drbg);
    /* TLS 1.2 only, both ways: 1.2 is the newest mbedTLS 2.28 can serve. Its TLS 1.3
     * (MBEDTLS_SSL_PROTO_TLS1_3_EXPERIMENTAL, off in Debian) is a client-side
     * prototype; 1.3 needs mbedTLS 3.x behind this same header. */
    mbedtls_ssl_conf_min_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&ctx->conf, ciphersuites);
    mbedtls_ssl_conf_curves(&ctx->conf, curves);
    mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE); /* no client certificates */
    mbedtls_ssl_conf_renegotiation(&ctx->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    /* OCSP stapling (status_request, RFC 6066 8) is not possible: mbedTLS 2.28 has no
     * server-side support for it, so clients that want OCSP ask the responder. */
    ret = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->certs[0].chain, &ctx->certs[0].key);
    if (ret != 0) {
        set_err(err, "cannot set up TLS: %s", mbed_err(ret, why, sizeof(why)));
        goto fail;
    }
    mbedtls_ssl_conf_sni(&ctx->conf, on_sni, ctx);
    if (setup_alpn(ctx, conf->alpn, err) < 0)
        goto fail;
    if (conf->tickets) {
        /* RFC 5077 tickets under AES-256-GCM keys that live in this process only: the
         * ticket context makes a new key every lifetime and still accepts the one
         * before, and it locks itself (MBEDTLS_THREADING_C). There is no session-ID
         * cache: resumption is by ticket only. */
        if (conf->ticket_lifetime_s == 0) {
            set_err(err, "session tickets need a lifetime of at least one second");
            goto fail;
        }
        ret = mbedtls_ssl_ticket_setup(&ctx->ticket, mbedtls_ctr_drbg_random, &ctx->drbg,
                                       MBEDTLS_CIPHER_AES_256_GCM, conf->ticket_lifetime_s);
        if (ret != 0) {
            set_err(err, "cannot set up session tickets: %s", mbed_err(ret, why, sizeof(why)));
            goto fail;
        }
        mbedtls_ssl_conf_session_tickets_cb(&ctx->conf, mbedtls_ssl_ticket_write,
                                            mbedtls_ssl_ticket_parse, &ctx->ticket);
    }
    return ctx;
fail:
    ctx_free(ctx);
    return NULL;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx)
{
    assert(ctx->magic == CTX_MAGIC);
    __atomic_add_fetch(&ctx->refs, 1, __ATOMIC_RELAXED);
    return ctx;
}

void tls_ctx_unref(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    assert(ctx->magic == CTX_MAGIC);
    if (__atomic_sub_fetch(&ctx->refs, 1, __ATOMIC_ACQ_REL) == 0)
        ctx_free(ctx);
}

/* ---- the connection: memory BIO ----------------------------------------------- */

/* mbedTLS's send callback: everything goes to the caller's cipher_out, so a write
 * never comes back short and MBEDTLS_ERR_SSL_WANT_WRITE never happens. For a stream
 * transport mbedTLS flushes each record as it is made, so buf starts a record. */
static int on_send(void *arg, const unsigned char *buf, size_t len)
{
    struct tls_conn *t = arg;
    assert(t->magic == CONN_MAGIC);
    if (t->out == NULL || len > INT_MAX)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    if (evbuffer_add(t->out, buf, len) < 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    t->last_sent_alert = len > 0 && buf[0] == REC_ALERT;
    return (int)len;
}

/* mbedTLS's receive callback: what cipher_in holds, at most len. Never returns 0,
 * which mbedTLS would take for the transport's end. */
static int on_recv(void *arg, unsigned char *buf, size_t len)
{
    struct tls_conn *t = arg;
    assert(t->magic == CONN_MAGIC);
    if (t->in == NULL)
        return MBEDTLS_ERR_SSL_WANT_READ;
    int n = evbuffer_remove(t->in, buf, len > INT_MAX ? INT_MAX : len);
    return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx)
{
    assert(ctx->magic == CTX_MAGIC);
    struct tls_conn *t = xcalloc(1, sizeof(*t));
    t->magic = CONN_MAGIC;
    t->state = ST_HANDSHAKE;
    mbedtls_ssl_init(&t->ssl);
    /* allocates the two record buffers, ~17KB each (MBEDTLS_SSL_{IN,OUT}_CONTENT_LEN) */
    if (mbedtls_ssl_setup(&t->ssl, &ctx->conf) != 0) {
        mbedtls_ssl_free(&t->ssl);
        t->magic = 0;
        free(t);
        return NULL;
    }
    mbedtls_ssl_set_bio(&t->ssl, t, on_send, on_recv, NULL);
    t->ctx = tls_ctx_ref(ctx);
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (t == NULL)
        return;
    assert(t->magic == CONN_MAGIC);
    mbedtls_ssl_free(&t->ssl);
    tls_ctx_unref(t->ctx);
    free(t->sni);
    t->magic = 0;
    free(t);
}

/* ---- errors ------------------------------------------------------------------- */

static int map_error(const struct tls_conn *t, int ret)
{
    switch (ret) {
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY: return TLS_E_CLOSED;
    case MBEDTLS_ERR_SSL_ALLOC_FAILED:
    case MBEDTLS_ERR_SSL_INTERNAL_ERROR:
    case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
    case MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE:
    /* WANT_WRITE cannot happen with on_send (see there): if it does, it is a bug */
    case MBEDTLS_ERR_SSL_WANT_WRITE: return TLS_E_INTERNAL;
    case MBEDTLS_ERR_SSL_INVALID_RECORD:
    case MBEDTLS_ERR_SSL_INVALID_MAC:
    case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD: return TLS_E_PROTOCOL;
    default: return t->state == ST_HANDSHAKE ? TLS_E_HANDSHAKE : TLS_E_PROTOCOL;
    }
}

/* The alert to send when mbedTLS gave up without sending one (it does for most
 * handshake failures, not for a malformed record: RFC 5246 7.2.2 asks for one). */
static unsigned char alert_for(int ret, int err)
{
    switch (ret) {
    case MBEDTLS_ERR_SSL_INVALID_MAC: return MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC;
    case MBEDTLS_ERR_SSL_INVALID_RECORD: return MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR;
    default: break;
    }
    if (err == TLS_E_INTERNAL)
        return MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR;
    return err == TLS_E_HANDSHAKE ? MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE
                                  : MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR;
}

/* Records a fatal mbedTLS error: the connection is over, an alert is queued in
 * cipher_out (unless the peer ended it with one of its own), and every later call
 * returns the same code. */
static int fail(struct tls_conn *t, int ret)
{
    int err = map_error(t, ret);
    char why[128];
    log_debug("tls", "conn %p: %s: %s (-0x%04x)", (void *)t, state_name(t->state),
              mbed_err(ret, why, sizeof(why)), (unsigned)-ret);
    if (err == TLS_E_CLOSED) {
        set_state(t, ST_CLOSED);
    } else {
        if (!t->last_sent_alert && ret != MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && t->out != NULL)
            mbedtls_ssl_send_alert_message(&t->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                           alert_for(ret, err));
        set_state(t, ST_FAILED);
    }
    t->err = err;
    return err;
}

/* ---- decrypt ------------------------------------------------------------------ */

/* Whether the handshake resumed a session: mbedTLS 2.28 has no accessor, and keeps
 * the flag in the handshake parameters (ssl_internal.h) that it frees at the end of
 * the handshake, so it is copied after every step. The flag is set when the client's
 * ticket decrypts and is still valid, before the ServerHello; from then on the
 * server cannot fall back to a full handshake. */
static void record_resume(struct tls_conn *t)
{
    if (t->ssl.handshake != NULL && t->ssl.handshake->resume)
        t->resumed = true;
}

/* Runs handshake steps while input lasts. Each step either advances the state or
 * consumes input, so the loop ends; MAX_IDLE_STEPS is a guard against a library
 * state that does neither. */
static int handshake(struct tls_conn *t)
{
    unsigned idle = 0;
    while (t->ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        size_t before = evbuffer_get_length(t->in);
        int prev = t->ssl.state;
        int ret = mbedtls_ssl_handshake_step(&t->ssl);
        record_resume(t);
        size_t left = evbuffer_get_length(t->in);
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
            /* a message mbedTLS skipped: go on while there is more to read */
            if (left > 0 && left < before)
                continue;
            return TLS_NEED_MORE;
        }
        if (ret != 0)
            return fail(t, ret);
        if (t->ssl.state == prev && left == before && ++idle > MAX_IDLE_STEPS)
            return fail(t, MBEDTLS_ERR_SSL_INTERNAL_ERROR);
    }
    log_debug("tls", "conn %p: %s, %s%s, sni %s", (void *)t, mbedtls_ssl_get_version(&t->ssl),
              mbedtls_ssl_get_ciphersuite(&t->ssl), t->resumed ? ", resumed" : "",
              t->sni ? t->sni : "-");
    set_state(t, ST_OPEN);
    return TLS_OK;
}

/* Decrypts records into plain_out until the input runs out. Plaintext goes straight
 * into space reserved in plain_out (mbedTLS's one copy out of its record buffer).
 * Sets *got when it added plaintext. */
static int read_records(struct tls_conn *t, struct evbuffer *plain_out, bool *got)
{
    for (;;) {
        /* don't reserve (and leave behind) a chain when there is nothing to read */
        if (evbuffer_get_length(t->in) == 0 && !mbedtls_ssl_check_pending(&t->ssl))
            return TLS_OK;
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(plain_out, MAX_RECORD, &v, 1) < 1)
            return fail(t, MBEDTLS_ERR_SSL_ALLOC_FAILED);
        size_t before = evbuffer_get_length(t->in);
        int ret = mbedtls_ssl_read(&t->ssl, v.iov_base, v.iov_len);
        if (ret > 0) {
            v.iov_len = (size_t)ret;
            evbuffer_commit_space(plain_out, &v, 1);
            *got = true;
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
            /* also returned after a record that carried no data (a refused
             * renegotiation, a warning alert): go on while there is more */
            size_t left = evbuffer_get_length(t->in);
            if (left > 0 && left < before)
                continue;
            return TLS_OK;
        }
        if (ret == 0)
            return TLS_OK; /* mbedTLS's "transport closed": on_recv never says so */
        return fail(t, ret);
    }
}

int tls_conn_decrypt(struct tls_conn *t, struct evbuffer *cipher_in, struct evbuffer *plain_out,
                     struct evbuffer *cipher_out)
{
    assert(t->magic == CONN_MAGIC);
    if (t->state == ST_FAILED || t->state == ST_CLOSED)
        return t->err;
    bool progress = false;
    int rc = TLS_OK;
    t->in = cipher_in;
    t->out = cipher_out;
    if (t->state == ST_HANDSHAKE) {
        rc = handshake(t);
        progress = rc == TLS_OK;
    }
    if (rc == TLS_OK)
        rc = read_records(t, plain_out, &progress);
    /* a record cut short waits for the rest (in_left: bytes of it read so far) */
    if (rc == TLS_OK && !progress && t->ssl.in_left > 0)
        rc = TLS_NEED_MORE;
    t->in = NULL;
    t->out = NULL;
    return rc;
}

/* ---- encrypt ------------------------------------------------------------------ */

/* Writes p[0..len); mbedTLS cuts it into records and on_send takes them all. */
static int write_all(struct tls_conn *t, const unsigned char *p, size_t len)
{
    while (len > 0) {
        int ret = mbedtls_ssl_write(&t->ssl, p, len);
        if (ret <= 0)
            return fail(t, ret == 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : ret);
        p += ret;
        len -= (size_t)ret;
    }
    return TLS_OK;
}

/* Small chains (a response head, chunk framing) are gathered into one full record
 * rather than sent as a record each, which would cost 29 bytes of framing apiece.
 * Per thread: a tls_conn is used by one thread at a time and never re-enters. */
static _Thread_local unsigned char stage[MAX_RECORD];

int tls_conn_encrypt(struct tls_conn *t, struct evbuffer *plain_in, struct evbuffer *cipher_out)
{
    assert(t->magic == CONN_MAGIC);
    if (t->state == ST_FAILED || t->state == ST_CLOSED)
        return t->err;
    if (t->state != ST_OPEN)
        return TLS_E_INTERNAL; /* the caller's mistake: nothing may be sent yet */
    int max = mbedtls_ssl_get_max_out_record_payload(&t->ssl);
    size_t rec = max > 0 && max < MAX_RECORD ? (size_t)max : MAX_RECORD;
    struct evbuffer_iovec vec[64];
    size_t staged = 0;
    int rc = TLS_OK;
    t->out = cipher_out;
    while (rc == TLS_OK && evbuffer_get_length(plain_in) > 0) {
        int n = evbuffer_peek(plain_in, -1, NULL, vec, (int)ARRAY_SIZE(vec));
        if (n > (int)ARRAY_SIZE(vec))
            n = (int)ARRAY_SIZE(vec);
        size_t used = 0;
        for (int i = 0; i < n && rc == TLS_OK; i++) {
            const unsigned char *p = vec[i].iov_base;
            size_t len = vec[i].iov_len;
            while (len > 0 && rc == TLS_OK) {
                size_t k;
                if (staged == 0 && len >= rec) {
                    k = rec; /* a full record straight from the chain */
                    rc = write_all(t, p, k);
                } else {
                    k = len < rec - staged ? len : rec - staged;
                    memcpy(stage + staged, p, k);
                    staged += k;
                    if (staged == rec) {
                        rc = write_all(t, stage, staged);
                        staged = 0;
                    }
                }
                p += k;
                len -= k;
                used += k;
            }
        }
        if (rc == TLS_OK && staged > 0 && evbuffer_get_length(plain_in) == used) {
            rc = write_all(t, stage, staged);
            staged = 0;
        }
        evbuffer_drain(plain_in, used);
    }
    t->out = NULL;
    return rc;
}

void tls_conn_close_notify(struct tls_conn *t, struct evbuffer *cipher_out)
{
    assert(t->magic == CONN_MAGIC);
    /* after the peer's close_notify ours answers it (RFC 5246 7.2.1) */
    if ((t->state != ST_OPEN && t->state != ST_CLOSED) || t->sent_close_notify)
        return;
    t->out = cipher_out;
    mbedtls_ssl_close_notify(&t->ssl);
    t->out = NULL;
    t->sent_close_notify = true;
}

/* ---- queries ------------------------------------------------------------------ */

int tls_conn_ready(const struct tls_conn *t)
{
    assert(t->magic == CONN_MAGIC);
    return t->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER;
}

const char *tls_conn_alpn(const struct tls_conn *t)
{
    assert(t->magic == CONN_MAGIC);
    return mbedtls_ssl_get_alpn_protocol(&t->ssl); /* points into ctx->alpn */
}

const char *tls_conn_sni(const struct tls_conn *t)
{
    assert(t->magic == CONN_MAGIC);
    return t->sni;
}

int tls_conn_resumed(const struct tls_conn *t)
{
    assert(t->magic == CONN_MAGIC);
    return t->resumed;
}

const char *tls_strerror(int err)
{
    switch (err) {
    case TLS_OK: return "ok";
    case TLS_NEED_MORE: return "more input needed";
    case TLS_E_HANDSHAKE: return "TLS handshake failed";
    case TLS_E_PROTOCOL: return "TLS protocol error";
    case TLS_E_CLOSED: return "TLS connection closed by the peer";
    case TLS_E_INTERNAL: return "TLS internal error";
    default: return "unknown TLS error";
    }
}

static char version[32];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void version_init(void)
{
    mbedtls_version_get_string_full(version); /* "mbed TLS 2.28.3": 18 bytes at most */
}

const char *tls_version(void)
{
    pthread_once(&version_once, version_init);
    return version;
}
