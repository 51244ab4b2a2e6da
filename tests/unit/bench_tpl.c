/* SPDX-License-Identifier: Apache-2.0
 *
 * bench_tpl: the cost of rendering the demo's product page (route /product/:id
 * of conf/tessera.lua, template pages/product) with the template engine
 * (proxy/render/). Not a ctest case (no timed assertions in tests): run it by
 * hand.
 *
 * Templates: the repository's own, read from ROOT/templates the way the proxy
 * reads them (proxy/cfg.c, template_load): NAME is templates/<channel>/NAME.<ext>,
 * else templates/NAME.<ext>, with ext tried in the order .html.mustache,
 * .json.mustache, .txt.mustache and the escaping tpl_escape_for_file gives the
 * file. One set per channel of the demo: web (the shared templates: there is no
 * templates/web/), mobile (templates/mobile/ has its own page, header, reviews
 * and recommendations) and app (templates/app/, JSON).
 *
 * Data: ROOT/tests/unit/fixtures/bench-product.json, the object proxy/page.c
 * builds for the route: one key per fragment (product, price, reviews, recs, nav,
 * footer), each shaped like the demo origin's answer to the fragment's path
 * (origin/catalogue.c), scaled up to 20 reviews, 20 recommendations, 20 nav
 * categories and a long description so that the web page is about 30 KB
 * (product names and ids follow the catalogue's rules). As page.c does, the
 * bench adds "channel" (the channel's name) to it.
 *
 * Prints, per channel, the templates compiled and the page size; then the time of
 * `renders` renders of each channel's page from one thread, and of the web page
 * from two threads at once (`renders` each): the CPU time of one render and the
 * pages one core renders per second (from the threads' CPU clocks, so another
 * process running does not count), then pages/s and output MB/s of all the
 * threads together (wall clock). A note follows a line whose threads had less
 * than 90% of a CPU each: its throughput is not the engine's. Exits 1 when a
 * template does not compile, a render fails or differs in size from the first,
 * the app page is not valid JSON, or the web page is outside 20-40 KB (a broken
 * fixture); the timings run only when the first render of each page was right.
 *
 *   bench_tpl [renders [root]]
 *
 * renders: default 20,000; root: the repository, default the source directory
 * the bench was built from (TESSERA_SOURCE_DIR, set by CMakeLists.txt). Time the
 * optimised build (build/, RelWithDebInfo): cmake --build build --target
 * bench_tpl && build/bench_tpl. The sanitizer build checks it with fewer renders:
 * build-sanitize/bench_tpl 200.
 */
#include "render/tpl.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#ifndef TESSERA_SOURCE_DIR
#define TESSERA_SOURCE_DIR "."
#endif

#define FIXTURE "tests/unit/fixtures/bench-product.json"
#define PAGE "pages/product"
#define WEB_MIN (20u << 10) /* the web page's size, when the fixture is right */
#define WEB_MAX (40u << 10)

/* The channels of conf/tessera.lua, in its order: web, the default, first. */
static const char *const channels[] = {"web", "mobile", "app"};
#define NCHANNELS (sizeof(channels) / sizeof(channels[0]))

/* The fragments of /product/:id in conf/tessera.lua: the keys of the fixture. */
static const char *const fragments[] = {"product", "price", "reviews", "recs", "nav", "footer"};

/* As cfg.c's template_exts: the first that exists is the template. */
static const char *const exts[] = {".html.mustache", ".json.mustache", ".txt.mustache"};

/* The loader of one channel's set (cfg.c's struct tpl_files, without the
 * config's messages). */
struct files {
    const char *dir;     /* ROOT/templates */
    const char *channel; /* its overrides are in dir/<channel>/ */
    char *text;          /* the last file read, handed to the set until the next call */
    size_t cap;
    char file[PATH_MAX]; /* its path */
    unsigned loaded;     /* templates handed to the set */
};

/* Reads f->file into f->text. Returns 0, 1 when there is no such file, or -1. */
static int read_file(struct files *f, size_t *len)
{
    FILE *fp = fopen(f->file, "rb");
    size_t n = 0;

    if (fp == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        fprintf(stderr, "bench_tpl: %s: %s\n", f->file, strerror(errno));
        return -1;
    }
    for (;;) {
        if (n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 4096;
            f->text = realloc(f->text, f->cap);
            if (f->text == NULL) {
                fprintf(stderr, "bench_tpl: out of memory\n");
                exit(1);
            }
        }
        size_t r = fread(f->text + n, 1, f->cap - n, fp);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(fp)) {
        fprintf(stderr, "bench_tpl: %s: read error\n", f->file);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    *len = n;
    return 0;
}

/* tpl_load_cb: the channel's file first, then the shared one. */
static int load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    struct files *f = arg;

    for (int shared = 0; shared < 2; shared++) {
        for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
            int n = shared ? snprintf(f->file, sizeof(f->file), "%s/%.*s%s", f->dir, (int)len, name,
                                      exts[i])
                           : snprintf(f->file, sizeof(f->file), "%s/%s/%.*s%s", f->dir, f->channel,
                                      (int)len, name, exts[i]);
            size_t size = 0;
            if (n < 0 || (size_t)n >= sizeof(f->file))
                return TPL_E_LOAD;
            int rc = read_file(f, &size);
            if (rc < 0)
                return TPL_E_LOAD;
            if (rc > 0)
                continue;
            int esc = tpl_escape_for_file(f->file);
            src->text = f->text;
            src->len = size;
            src->file = f->file;
            src->escape = esc < 0 ? TPL_ESCAPE_NONE : (enum tpl_escape)esc;
            f->loaded++;
            return 0;
        }
    }
    return TPL_E_NOT_FOUND;
}

/* file without the root's prefix, for the output. */
static const char *relative(const char *file, const char *root)
{
    size_t n = strlen(root);

    if (strncmp(file, root, n) != 0)
        return file;
    while (file[n] == '/')
        n++;
    return file + n;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

struct run {
    const struct tpl *t;
    const json_t *data;
    long renders;
    size_t size; /* of the page: every render gives the same bytes */
    size_t bytes;
    double cpu; /* seconds of CPU the thread used */
    int failed;
};

static void *render_loop(void *arg)
{
    struct run *r = arg;
    struct evbuffer *out = evbuffer_new();
    struct tpl_error err;
    double cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);

    for (long i = 0; i < r->renders; i++) {
        int rc = tpl_render(r->t, r->data, NULL, out, &err);
        size_t n = evbuffer_get_length(out);
        if (rc != 0 || n != r->size) {
            if (!r->failed)
                fprintf(stderr, "bench_tpl: render %ld: %s (%zu bytes, not %zu)\n", i,
                        rc != 0 ? err.msg : "size differs", n, r->size);
            r->failed = 1;
        }
        r->bytes += n;
        evbuffer_drain(out, n);
    }
    r->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    evbuffer_free(out);
    return NULL;
}

/* Builds the channel's page in set, renders it once into *size bytes and prints
 * that. Returns 1 when it does not compile or render, or is a JSON page that is
 * not JSON. */
static int first_page(struct files *f, const char *root, struct tpl_set *set, const json_t *data,
                      const struct tpl **page, size_t *size)
{
    struct evbuffer *out = evbuffer_new();
    struct tpl_error err;
    json_error_t jerr;
    double t0 = now_s();
    int rc = tpl_set_add(set, PAGE, page, &err);
    double compile_us = (now_s() - t0) * 1e6;

    if (rc == 0)
        rc = tpl_render(*page, data, NULL, out, &err);
    if (rc != 0) {
        fprintf(stderr, "bench_tpl: %s: %s\n", f->channel, err.msg);
        evbuffer_free(out);
        return 1;
    }
    *size = evbuffer_get_length(out);
    printf("%-7s %-46s %2u templates in %7.1f us, page %6zu bytes (%.1f KB)\n", f->channel,
           relative(tpl_file(*page), root), f->loaded, compile_us, *size, (double)*size / 1024);
    if (tpl_escape_for_file(tpl_file(*page)) == TPL_ESCAPE_JSON) {
        json_t *v = json_loadb((const char *)evbuffer_pullup(out, -1), *size, 0, &jerr);
        if (v == NULL) {
            fprintf(stderr, "bench_tpl: %s: the page is not JSON: %d:%d: %s\n", f->channel,
                    jerr.line, jerr.column, jerr.text);
            rc = 1;
        }
        json_decref(v);
    }
    evbuffer_free(out);
    return rc != 0;
}

#define MAX_THREADS 2

/* Renders t `renders` times from each of `threads` threads at once and prints a
 * line: the CPU time of a render and the pages a core renders per second (from
 * the threads' CPU clocks: what other processes do does not count), then pages/s
 * and MB/s of all the threads together (wall clock). Returns 1 when a render
 * failed. */
static int timed(const char *channel, int threads, const struct tpl *t, const json_t *data,
                 long renders, size_t size)
{
    struct run runs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    double cpu = 0, t0 = now_s(), wall;
    size_t bytes = 0;
    int failed = 0;

    for (int i = 0; i < threads; i++)
        runs[i] = (struct run){t, data, renders, size, 0, 0, 0};
    if (threads == 1) {
        render_loop(&runs[0]);
    } else {
        for (int i = 0; i < threads; i++) {
            if (pthread_create(&th[i], NULL, render_loop, &runs[i]) != 0) {
                fprintf(stderr, "bench_tpl: pthread_create failed\n");
                exit(1);
            }
        }
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
    }
    wall = now_s() - t0;
    for (int i = 0; i < threads; i++) {
        cpu += runs[i].cpu;
        bytes += runs[i].bytes;
        failed |= runs[i].failed;
    }
    long total = renders * threads;
    printf("%-7s %d thread%s %9ld renders %8.2f us/render %8.0f pages/s/core %8.0f pages/s "
           "%7.1f MB/s\n",
           channel, threads, threads > 1 ? "s" : " ", total, cpu * 1e6 / (double)total,
           (double)total / cpu, (double)total / wall, (double)bytes / wall / 1e6);
    if (cpu < 0.9 * wall * threads)
        printf("        (the threads had %.0f%% of a CPU each: other processes ran)\n",
               100 * cpu / (wall * threads));
    return failed;
}

int main(int argc, char **argv)
{
    long renders = argc > 1 ? atol(argv[1]) : 20000;
    const char *root = argc > 2 ? argv[2] : TESSERA_SOURCE_DIR;
    char dir[PATH_MAX], path[PATH_MAX];
    struct files files[NCHANNELS];
    struct tpl_set *sets[NCHANNELS] = {NULL};
    const struct tpl *pages[NCHANNELS] = {NULL};
    json_t *data[NCHANNELS] = {NULL};
    size_t sizes[NCHANNELS] = {0};
    json_error_t jerr;
    int failed = 0;

    if (renders < 1 || argc > 3) {
        fprintf(stderr, "usage: bench_tpl [renders [root]]\n");
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s/templates", root);
    snprintf(path, sizeof(path), "%s/%s", root, FIXTURE);
    json_t *fixture = json_load_file(path, 0, &jerr);
    if (fixture == NULL) {
        fprintf(stderr, "bench_tpl: %s:%d: %s\n", path, jerr.line, jerr.text);
        return 1;
    }
    for (size_t i = 0; i < sizeof(fragments) / sizeof(fragments[0]); i++) {
        if (json_object_get(fixture, fragments[i]) == NULL) {
            fprintf(stderr, "bench_tpl: %s: no fragment \"%s\"\n", path, fragments[i]);
            failed = 1;
        }
    }
    printf("templates %s, data %s\n", dir, path);

    for (size_t c = 0; c < NCHANNELS && !failed; c++) {
        files[c] = (struct files){dir, channels[c], NULL, 0, "", 0};
        struct tpl_set_opts so = {load, &files[c], 0, 0};
        sets[c] = tpl_set_new(&so);
        /* page.c's data: the fragments and the channel (a shallow copy each) */
        data[c] = json_copy(fixture);
        json_object_set_new(data[c], "channel", json_string(channels[c]));
        failed = first_page(&files[c], root, sets[c], data[c], &pages[c], &sizes[c]);
        free(files[c].text); /* the set is built: the loader is done */
    }
    if (!failed && (sizes[0] < WEB_MIN || sizes[0] > WEB_MAX)) {
        fprintf(stderr, "bench_tpl: the web page is %zu bytes, not %u-%u: check %s\n", sizes[0],
                WEB_MIN, WEB_MAX, path);
        failed = 1;
    }

    if (!failed) { /* no timings for a page that is not the one meant */
        for (size_t c = 0; c < NCHANNELS; c++)
            failed |= timed(channels[c], 1, pages[c], data[c], renders, sizes[c]);
        failed |= timed(channels[0], MAX_THREADS, pages[0], data[0], renders, sizes[0]);
        if (sysconf(_SC_NPROCESSORS_ONLN) < MAX_THREADS)
            printf("(fewer online CPUs than threads: the threads took turns)\n");
    }
    for (size_t c = 0; c < NCHANNELS; c++) {
        json_decref(data[c]);
        tpl_set_free(sets[c]);
    }
    json_decref(fixture);
    return failed;
}
