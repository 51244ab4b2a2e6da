/* SPDX-License-Identifier: Apache-2.0
 *
 * tls: server-side TLS with mbedTLS, kept behind this header so that the rest of
 * the server never sees an mbedtls_ type (mbedTLS 3.x and TLS 1.3 can follow).
 *
 * The module never touches sockets: it works on evbuffers ("memory BIO"). The
 * socket layer reads ciphertext into a buffer and calls tls_conn_decrypt, which
 * moves what it can decrypt into the plaintext buffer (running the handshake as
 * needed, and queueing handshake records to send); it calls tls_conn_encrypt to
 * turn plaintext into records before writing. Both may append ciphertext to
 * `cipher_out`, which the caller must then write to the socket.
 *
 * A tls_ctx holds the certificates (chosen by SNI, the first is the default),
 * the ALPN list, the session-ticket keys and the RNG; it is immutable after
 * tls_ctx_new, refcounted, and shared by all workers (mbedTLS contexts used by
 * several threads are guarded inside tls.c). A tls_conn belongs to one connection
 * and one thread.
 */
#ifndef TESSERA_TLS_H
#define TESSERA_TLS_H

#include <event2/buffer.h>
#include <stddef.h>

struct tls_ctx;
struct tls_conn;

/* One certificate chain and its private key, both PEM files. */
struct tls_cert_conf {
    const char *cert_file;
    const char *key_file;
};

struct tls_ctx_conf {
    const struct tls_cert_conf *certs; /* certs[0] is the default (no or unknown SNI) */
    size_t ncerts;
    const char *const *alpn; /* preference order, e.g. {"h2", "http/1.1", NULL} */
    int tickets;             /* session tickets (resumption) on/off */
    unsigned ticket_lifetime_s;
};

enum tls_err {
    TLS_OK = 0,
    TLS_NEED_MORE = 1,    /* not an error: more ciphertext is needed */
    TLS_E_HANDSHAKE = -1, /* handshake failed (alert queued in cipher_out) */
    TLS_E_PROTOCOL = -2,  /* bad record, MAC failure, ... */
    TLS_E_CLOSED = -3,    /* the peer sent close_notify */
    TLS_E_INTERNAL = -4,
};

/* Loads every certificate and key. Returns a context with one reference, or NULL
 * with *err set to a message naming the file and the reason (caller frees it).
 * Thread: any. */
struct tls_ctx *tls_ctx_new(const struct tls_ctx_conf *conf, char **err);
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);
void tls_ctx_unref(struct tls_ctx *ctx); /* NULL is allowed */

/* A server-side connection. Holds a reference to ctx. Returns NULL on failure. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx);
void tls_conn_free(struct tls_conn *t);

/* Consumes ciphertext from cipher_in, appends plaintext to plain_out and any
 * records to send (handshake, alerts) to cipher_out. Returns TLS_OK when it made
 * progress or has nothing left to do, TLS_NEED_MORE when the handshake or a record
 * waits for more bytes, or a negative tls_err (the connection must be closed
 * after writing cipher_out). */
int tls_conn_decrypt(struct tls_conn *t, struct evbuffer *cipher_in, struct evbuffer *plain_out,
                     struct evbuffer *cipher_out);

/* Moves all of plain_in into records appended to cipher_out. Only valid once the
 * handshake is done (tls_conn_ready). Returns TLS_OK or a negative tls_err. */
int tls_conn_encrypt(struct tls_conn *t, struct evbuffer *plain_in, struct evbuffer *cipher_out);

/* Appends a close_notify alert to cipher_out. */
void tls_conn_close_notify(struct tls_conn *t, struct evbuffer *cipher_out);

int tls_conn_ready(const struct tls_conn *t);        /* handshake finished */
const char *tls_conn_alpn(const struct tls_conn *t); /* "h2", "http/1.1" or NULL */
const char *tls_conn_sni(const struct tls_conn *t);  /* server name sent, or NULL */
int tls_conn_resumed(const struct tls_conn *t);      /* session was resumed */
const char *tls_strerror(int err);

/* "mbed TLS 2.28.3" */
const char *tls_version(void);

#endif
