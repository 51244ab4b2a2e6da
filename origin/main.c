/* SPDX-License-Identifier: Apache-2.0
 *
 * tessera-origin: the demo origin (see origin.h). Parses the command line,
 * builds the catalogue, starts the workers, prints the one line tests parse
 * ("origin listening on HOST:PORT") and waits for SIGINT or SIGTERM with
 * sigwait in the main thread; the workers block those signals. Exit status 0
 * on a clean stop, 1 on a start-up error, 2 on a usage error.
 */
#include "catalogue.h"
#include "origin.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tessera-origin [-l ADDR] [-w THREADS] [-n PRODUCTS] [-q] [-v]\n"
            "  -l ADDR      listen address (default 127.0.0.1:9000; port 0 = ephemeral)\n"
            "  -w THREADS   worker threads, 1..%u (default 2)\n"
            "  -n PRODUCTS  catalogue size, 1..%u (default 1000)\n"
            "  -q           quiet: nothing on stderr but errors\n"
            "  -v           log one line per request on stderr\n"
            "Prints \"origin listening on HOST:PORT\" on stdout once bound.\n"
            "Endpoints: /api/product|price|reviews|recs/:id, /api/nav, /api/footer,\n"
            "  /api/category/:slug, /bench/2k, /bench/size/:n[?cl=1], /echo[?discard=1],\n"
            "  /status/:code, /slow-headers?ms=N, /__stats (requests, conditional\n"
            "  requests and 304 answers so far; not counting itself).\n"
            "Query on any endpoint: delay=MS cc=VALUE etag=1 lm=1 lmago=SECONDS sk=VALUE\n"
            "  close=1 hdr=Name:Value (up to 16, percent-encoded; replaces the endpoint's\n"
            "  own field of that name). /api/* answers carry Cache-Control: public,\n"
            "  max-age=60 and an ETag by default (etag=0 leaves the ETag out).\n",
            ORIGIN_MAX_WORKERS, CATALOGUE_MAX_PRODUCTS);
}

static bool parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

static void on_libevent_log(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_WARN)
        fprintf(stderr, "tessera-origin: libevent: %s\n", msg);
}

int main(int argc, char **argv)
{
    struct origin_config cfg = {.listen = "127.0.0.1:9000", .workers = 2};
    unsigned products = 1000;
    bool quiet = false;
    int opt;

    while ((opt = getopt(argc, argv, "l:w:n:qvh")) != -1) {
        switch (opt) {
        case 'l': cfg.listen = optarg; break;
        case 'w':
            if (!parse_unsigned(optarg, 1, ORIGIN_MAX_WORKERS, &cfg.workers)) {
                fprintf(stderr, "tessera-origin: -w %s: expected 1..%u\n", optarg,
                        ORIGIN_MAX_WORKERS);
                return 2;
            }
            break;
        case 'n':
            if (!parse_unsigned(optarg, 1, CATALOGUE_MAX_PRODUCTS, &products)) {
                fprintf(stderr, "tessera-origin: -n %s: expected 1..%u\n", optarg,
                        CATALOGUE_MAX_PRODUCTS);
                return 2;
            }
            break;
        case 'q':
            quiet = true;
            cfg.log_requests = false;
            break;
        case 'v': cfg.log_requests = !quiet; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    /* A peer that resets the connection must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    event_set_log_callback(on_libevent_log);
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "tessera-origin: evthread_use_pthreads failed\n");
        return 1;
    }

    char err[256] = "";
    struct catalogue *cat = catalogue_new(products);
    struct origin_server *srv = origin_server_new(&cfg, cat, err, sizeof(err));
    if (srv == NULL) {
        fprintf(stderr, "tessera-origin: %s\n", err);
        catalogue_free(&cat);
        return 1;
    }

    /* Block before the workers exist so they inherit the mask and only the
     * main thread receives the signals, in sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    if (origin_server_start(srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "tessera-origin: %s\n", err);
        origin_server_free(&srv);
        catalogue_free(&cat);
        return 1;
    }

    char addr[64];
    origin_server_address(srv, addr, sizeof(addr));
    printf("origin listening on %s\n", addr);
    fflush(stdout);
    if (!quiet)
        fprintf(stderr, "tessera-origin: %u products, %u workers\n", products, cfg.workers);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    if (!quiet)
        fprintf(stderr, "tessera-origin: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");

    origin_server_free(&srv);
    catalogue_free(&cat);
    libevent_global_shutdown();
    return 0;
}
