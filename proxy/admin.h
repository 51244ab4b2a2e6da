/* SPDX-License-Identifier: Apache-2.0
 *
 * admin: the admin listener on the main thread's loop (libevent's evhttp: it is
 * not on any request path). GET /metrics answers Prometheus text: the memory
 * cache's gauges, the purge counters and, per route of the running generation,
 * the cache outcome counters. POST /purge (with `Authorization: Bearer <token>`,
 * the token of admin.token_file) purges by url, prefix or tag (proxy/purge.h);
 * the scan runs on the main thread, which serves no client requests. Thread: main.
 */
#ifndef TESSERA_ADMIN_H
#define TESSERA_ADMIN_H

#include <event2/event.h>

struct cfg;

/* Listens on c->admin->addr when set. `current` is read on every request (the
 * main thread swaps it on reload). Returns 0, or -1 after logging why. */
int admin_start(struct event_base *base, const struct cfg *c, struct cfg *const *current);
void admin_stop(void);

#endif
