/* SPDX-License-Identifier: Apache-2.0
 *
 * purge: invalidation of stored responses in the memory cache (L1) by URL, by path
 * prefix or by tag (Surrogate-Key), hard (removed) or soft (marked stale: served
 * stale while refreshed, inside its stale-while-revalidate / stale-if-error
 * windows). The admin API (POST /purge, admin.c) and the PURGE method of the
 * public listeners (req.c) call purge_execute; the Redis L2 (l2_bus.c) calls
 * purge_apply for purges that other nodes published, watches local purges through
 * purge_set_observer to publish them and ban them in Redis, and tests L2 hits
 * with purge_matcher_test (the matcher purge_run uses).
 *
 * Matching reads each stored object's key (cache/key.h: host 'H', path 'P', query
 * 'Q' parts; channel, hook and Vary parts are ignored, so every channel, coding,
 * hook variant and Vary variant of a URL matches) and, for tags, its stored head.
 * A purge visits the whole store with l1_scan: it blocks the calling thread for
 * the scan (bounded lock holds: requests on other threads go on meanwhile).
 *
 * Thread: any; one purge at a time per store (l1_scan serialises them). The
 * counters are atomic. Nothing here re-enters the caller but the observer.
 */
#ifndef TESSERA_PURGE_H
#define TESSERA_PURGE_H

#include <stddef.h>
#include <stdint.h>

struct cfg;
struct evbuffer;
struct l1;

enum purge_kind {
    PURGE_URL,    /* one URL: host (when given), normalised path and query */
    PURGE_PREFIX, /* every URL whose normalised path starts with the value */
    PURGE_TAG,    /* every response whose Surrogate-Key holds the value as a token */
    PURGE_NKINDS
};

enum purge_err {
    PURGE_OK = 0,
    PURGE_E_VALUE = -1,    /* empty, or longer than PURGE_VALUE_MAX */
    PURGE_E_URL = -2,      /* a URL or prefix that does not normalise (key.h) */
    PURGE_E_HOST = -3,     /* a host with bytes no Host field has */
    PURGE_E_TAG = -4,      /* a tag with white space, ',' or control bytes */
    PURGE_E_NO_STORE = -5, /* purge_execute before purge_attach: no memory cache */
};

/* Longest url, prefix or tag, and host (bytes). Longer keys are never stored
 * (a key is at most 1 KB: proxy/worker_int.h, rc_state.key). */
#define PURGE_VALUE_MAX 4096
#define PURGE_HOST_MAX 256

/* One purge. The strings are the caller's and need not be NUL-terminated; they
 * are read during the call only. */
struct purge_req {
    enum purge_kind kind;
    const char *host; /* NULL: any host; else as in a Host field, "shop.example:8080" */
    size_t host_len;
    int https;         /* the host's scheme was https (":443" is then its default port);
                          with https == -1 either default port is accepted */
    const char *value; /* PURGE_URL: "/path?query" (origin-form); PURGE_PREFIX: a
                          path prefix "/category/"; PURGE_TAG: one tag */
    size_t value_len;
    int soft; /* 1: mark stale instead of removing */
};

/* "url", "prefix", "tag". Thread: any. */
const char *purge_kind_name(enum purge_kind kind);

/* The text of a purge_err. Thread: any. */
const char *purge_strerror(int err);

/* Fills pr->host, host_len, https, value and value_len from a URL given as
 * "http://host/path?q", "https://host/path?q" (host from the URL) or "/path?q"
 * (host untouched: the caller's, or NULL for any). A fragment ("#...") is dropped.
 * Refuses other schemes, a URL with userinfo and an empty host (PURGE_E_URL).
 * pr points into url afterwards. Returns 0 or a purge_err. Thread: any. */
int purge_req_set_url(struct purge_req *pr, const char *url, size_t len);

/* Purges the objects of `store` that pr matches at time `now` (seconds since the
 * epoch). For PURGE_URL the query is compared in the form the matching route of
 * `c` stores it (its cache.query keep/drop rules) and with every parameter kept
 * (fragments and routes without rules); c may be NULL (every parameter kept).
 * Hard: matching objects are removed, and so are the Vary markers of matching
 * URLs (all their variants become unreachable). Soft: each matching response that
 * is still fresh is replaced by a copy that expired at `now` and keeps the lengths
 * of its stale-while-revalidate and stale-if-error windows. *count gets the number
 * of matching responses (Vary variants counted, markers not). Counts the purge in
 * the metrics. Returns 0, or a purge_err (nothing purged) for a request that does
 * not normalise. Blocks for a scan of the whole store. Thread: any. */
int purge_run(struct l1 *store, const struct cfg *c, const struct purge_req *pr, int64_t now,
              size_t *count);

/* The store purge_execute purges: rcache's L1 (rc_start attaches it). Thread: any;
 * call once before serving. */
void purge_attach(struct l1 *store);

/* A function told about every purge purge_execute made (after it is done, on the
 * thread that asked for it): the Redis L2 deletes the same objects there and
 * publishes the purge to the other nodes. NULL removes it. Call before serving. */
typedef void purge_observer_cb(void *arg, const struct purge_req *pr);
void purge_set_observer(purge_observer_cb *fn, void *arg);

/* purge_run on the attached store at the current time, then the observer: what
 * the admin API and the PURGE method call. Returns 0 or a purge_err; a request
 * that does not normalise gets its error whether or not a store is attached,
 * PURGE_E_NO_STORE is for good requests only. */
int purge_execute(const struct cfg *c, const struct purge_req *pr, size_t *count);

/* purge_run on the attached store, without the observer: what the L2 runs for
 * a purge another node published. Returns as purge_execute. Thread: any. */
int purge_apply(const struct cfg *c, const struct purge_req *pr, int64_t now, size_t *count);

/* Removes every object of the attached store (none attached: nothing) and
 * returns the number of responses removed (Vary markers not counted). For the L2
 * when it may have missed purges. Blocks for a scan. Thread: any. */
size_t purge_flush(void);

/* A copy of response o expired at `now`, keeping the lengths of its
 * stale-while-revalidate and stale-if-error windows: what a soft purge stores.
 * NULL when out of memory. Thread: any. */
struct obj *purge_obj_expired(const struct obj *o, int64_t now);

/* A purge request normalised once, for testing objects against it later: the
 * matcher purge_run uses (the Redis L2's ban list keeps one per purge). It holds
 * copies of what it needs: pr's strings may go after purge_matcher_new.
 * purge_matcher_new returns 0 or a purge_err (then *out is NULL).
 * purge_matcher_test returns 1 when purge_run with pr would purge o (a response
 * that matches, or a Vary marker of a matching URL for a hard purge), never
 * looking at times; it reads only and may run on any number of threads at once.
 * Thread: any. */
struct purge_matcher;
struct obj;
int purge_matcher_new(const struct cfg *c, const struct purge_req *pr, struct purge_matcher **out);
int purge_matcher_test(const struct purge_matcher *pm, const struct obj *o);
void purge_matcher_free(struct purge_matcher **pmp);

/* Writes tessera_purges_total{kind=...} and tessera_purged_objects_total
 * (Prometheus text) to out. Thread: any. */
void purge_metrics(struct evbuffer *out);

#endif
