/* SPDX-License-Identifier: Apache-2.0
 *
 * main: the command line and the main thread. The main thread loads the
 * configuration, starts the workers and then only handles signals:
 *   SIGTERM, SIGINT  drain (stop accepting, finish in-flight requests for up to
 *                    timeouts.drain) and exit 0;
 *   SIGHUP           load the file again; a valid generation replaces the current
 *                    one for new requests, an invalid one is logged and ignored;
 *   SIGUSR1          reopen the log files.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <luajit.h>
#include <nghttp2/nghttp2.h>
#include <lua.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "cfg.h"
#include "jarena.h"
#include "l2.h"
#include "l2_bus.h"
#include "admin.h"
#include "log.h"
#include "rcache.h"
#include "tls.h"
#include "worker.h"

static struct cfg *current;
static const char *cfg_path;
static struct event_base *main_base;
static struct event *drain_timer;
static int draining;

static void usage(FILE *out)
{
    fprintf(out, "usage: tessera [-c FILE] [-t] [-v] [--help] [--help-config]\n"
                 "  -c, --config FILE  configuration file (default conf/tessera.lua)\n"
                 "  -t, --test         check the configuration and exit 0 (valid) or 1\n"
                 "  -v, --version      print the version and the linked libraries' versions\n"
                 "  -h, --help         this text\n"
                 "      --help-config  every configuration key with its type, default and use\n"
                 "signals: TERM/INT drain and exit, HUP reloads the configuration,\n"
                 "         USR1 reopens the log files\n");
}

static void version(void)
{
    printf("tessera %s\n", TESSERA_VERSION);
    printf("libevent %s\n", event_get_version());
    printf("%s\n", LUAJIT_VERSION);
    printf("xxhash %u.%u.%u\n", XXH_VERSION_MAJOR, XXH_VERSION_MINOR, XXH_VERSION_RELEASE);
    printf("nghttp2 %s\n", nghttp2_version(0)->version_str);
    printf("%s\n", tls_version());
    printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
}

static void on_all_done(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopexit(main_base, NULL);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    log_warn("main", "drain timeout reached with requests still in flight; exiting");
    exit(0);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        if (draining)
            return;
        draining = 1;
        log_info("main", "%s: draining (up to %llums)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 (unsigned long long)current->timeouts.drain_ms);
        srv_drain();
        struct timeval tv = {(time_t)(current->timeouts.drain_ms / 1000),
                             (suseconds_t)((current->timeouts.drain_ms % 1000) * 1000)};
        drain_timer = evtimer_new(main_base, on_drain_timeout, NULL);
        evtimer_add(drain_timer, &tv);
        break;
    case SIGHUP: {
        struct cfg *next = cfg_load(cfg_path, stderr);
        if (next == NULL) {
            log_err("main", "SIGHUP: %s is invalid; keeping the running configuration", cfg_path);
            return;
        }
        struct tls_ctx **tls = srv_tls_load(next, stderr);
        if (tls == NULL) {
            log_err("main",
                    "SIGHUP: %s: a certificate failed to load; keeping the running "
                    "configuration",
                    cfg_path);
            cfg_unref(next);
            return;
        }
        if (next->workers != current->workers || next->nlisten != current->nlisten)
            log_warn("main", "SIGHUP: workers and listen changes take effect on restart");
        if (l2_conf_changed(current, next))
            log_warn("main", "SIGHUP: cache.redis changes take effect on restart");
        log_set_level((int)next->log.level);
        srv_reload(next, tls); /* certificates are reloaded too */
        srv_tls_free(tls, next->nlisten);
        cfg_unref(current);
        current = next;
        log_info("main", "SIGHUP: configuration reloaded from %s", cfg_path);
        break;
    }
    case SIGUSR1: srv_reopen_logs(); break;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {"help-config", no_argument, NULL, 'H'},  {NULL, 0, NULL, 0},
    };
    int test_only = 0, ch;
    jarena_install(); /* before any thread, and before jansson allocates */
    cfg_path = "conf/tessera.lua";
    while ((ch = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': cfg_path = optarg; break;
        case 't': test_only = 1; break;
        case 'v': version(); return 0;
        case 'h': usage(stdout); return 0;
        case 'H': cfg_help(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    current = cfg_load(cfg_path, stderr);
    struct tls_ctx **tls = current ? srv_tls_load(current, stderr) : NULL;
    if (test_only) {
        if (current == NULL || tls == NULL) {
            fprintf(stderr, "tessera: %s: configuration is invalid\n", cfg_path);
            return 1;
        }
        fprintf(stderr, "tessera: %s: configuration is valid\n", cfg_path);
        srv_tls_free(tls, current->nlisten);
        cfg_unref(current);
        return 0;
    }
    if (current == NULL || tls == NULL)
        return 1;
    log_set_level((int)current->log.level);
    if (current->log.error != NULL && log_open(current->log.error) < 0) {
        fprintf(stderr, "tessera: log.error: cannot open %s: %s\n", current->log.error,
                strerror(errno));
        return 1;
    }
    if (srv_access_open(current->log.access) < 0) {
        fprintf(stderr, "tessera: log.access: cannot open %s: %s\n", current->log.access,
                strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Before any event_base exists: workers wake the main loop (all_done) and the
     * main thread wakes workers (reload, drain) across threads. */
    evthread_use_pthreads();
    main_base = event_base_new();
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct event *ev = evsignal_new(main_base, sigs[i], on_signal, NULL);
        event_add(ev, NULL);
    }
    if (rc_start(current->cache.memory) < 0) {
        fprintf(stderr, "tessera: cache.memory: cannot set up the cache\n");
        return 1;
    }
    if (srv_start(current, tls, main_base, on_all_done, NULL) < 0)
        return 1;
    srv_tls_free(tls, current->nlisten); /* the workers hold their own references */
    if (admin_start(main_base, current, &current) < 0)
        return 1;
    /* Cross-node purges and the L2's ban list, on this thread (l2_bus.h). */
    struct l2_bus *bus =
        current->cache.redis != NULL ? l2_bus_new(main_base, current->cache.redis, &current) : NULL;
    log_info("main", "tessera %s started: %u workers, config %s", TESSERA_VERSION, current->workers,
             cfg_path);
    event_base_dispatch(main_base);
    srv_join();
    l2_bus_free(&bus);
    log_info("main", "stopped");
    return 0;
}
