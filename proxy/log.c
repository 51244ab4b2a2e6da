/* SPDX-License-Identifier: Apache-2.0
 *
 * log: error log writer (see log.h). One formatted line, one write(2). The file
 * descriptor number never changes after log_open, so a reopen is a dup2.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log__level = LOG_LVL_INFO;

static int log_fd = 2;
static char *log_path; /* NULL: stderr */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(int level)
{
    log__level = level;
}

int log_open(const char *path)
{
    pthread_mutex_lock(&log_lock);
    int rc = 0;
    if (path == NULL || strcmp(path, "-") == 0) {
        if (log_fd != 2)
            dup2(2, log_fd);
        free(log_path);
        log_path = NULL;
        goto out;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -1;
        goto out;
    }
    if (log_fd == 2) {
        log_fd = fd;
    } else {
        dup2(fd, log_fd);
        close(fd);
    }
    free(log_path);
    log_path = strdup(path);
out:
    pthread_mutex_unlock(&log_lock);
    return rc;
}

int log_reopen(void)
{
    pthread_mutex_lock(&log_lock);
    int rc = 0;
    if (log_path != NULL) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            rc = -1;
        } else {
            dup2(fd, log_fd);
            close(fd);
        }
    }
    pthread_mutex_unlock(&log_lock);
    return rc;
}

void log__write(int level, const char *ctx, const char *file, int line, const char *fmt, ...)
{
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[level]);
    if (ctx != NULL && n < (int)sizeof(buf))
        n += snprintf(buf + n, sizeof(buf) - n, "%s: ", ctx);
#ifndef NDEBUG
    if (level == LOG_LVL_DEBUG && n < (int)sizeof(buf))
        n += snprintf(buf + n, sizeof(buf) - n, "(%s:%d) ", file, line);
#else
    (void)file;
    (void)line;
#endif
    if (n < (int)sizeof(buf)) {
        va_list ap;
        va_start(ap, fmt);
        n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
        va_end(ap);
    }
    if (n >= (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    int saved = errno;
    ssize_t w = write(log_fd, buf, (size_t)n);
    (void)w;
    errno = saved;
}
