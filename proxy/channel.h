/* SPDX-License-Identifier: Apache-2.0
 *
 * channel: client channel classification (web, mobile, app, ...). A request is
 * matched against the generation's `channels` rules (struct cfg_channel, in file
 * order, the first match wins, the last rule is the default) and gets the name of
 * its channel, which picks templates and is part of the cache key.
 *
 * What the rules need beyond the parsed config (the user_agent automaton and the
 * Vary string) is built once per generation by cfg_load and freed with it; after
 * that everything here is read-only. Classification allocates nothing and keeps
 * no state between calls. Thread: any.
 */
#ifndef TESSERA_CHANNEL_H
#define TESSERA_CHANNEL_H

#include <stddef.h>

struct cfg;
struct h1_msg;

/* The most bytes of a User-Agent value searched for user_agent alternatives. The
 * search is one pass of a DFA (Aho-Corasick over all alternatives of all rules), so
 * its cost is linear in the bytes scanned whatever the rules; the cap bounds it
 * per request, and a text that starts beyond it is not seen. Real User-Agents are
 * a few hundred bytes; longer ones are padding or abuse. */
#define CHANNEL_UA_SCAN_MAX 1024

/* Returns the channel of the request head m (HTTP/1.1, or HTTP/2 mapped into the
 * same struct: header names in any case, one Cookie field per cookie allowed) with
 * the query query[0..qlen) (the raw query, without '?'; NULL when there is none).
 * The result is never NULL: it is one of cfg->channel_names.items, the same pointer
 * for the same name, valid as long as the caller holds its reference on cfg.
 *
 * Each condition reads the first occurrence of what it names: the first header
 * field line with that name (its whole value, compared exactly), the first cookie
 * of that name over all Cookie field lines (a value in DQUOTEs matches without
 * them), the first query parameter of that name (name and value compared after
 * percent-decoding; an invalid escape never matches; '+' is not a space), the first
 * User-Agent field line (see CHANNEL_UA_SCAN_MAX; ASCII case-insensitive). A
 * client_hint_mobile rule matches when Sec-CH-UA-Mobile is one field line that
 * parses as the RFC 8941 boolean true (parameters allowed).
 * Allocates nothing; does not re-enter the caller. */
const char *channel_classify(const struct cfg *cfg, const struct h1_msg *m, const char *query,
                             size_t qlen);

/* The request header fields the classification of cfg reads, as a Vary value
 * ("X-Channel, Sec-CH-UA-Mobile, User-Agent, Cookie": header conditions as written
 * in the config, in order of first use, each once), or "" when it reads none (a
 * single default channel, or query conditions only). Owned by cfg. */
const char *channel_vary(const struct cfg *cfg);

/* Cross-module internals, for cfg.c only: channel__cfg_init builds c->channel_ua
 * and c->channel_vary from the checked rules (c->channels with their kinds) at the
 * end of a successful cfg_load; channel__cfg_fini frees them (either may be NULL,
 * so it also runs on a generation that failed to load). */
void channel__cfg_init(struct cfg *c);
void channel__cfg_fini(struct cfg *c);

#endif
