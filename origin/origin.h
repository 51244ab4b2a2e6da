/* SPDX-License-Identifier: Apache-2.0
 *
 * origin: the demo origin server (tessera-origin). N worker threads, each with
 * its own event_base, evhttp and SO_REUSEPORT listening socket; the catalogue
 * is built once and shared read-only. Not the product: a fixture for the demo,
 * the end-to-end tests and loadtest/, built to stay out of the way of a proxy
 * doing tens of thousands of requests per second.
 * Thread: create, start, stop and free from one (the main) thread. The caller
 * must have called evthread_use_pthreads() before origin_server_new.
 */
#ifndef TESSERA_ORIGIN_H
#define TESSERA_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#define ORIGIN_MAX_WORKERS 64u

struct catalogue;
struct origin_server;

struct origin_config {
    const char *listen; /* "127.0.0.1:9000", "[::1]:0" or just "9000" (loopback) */
    unsigned workers;   /* 1..ORIGIN_MAX_WORKERS */
    bool log_requests;  /* one stderr line per request (-v) */
};

/* Binds and listens on cfg->listen and prepares the workers (not yet running).
 * `cat` is borrowed and must outlive the server. Returns NULL and writes a
 * message into err on failure. */
struct origin_server *origin_server_new(const struct origin_config *cfg,
                                        const struct catalogue *cat, char *err, size_t errlen);

/* Writes the bound address ("127.0.0.1:43125", IPv6 in brackets) into out. */
void origin_server_address(const struct origin_server *srv, char *out, size_t outlen);

/* Starts the worker threads. Returns 0, or -1 with a message in err. Block the
 * signals the caller wants to wait for before calling this: threads inherit the
 * mask. */
int origin_server_start(struct origin_server *srv, char *err, size_t errlen);

/* Stops every worker loop and joins the threads; idempotent. */
void origin_server_stop(struct origin_server *srv);

/* Stops if needed, closes the socket and frees everything, in-flight requests
 * included. Sets *srvp to NULL. */
void origin_server_free(struct origin_server **srvp);

#endif
