/* SPDX-License-Identifier: Apache-2.0
 *
 * worker: the event-loop threads. srv_* is the main thread's side: it opens the
 * listening sockets (one SO_REUSEPORT socket per worker per address), starts the
 * workers, hands them new configuration generations on reload and asks them to
 * drain on shutdown. Each worker owns an event_base, its listeners, its client
 * connections and its upstream pools; nothing of a worker is touched by another
 * thread except through the notifications below (event_active on events created
 * with evthread support).
 */
#ifndef TESSERA_WORKER_H
#define TESSERA_WORKER_H

#include <event2/event.h>
#include <stdio.h>

struct cfg;
struct tls_ctx;

/* Opens the listeners of `c` for c->workers workers and starts the threads, each
 * running with a reference to `c`. Port 0 in a listen address picks one free port
 * shared by all workers. Writes "tessera listening on ADDR:PORT" to stderr for each
 * address. `main_base` is notified (on_all_done) when every worker has exited.
 * Returns 0, or -1 after logging why. Thread: main. */
int srv_start(struct cfg *c, struct tls_ctx **tls, struct event_base *main_base,
              event_callback_fn on_all_done, void *arg);

/* Builds the TLS contexts of c's listeners (NULL entries for plain ones), loading
 * and checking every certificate and key. Returns an array of c->nlisten, or NULL
 * after writing the errors to `err`. Used by `-t`, start and reload. Thread: any. */
struct tls_ctx **srv_tls_load(const struct cfg *c, FILE *err);
void srv_tls_free(struct tls_ctx **tls, size_t n);

/* Makes `c` (and its TLS contexts, whose references it takes over) what new
 * requests and handshakes use; requests in flight finish on theirs. Listener
 * changes are not applied (logged). Thread: main. */
void srv_reload(struct cfg *c, struct tls_ctx **tls);

/* Asks every worker to stop accepting, finish in-flight requests, close idle
 * connections, and exit its loop. Thread: main. */
void srv_drain(void);

/* Joins the worker threads that have exited. Thread: main. */
void srv_join(void);

/* Access log destination ("-" stdout, a path, or NULL for off); reopened by
 * srv_reopen_logs() on SIGUSR1 together with the error log. Thread: main. */
int srv_access_open(const char *path);
void srv_reopen_logs(void);

#endif
