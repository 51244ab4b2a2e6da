/* SPDX-License-Identifier: Apache-2.0
 *
 * log: the error log (levelled lines on stderr or a file). The level is checked
 * before anything is formatted. Lines are written with one write(2) each, so
 * workers never interleave inside a line. log_reopen() (SIGUSR1) reopens the file
 * in place with dup2, so writers never see a closed descriptor.
 * Thread: any.
 */
#ifndef TESSERA_LOG_H
#define TESSERA_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern int log__level; /* read by the macros; set with log_set_level */

void log_set_level(int level);
/* Sends the error log to `path` ("-" or NULL: stderr). Returns 0 or -1 (errno). */
int log_open(const char *path);
/* Reopens the current file (after rotation). Returns 0 or -1. */
int log_reopen(void);

void log__write(int level, const char *ctx, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define LOG__AT(lvl, ctx, ...)                                                                     \
    do {                                                                                           \
        if ((lvl) <= log__level)                                                                   \
            log__write((lvl), (ctx), __FILE__, __LINE__, __VA_ARGS__);                             \
    } while (0)

/* ctx names the module or request ("up", "w1 r42"); may be NULL. */
#define log_err(ctx, ...) LOG__AT(LOG_LVL_ERROR, ctx, __VA_ARGS__)
#define log_warn(ctx, ...) LOG__AT(LOG_LVL_WARN, ctx, __VA_ARGS__)
#define log_info(ctx, ...) LOG__AT(LOG_LVL_INFO, ctx, __VA_ARGS__)
#define log_debug(ctx, ...) LOG__AT(LOG_LVL_DEBUG, ctx, __VA_ARGS__)

#endif
