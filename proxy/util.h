/* SPDX-License-Identifier: Apache-2.0
 *
 * util: allocation that aborts with file:line on exhaustion, and small helpers.
 * Sizes that come from a peer must be capped by configuration before they reach
 * these functions. Thread: any.
 */
#ifndef TESSERA_UTIL_H
#define TESSERA_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define xmalloc(n) util__xmalloc((n), __FILE__, __LINE__)
#define xcalloc(n, m) util__xcalloc((n), (m), __FILE__, __LINE__)
#define xrealloc(p, n) util__xrealloc((p), (n), __FILE__, __LINE__)
#define xstrdup(s) util__xstrdup((s), __FILE__, __LINE__)
#define xstrndup(s, n) util__xstrndup((s), (n), __FILE__, __LINE__)

void *util__xmalloc(size_t n, const char *file, int line);
void *util__xcalloc(size_t n, size_t m, const char *file, int line);
void *util__xrealloc(void *p, size_t n, const char *file, int line);
char *util__xstrdup(const char *s, const char *file, int line);
char *util__xstrndup(const char *s, size_t n, const char *file, int line);

/* Case-insensitive comparison of a[0..alen) with the NUL-terminated b. */
int util_ieq(const char *a, size_t alen, const char *b);

/* A duration in milliseconds as the struct timeval libevent takes. */
#include <sys/time.h>
static inline struct timeval util_ms_tv(uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

/* Monotonic clock in milliseconds. */
uint64_t util_now_ms(void);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
