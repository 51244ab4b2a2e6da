/* SPDX-License-Identifier: Apache-2.0
 *
 * access: one access-log line per request, "combined" (with timing fields
 * appended) or JSON, per log.format. Each worker formats into its own buffer and
 * writes it with one write(2) when it holds 32 KB, after at most one second, or
 * when the worker stops, so logging costs no lock and no syscall per request.
 * The descriptor number never changes after it is opened; SIGUSR1 reopens the
 * file in place (dup2), like the error log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hookrun.h"
#include "log.h"
#include "util.h"
#include "worker.h"
#include "worker_int.h"

#define FLUSH_AT (32 * 1024)

static int access_fd = -1;
static char *access_path;

int access__enabled(void)
{
    return access_fd >= 0;
}

int srv_access_open(const char *path)
{
    if (path == NULL)
        return 0;
    if (strcmp(path, "-") == 0) {
        access_fd = 1;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    access_fd = fd;
    free(access_path);
    access_path = xstrdup(path);
    return 0;
}

void srv_reopen_logs(void)
{
    if (log_reopen() < 0)
        log_err("log", "reopening the error log: %s", strerror(errno));
    if (access_path == NULL)
        return;
    int fd = open(access_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_err("log", "reopening %s: %s", access_path, strerror(errno));
        return;
    }
    dup2(fd, access_fd);
    close(fd);
    log_info("log", "logs reopened");
}

void access__flush(struct worker *w)
{
    struct evbuffer *b = w->access_buf;
    while (evbuffer_get_length(b) > 0) {
        int n = evbuffer_write(b, access_fd);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            evbuffer_drain(b, evbuffer_get_length(b)); /* never block a worker on a log */
            break;
        }
    }
}

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    access__flush(arg);
}

/* JSON string body escaping (RFC 8259 7) of untrusted request bytes. */
static void add_json_str(struct evbuffer *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            evbuffer_add_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            evbuffer_add_printf(b, "\\u%04x", ch);
        else
            evbuffer_add(b, s + i, 1);
    }
}

/* Combined format quotes fields; quotes and non-printables are escaped \xHH. */
static void add_quoted(struct evbuffer *b, const char *s, size_t n)
{
    if (n == 0) {
        evbuffer_add(b, "-", 1);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f)
            evbuffer_add_printf(b, "\\x%02X", ch);
        else
            evbuffer_add(b, s + i, 1);
    }
}

void access__log(struct req *c)
{
    if (access_fd < 0 || c->cfg == NULL)
        return;
    struct worker *w = c->w;
    struct evbuffer *b = w->access_buf;
    double dur = (double)(util_now_ms() - c->start_ms) / 1000.0;
    double up = c->fwd.up_start_ms ? (double)c->fwd.up_ms / 1000.0 : -1;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char when[64];
    if (c->cfg->log.format == CFG_LOG_JSON) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        evbuffer_add_printf(
            b, "{\"time\":\"%s\",\"worker\":%u,\"id\":%llu,\"client\":\"%s\",\"method\":\"", when,
            w->id, (unsigned long long)c->id, c->peer);
        add_json_str(b, c->method, strlen(c->method));
        evbuffer_add(b, "\",\"path\":\"", 10);
        add_json_str(b, c->target ? c->target : "", c->target_len);
        evbuffer_add_printf(b, "\",\"status\":%d,\"bytes\":%llu,\"duration\":%.3f,", c->status,
                            (unsigned long long)c->bytes_out, dur);
        if (up >= 0)
            evbuffer_add_printf(b, "\"upstream_time\":%.3f,", up);
        else
            evbuffer_add(b, "\"upstream_time\":null,", 21);
        if (c->cache_status[0] != '\0') {
            evbuffer_add(b, "\"cache\":\"", 9);
            add_json_str(b, c->cache_status, strlen(c->cache_status));
            evbuffer_add(b, "\"", 1);
        } else {
            evbuffer_add(b, "\"cache\":null", 12);
        }
        const char *extra = c->hk != NULL ? hookrun_log_fields(c, 1) : NULL;
        if (extra != NULL)
            evbuffer_add(b, extra, strlen(extra));
        evbuffer_add(b, "}\n", 2);
    } else {
        strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
        evbuffer_add_printf(b, "%s - - [%s] \"", c->peer, when);
        add_quoted(b, c->method, strlen(c->method));
        evbuffer_add(b, " ", 1);
        add_quoted(b, c->target ? c->target : "", c->target_len);
        evbuffer_add_printf(b, " %s\" %d %llu \"", c->proto ? c->proto : "HTTP/1.1", c->status,
                            (unsigned long long)c->bytes_out);
        add_quoted(b, c->referer, strlen(c->referer));
        evbuffer_add(b, "\" \"", 3);
        add_quoted(b, c->ua, strlen(c->ua));
        evbuffer_add_printf(b, "\" rt=%.3f", dur);
        if (up >= 0)
            evbuffer_add_printf(b, " urt=%.3f", up);
        else
            evbuffer_add(b, " urt=-", 6);
        evbuffer_add(b, " cs=\"", 5);
        add_quoted(b, c->cache_status, strlen(c->cache_status));
        evbuffer_add(b, "\"", 1);
        const char *extra = c->hk != NULL ? hookrun_log_fields(c, 0) : NULL;
        if (extra != NULL)
            evbuffer_add(b, extra, strlen(extra));
        evbuffer_add(b, "\n", 1);
    }
    if (evbuffer_get_length(b) >= FLUSH_AT) {
        access__flush(w);
    } else {
        if (w->access_flush_ev == NULL)
            w->access_flush_ev = evtimer_new(w->base, on_flush_timer, w);
        if (!evtimer_pending(w->access_flush_ev, NULL)) {
            struct timeval tv1 = {1, 0};
            evtimer_add(w->access_flush_ev, &tv1);
        }
    }
}
