/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_set: a generation's templates (tpl.h): the name table, building (load,
 * compile, then every static partial referenced, breadth first), and messages.
 *
 * tpl_set_add appends an entry for each name it meets and compiles entries in
 * order until none is left, so recursive partials are compiled once and refer to
 * each other by index. An error removes every entry the call added: the set is
 * as it was. The table maps names to indices by open addressing (FNV-1a); it is
 * rebuilt after such a rollback. Thread: built on one thread, then read-only.
 */
#include "tpl_int.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tpl__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

const char *tpl_strerror(int code)
{
    switch (code) {
    case TPL_OK: return "ok";
    case TPL_PENDING: return "pending";
    case TPL_E_SYNTAX: return "template syntax error";
    case TPL_E_NOT_FOUND: return "template not found";
    case TPL_E_LOAD: return "template could not be loaded";
    case TPL_E_LIMIT: return "template limit exceeded";
    case TPL_E_DEPTH: return "render nesting too deep";
    case TPL_E_OUTPUT: return "render output too large";
    case TPL_E_NOMEM: return "out of memory";
    case TPL_E_LAMBDA: return "lambda failed";
    case TPL_E_STEPS: return "render work limit exceeded";
    }
    return "unknown template error";
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

int tpl_escape_for_file(const char *file)
{
    size_t n = strlen(file);

    if (ends_with(file, n, ".html.mustache"))
        return TPL_ESCAPE_HTML;
    if (ends_with(file, n, ".json.mustache"))
        return TPL_ESCAPE_JSON;
    if (ends_with(file, n, ".txt.mustache"))
        return TPL_ESCAPE_NONE;
    return -1;
}

void tpl__line_col(const struct tpl *t, uint32_t pos, unsigned *line, unsigned *col)
{
    uint32_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < pos && i < t->src_len; i++) {
        if (t->src[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

int tpl__error(struct tpl_error *err, const struct tpl *t, uint32_t pos, int code, const char *fmt,
               ...)
{
    unsigned line, col;
    va_list ap;
    int n;

    if (err == NULL)
        return code;
    err->code = code;
    if (pos == TPL_NONE) {
        n = snprintf(err->msg, sizeof(err->msg), "%s: ", t->file);
    } else {
        tpl__line_col(t, pos, &line, &col);
        n = snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: ", t->file, line, col);
    }
    if (n < 0 || (size_t)n >= sizeof(err->msg))
        return code;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void table_put(struct tpl_set *set, uint32_t index)
{
    const struct tpl *t = set->tpls[index];
    uint32_t mask = set->table_cap - 1, i = hash_name(t->name, t->name_len) & mask;

    while (set->table[i] != 0)
        i = (i + 1) & mask;
    set->table[i] = index + 1;
}

static void table_rebuild(struct tpl_set *set, uint32_t cap)
{
    uint32_t i;

    free(set->table);
    set->table = xcalloc(cap, sizeof(*set->table));
    set->table_cap = cap;
    for (i = 0; i < set->ntpls; i++)
        table_put(set, i);
}

const struct tpl *tpl__set_find(const struct tpl_set *set, const char *name, size_t len)
{
    uint32_t mask = set->table_cap - 1, i = hash_name(name, len) & mask, v;

    while ((v = set->table[i]) != 0) {
        const struct tpl *t = set->tpls[v - 1];
        if (t->name_len == len && memcmp(t->name, name, len) == 0)
            return t;
        i = (i + 1) & mask;
    }
    return NULL;
}

uint32_t tpl__set_ref(struct tpl_set *set, const char *name, size_t len, uint32_t by, uint32_t pos)
{
    const struct tpl *found = tpl__set_find(set, name, len);
    struct tpl *t;

    if (found != NULL)
        return found->index;
    if (set->ntpls == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 16;
        set->tpls = xrealloc(set->tpls, set->cap * sizeof(*set->tpls));
    }
    t = xcalloc(1, sizeof(*t));
    t->magic = TPL_MAGIC;
    t->set = set;
    t->index = set->ntpls;
    t->name = xmalloc(len + 1); /* names from tags may hold any byte, NUL too */
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    t->name_len = len;
    t->ref_by = by;
    t->ref_pos = pos;
    set->tpls[set->ntpls++] = t;
    /* keep the load factor at or under one half */
    if (set->ntpls * 2 > set->table_cap)
        table_rebuild(set, set->table_cap * 2);
    else
        table_put(set, t->index);
    return t->index;
}

struct tpl_set *tpl_set_new(const struct tpl_set_opts *opts)
{
    struct tpl_set *set = xcalloc(1, sizeof(*set));

    TPL_ASSERT(opts != NULL && opts->load != NULL);
    set->magic = TPL_SET_MAGIC;
    set->opts = *opts;
    if (set->opts.max_nesting == 0)
        set->opts.max_nesting = TPL_DEFAULT_MAX_NESTING;
    table_rebuild(set, 16);
    return set;
}

void tpl__free_program(struct tpl *t)
{
    t->magic = 0;
    free(t->src);
    free(t->ops);
    free(t->parts);
    free(t->delims);
}

static void tpl_free(struct tpl *t)
{
    tpl__free_program(t);
    free(t->name);
    free(t->file);
    free(t);
}

void tpl_set_free(struct tpl_set *set)
{
    uint32_t i;

    if (set == NULL)
        return;
    TPL_ASSERT(set->magic == TPL_SET_MAGIC);
    for (i = 0; i < set->ntpls; i++)
        tpl_free(set->tpls[i]);
    free(set->tpls);
    free(set->table);
    set->magic = 0;
    free(set);
}

/* Reports a template the loader did not give: at the tag that names it, or by
 * name for the one tpl_set_add asked for. */
static int not_found(struct tpl_set *set, struct tpl *t, int rc, struct tpl_error *err)
{
    const char *what = t->ref_by == TPL_NONE ? "template" : "partial";

    rc = rc == TPL_E_NOT_FOUND ? rc : TPL_E_LOAD;
    if (t->ref_by == TPL_NONE) {
        if (err != NULL) {
            err->code = rc;
            snprintf(err->msg, sizeof(err->msg), "%s: template %s", t->name,
                     rc == TPL_E_NOT_FOUND ? "not found" : "could not be loaded");
        }
        return rc;
    }
    return tpl__error(err, set->tpls[t->ref_by], t->ref_pos, rc, "%s \"%s\" %s", what, t->name,
                      rc == TPL_E_NOT_FOUND ? "not found" : "could not be loaded");
}

static int load(struct tpl_set *set, struct tpl *t, struct tpl_error *err)
{
    struct tpl_source src = {NULL, 0, NULL, TPL_ESCAPE_HTML};
    int rc = set->opts.load(set->opts.load_arg, t->name, t->name_len, &src);

    if (rc == TPL_E_NOT_FOUND && t->ref_by != TPL_NONE &&
        (set->opts.flags & TPL_SET_MISSING_PARTIAL_EMPTY)) {
        src.text = "";
        src.len = 0;
        rc = 0;
    }
    if (rc != 0)
        return not_found(set, t, rc, err);
    TPL_ASSERT(src.text != NULL || src.len == 0);
    t->file = xstrdup(src.file != NULL ? src.file : t->name);
    t->escape = src.escape;
    if (src.len > TPL_MAX_SOURCE)
        return tpl__error(err, t, TPL_NONE, TPL_E_LIMIT, "template larger than %u bytes",
                          TPL_MAX_SOURCE);
    t->src = xmalloc(src.len + 1);
    if (src.len > 0)
        memcpy(t->src, src.text, src.len);
    t->src[src.len] = '\0';
    t->src_len = (uint32_t)src.len;
    return tpl__compile(set, t, NULL, err);
}

static void rollback(struct tpl_set *set, uint32_t n)
{
    while (set->ntpls > n)
        tpl_free(set->tpls[--set->ntpls]);
    table_rebuild(set, set->table_cap);
}

int tpl_set_add(struct tpl_set *set, const char *name, const struct tpl **out,
                struct tpl_error *err)
{
    const struct tpl *found;
    uint32_t first, i;
    int rc;

    TPL_ASSERT(set != NULL && set->magic == TPL_SET_MAGIC && name != NULL);
    found = tpl__set_find(set, name, strlen(name));
    if (found != NULL) {
        if (out != NULL)
            *out = found;
        return 0;
    }
    first = set->ntpls;
    tpl__set_ref(set, name, strlen(name), TPL_NONE, TPL_NONE);
    /* compiling entry i may append more entries: the loop reaches them too */
    for (i = first; i < set->ntpls; i++) {
        rc = load(set, set->tpls[i], err);
        if (rc != 0) {
            rollback(set, first);
            return rc;
        }
        set->tpls[i]->compiled = 1;
    }
    if (out != NULL)
        *out = set->tpls[first];
    return 0;
}

const struct tpl *tpl_set_get(const struct tpl_set *set, const char *name)
{
    TPL_ASSERT(set != NULL && set->magic == TPL_SET_MAGIC);
    return tpl__set_find(set, name, strlen(name));
}

const char *tpl_name(const struct tpl *t)
{
    TPL_ASSERT(t != NULL && t->magic == TPL_MAGIC);
    return t->name;
}

const char *tpl_file(const struct tpl *t)
{
    TPL_ASSERT(t != NULL && t->magic == TPL_MAGIC);
    return t->file;
}
