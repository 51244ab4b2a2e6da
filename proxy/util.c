/* SPDX-License-Identifier: Apache-2.0
 *
 * util: aborting allocators and small string/clock helpers (see util.h).
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void oom(size_t n, const char *file, int line)
{
    fprintf(stderr, "tessera: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *util__xmalloc(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n, file, line);
    return p;
}

void *util__xcalloc(size_t n, size_t m, const char *file, int line)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (p == NULL)
        oom(n * m, file, line);
    return p;
}

void *util__xrealloc(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n, file, line);
    return q;
}

char *util__xstrdup(const char *s, const char *file, int line)
{
    return util__xstrndup(s, strlen(s), file, line);
}

char *util__xstrndup(const char *s, size_t n, const char *file, int line)
{
    char *p = util__xmalloc(n + 1, file, line);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int util_ieq(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

uint64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
