/* SPDX-License-Identifier: Apache-2.0
 *
 * bench_evict: hit ratios of the L1 eviction policies (cache/l1.c) on synthetic
 * Zipf traces. Not a ctest case (no timed assertions in tests): run it by hand and
 * record the table in cache/EVICTION.md.
 *
 * The trace: `keys` distinct keys (default 100,000) whose popularity follows
 * Zipf(alpha) for alpha 0.8 and 1.0, ranks shuffled over the keys, `requests`
 * requests (default 2,000,000) from a fixed seed. Each key has a fixed body size
 * drawn from a small distribution (512 B 40%, 2 KiB 30%, 8 KiB 20%, 32 KiB 10%).
 * Every request goes through the real store, single-threaded: l1_lookup, and on a
 * miss obj_new + l1_insert of the key's object (the body is left unwritten: only
 * its size matters here). The cache holds 1% and 10% of the working set, the sum
 * of obj_size() over the distinct keys the trace requests, split over 16 shards as
 * in production. Prints a markdown table of object and byte hit ratios, then the
 * cost of a hit (l1_lookup + obj_unref) from one and from two threads.
 *
 *   bench_evict [requests [keys]]
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "l1.h"
#include "obj.h"

#define SHARDS 16
#define HEAD_LEN 120 /* a typical stored response head */

struct key {
    char text[40];
    size_t len;
    uint64_t lo, hi;
    size_t body;   /* body bytes */
    size_t charge; /* obj_size() of its object */
};

struct result {
    double obj_ratio, byte_ratio, seconds;
    struct l1_stats st;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
    return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct key *make_keys(size_t n)
{
    static const size_t sizes[] = {512, 2048, 8192, 32768};
    struct key *k = calloc(n, sizeof(*k));
    uint64_t seed = 7;
    size_t i;

    for (i = 0; i < n; i++) {
        XXH128_hash_t h;
        unsigned r = (unsigned)(splitmix(&seed) % 10);
        struct obj *o;

        k[i].len =
            (size_t)snprintf(k[i].text, sizeof(k[i].text), "GET|edge|/api/product/%zu|web", i);
        h = XXH3_128bits(k[i].text, k[i].len);
        k[i].lo = h.low64;
        k[i].hi = h.high64;
        k[i].body = sizes[r < 4 ? 0 : r < 7 ? 1 : r < 9 ? 2 : 3];
        o = obj_new(k[i].text, k[i].len, k[i].lo, k[i].hi, HEAD_LEN, k[i].body);
        k[i].charge = obj_size(o);
        obj_unref(&o);
    }
    return k;
}

/* Requests as key indexes: rank r (0-based) has weight 1/(r+1)^alpha; ranks are
 * assigned to keys by a random permutation. */
static uint32_t *make_trace(size_t nkeys, size_t nreq, double alpha, uint64_t seed)
{
    double *cdf = malloc(nkeys * sizeof(*cdf)), sum = 0;
    uint32_t *perm = malloc(nkeys * sizeof(*perm)), *trace = malloc(nreq * sizeof(*trace));
    size_t i;

    for (i = 0; i < nkeys; i++) {
        sum += 1.0 / pow((double)(i + 1), alpha);
        cdf[i] = sum;
        perm[i] = (uint32_t)i;
    }
    for (i = nkeys - 1; i > 0; i--) {
        size_t j = (size_t)(splitmix(&seed) % (i + 1));
        uint32_t t = perm[i];

        perm[i] = perm[j];
        perm[j] = t;
    }
    for (i = 0; i < nreq; i++) {
        double u = uniform01(&seed) * sum;
        size_t lo = 0, hi = nkeys - 1;

        while (lo < hi) { /* the first rank whose cdf reaches u */
            size_t mid = lo + (hi - lo) / 2;

            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        trace[i] = perm[lo];
    }
    free(cdf);
    free(perm);
    return trace;
}

static int replay(const struct key *keys, const uint32_t *trace, size_t nreq, size_t cache_bytes,
                  enum l1_policy policy, struct result *res)
{
    struct l1 *c = l1_new(cache_bytes, SHARDS, policy);
    uint64_t hits = 0, hit_bytes = 0, all_bytes = 0;
    double t0 = now_s();
    size_t i;

    if (c == NULL)
        return -1;
    for (i = 0; i < nreq; i++) {
        const struct key *k = &keys[trace[i]];
        struct obj *o = l1_lookup(c, k->text, k->len, k->lo, k->hi);

        all_bytes += k->body;
        if (o != NULL) {
            hits++;
            hit_bytes += k->body;
        } else {
            int rc;

            o = obj_new(k->text, k->len, k->lo, k->hi, HEAD_LEN, k->body);
            /* too large for a shard (small caches from small arguments): not
             * cached, as the proxy would do; counted in st.refused */
            if (o == NULL || ((rc = l1_insert(c, o)) != L1_OK && rc != L1_E_TOO_LARGE)) {
                fprintf(stderr, "bench_evict: insert failed\n");
                exit(1);
            }
        }
        obj_unref(&o);
    }
    res->seconds = now_s() - t0;
    res->obj_ratio = (double)hits / (double)nreq;
    res->byte_ratio = (double)hit_bytes / (double)all_bytes;
    l1_stats(c, &res->st);
    l1_free(c);
    return 0;
}

/* ---- the cost of a hit ---- */

#define HIT_KEYS 10000
#define HIT_LOOKUPS 5000000

struct hit_run {
    struct l1 *c;
    const struct key *keys;
    uint64_t seed, found;
};

static void *hit_loop(void *arg)
{
    struct hit_run *h = arg;
    size_t i;

    for (i = 0; i < HIT_LOOKUPS; i++) {
        const struct key *k = &h->keys[splitmix(&h->seed) % HIT_KEYS];
        struct obj *o = l1_lookup(h->c, k->text, k->len, k->lo, k->hi);

        h->found += o != NULL;
        obj_unref(&o);
    }
    return NULL;
}

/* ns per hit with `threads` threads looking up keys that are all cached. */
static double hit_cost(const struct key *keys, int threads)
{
    struct l1 *c = l1_new((size_t)1 << 30, SHARDS, L1_S3FIFO);
    struct hit_run runs[2];
    pthread_t t[2];
    double t0;
    int i;

    for (i = 0; i < HIT_KEYS; i++) {
        struct obj *o = obj_new(keys[i].text, keys[i].len, keys[i].lo, keys[i].hi, HEAD_LEN, 512);

        l1_insert(c, o);
        obj_unref(&o);
    }
    t0 = now_s();
    for (i = 0; i < threads; i++) {
        runs[i] = (struct hit_run){.c = c, .keys = keys, .seed = (uint64_t)i + 1};
        pthread_create(&t[i], NULL, hit_loop, &runs[i]);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (runs[i].found != HIT_LOOKUPS) {
            fprintf(stderr, "bench_evict: a cached key was not found\n");
            exit(1);
        }
    }
    t0 = now_s() - t0;
    l1_free(c);
    return t0 * 1e9 / HIT_LOOKUPS; /* wall time per lookup of one thread */
}

int main(int argc, char **argv)
{
    static const double alphas[] = {0.8, 1.0};
    static const double fractions[] = {0.01, 0.10};
    size_t nreq = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    size_t nkeys = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
    struct key *keys;
    double total = 0;
    int wins = 0, cells = 0;

    if (nreq == 0 || nkeys < 2) {
        fprintf(stderr, "usage: bench_evict [requests [keys]]\n");
        return 2;
    }
    keys = make_keys(nkeys);
    printf("%zu requests over %zu keys, bodies 512 B-32 KiB, %d shards, single thread\n\n", nreq,
           nkeys, SHARDS);
    printf("| Zipf alpha | cache (%% of working set) | S3-FIFO object | LRU object "
           "| S3-FIFO byte | LRU byte |\n");
    printf("|---|---|---|---|---|---|\n");
    for (size_t a = 0; a < 2; a++) {
        uint32_t *trace = make_trace(nkeys, nreq, alphas[a], 1000 + a);
        unsigned char *seen = calloc(nkeys, 1);
        size_t working = 0, distinct = 0, i;

        for (i = 0; i < nreq; i++) {
            if (!seen[trace[i]]) {
                seen[trace[i]] = 1;
                working += keys[trace[i]].charge;
                distinct++;
            }
        }
        for (size_t f = 0; f < 2; f++) {
            size_t cache = (size_t)((double)working * fractions[f]);
            struct result s3, lru;

            if (replay(keys, trace, nreq, cache, L1_S3FIFO, &s3) != 0 ||
                replay(keys, trace, nreq, cache, L1_LRU, &lru) != 0)
                return 1;
            total += s3.seconds + lru.seconds;
            cells++;
            wins += s3.obj_ratio > lru.obj_ratio && s3.byte_ratio > lru.byte_ratio;
            printf("| %.1f | %g%% (%.1f MB of %.1f MB, %zu keys) | %.2f%% | %.2f%% | %.2f%% "
                   "| %.2f%% |\n",
                   alphas[a], fractions[f] * 100, (double)cache / 1e6, (double)working / 1e6,
                   distinct, s3.obj_ratio * 100, lru.obj_ratio * 100, s3.byte_ratio * 100,
                   lru.byte_ratio * 100);
            if (s3.st.refused > 0)
                printf("|  | (%llu inserts refused: objects over %zu bytes) |  |  |  |  |\n",
                       (unsigned long long)s3.st.refused, cache / SHARDS / 8);
            fprintf(stderr,
                    "  alpha %.1f cache %g%%: s3fifo %.2fs (%llu promotions, %llu ghost hits, "
                    "index %.0f B/object), lru %.2fs\n",
                    alphas[a], fractions[f] * 100, s3.seconds, (unsigned long long)s3.st.promotions,
                    (unsigned long long)s3.st.ghost_hits,
                    (double)s3.st.index_bytes / (double)s3.st.objects, lru.seconds);
        }
        free(seen);
        free(trace);
    }
    printf("\nS3-FIFO ahead of LRU on both ratios in %d of %d cells; replay time %.1f s\n", wins,
           cells, total);
    if (nkeys >= HIT_KEYS)
        printf("hit cost (l1_lookup + obj_unref, %d keys cached): %.0f ns on 1 thread, "
               "%.0f ns per lookup on each of 2 threads\n",
               HIT_KEYS, hit_cost(keys, 1), hit_cost(keys, 2));
    free(keys);
    return 0;
}
