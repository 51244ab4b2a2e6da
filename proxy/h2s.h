/* SPDX-License-Identifier: Apache-2.0
 *
 * h2s: the server side of an HTTP/2 connection (RFC 9113), with nghttp2 doing the
 * framing, HPACK and flow control. Each stream becomes a struct req (req.c) and
 * goes through the same routing and origin code as HTTP/1.1 requests; response
 * bodies are handed to nghttp2 through a data source reading a per-stream
 * buffer, so back-pressure follows the client's flow-control window.
 *
 * Limits and defences: SETTINGS_MAX_CONCURRENT_STREAMS, a header list size and
 * an initial window from configuration; nghttp2's own caps on SETTINGS, PING and
 * RST floods and on HPACK table growth; a budget of streams reset or refused per
 * connection ("rapid reset") after which the connection is closed with
 * GOAWAY(ENHANCE_YOUR_CALM); and the idle timeout, which a client that holds a
 * zero window does not escape.
 *
 * Ownership: an h2s belongs to a client conn (conn.c) and uses its sock; when the
 * session ends it calls on_close(arg), after which the conn closes it with
 * h2s_close and frees it on a later loop turn with h2s_free.
 * Thread: the owning worker's.
 */
#ifndef TESSERA_H2S_H
#define TESSERA_H2S_H

#include "sock.h"

struct h2s;
struct worker;

/* Starts a session on `s` (whose input may already hold the client preface) and
 * sends our SETTINGS. Returns NULL when nghttp2 cannot be set up. */
struct h2s *h2s_new(struct worker *w, struct sock *s, const char *peer, void (*on_close)(void *),
                    void *arg);
void h2s_on_read(struct h2s *h);
void h2s_on_drained(struct h2s *h);
void h2s_on_event(struct h2s *h, enum sock_event ev);
/* Graceful shutdown: GOAWAY, finish open streams, then on_close. */
void h2s_drain(struct h2s *h);
/* Ends every stream at once (the connection is going away). Idempotent. */
void h2s_close(struct h2s *h);
void h2s_free(struct h2s *h);

#endif
