/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz_tpl: libFuzzer target for the template engine (proxy/render/): compiles
 * any bytes as a template and renders it.
 *
 * Input: byte 0 holds the options, the rest is the template "main".
 *   bits 0-1  escaping: HTML, JSON, none, none
 *   bit 2     TPL_SET_MISSING_PARTIAL_EMPTY
 *   bit 3     pending mode: the top-level name "pend" is pending
 *   bit 4     small limits: 512 output bytes, render depth 12
 *   bit 5     compile nesting limit 6
 * Renders run at most 2^16 ops and write at most 64 KB otherwise, to keep
 * inputs fast.
 * The set also holds three fixed partials (p1 recursive, p2 and p3 with blocks
 * and a dynamic name) that main may reference; every other partial name is
 * missing. Data is one fixed JSON document.
 *
 * Invariants (FUZZ_CHECK aborts even when NDEBUG is set): compiling returns 0 or
 * a compile error whose message starts "main:line:col: " with line and col
 * inside the source; rendering returns 0, TPL_PENDING or a render error whose
 * message starts "file:line:col: "; the output never exceeds the cap; rendering
 * twice gives the same bytes; a pending render's output is a prefix of the full
 * render's. Built with -fsanitize=fuzzer, or linked with tests/fuzz/replay.c for
 * ctest; tests/fuzz/tpl/mkcorpus.py writes the seed corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "render/tpl.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_tpl: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const partials[][2] = {
    {"p1", "{{#kids}}<{{name}}{{>p1}}>{{/kids}}"},
    {"p2", "{{$title}}T{{/title}}|{{>*dyn}}|\n  {{<p3}}{{$x}}\n    X{{.}}\n  {{/x}}{{/p3}}\n"},
    {"p3", "a\n  {{$x}}\n  d\n  {{/x}}\n{{$title}}{{/title}}{{>*missing}}"},
};

static const char data_text[] =
    "{\"name\": \"<a&b>\", \"n\": 42, \"r\": 1.5, \"t\": true, \"f\": false, \"z\": null,"
    " \"list\": [1, \"two\", {\"name\": \"three\"}, [4]], \"empty\": [], \"s\": \"\\\"q\\\\\\n\","
    " \"kids\": [{\"name\": \"k1\", \"kids\": [{\"name\": \"k2\", \"kids\": []}]}],"
    " \"obj\": {\"a\": {\"b\": \"deep\"}}, \"dyn\": \"p1\", \"pend\": {\"x\": 1}}";

struct input {
    const char *text;
    size_t len;
    enum tpl_escape escape;
};

static int load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    const struct input *in = arg;
    size_t i;

    if (len == 4 && memcmp(name, "main", 4) == 0) {
        src->text = in->text;
        src->len = in->len;
        src->escape = in->escape;
        return 0;
    }
    for (i = 0; i < sizeof(partials) / sizeof(partials[0]); i++) {
        if (strlen(partials[i][0]) == len && memcmp(partials[i][0], name, len) == 0) {
            src->text = partials[i][1];
            src->len = strlen(partials[i][1]);
            src->escape = TPL_ESCAPE_HTML;
            return 0;
        }
    }
    return TPL_E_NOT_FOUND;
}

static int pending(void *arg, const char *top, size_t len)
{
    return len == 4 && memcmp(top, "pend", 4) == 0;
}

/* msg starts "file:line:col: " for one of the set's files; for main, line and
 * col lie inside the source. */
static void check_where(const char *msg, const struct input *in)
{
    unsigned line = 0, col = 0, lines = 1;
    const char *colon = strchr(msg, ':');
    size_t i, file_len = colon != NULL ? (size_t)(colon - msg) : 0;
    int n = 0;

    FUZZ_CHECK(colon != NULL);
    FUZZ_CHECK((file_len == 4 && memcmp(msg, "main", 4) == 0) ||
               (file_len == 2 && msg[0] == 'p' && msg[1] >= '1' && msg[1] <= '3'));
    FUZZ_CHECK(sscanf(colon, ":%u:%u: %n", &line, &col, &n) == 2 && n > 0);
    FUZZ_CHECK(line >= 1 && col >= 1);
    if (msg[0] != 'm')
        return;
    for (i = 0; i < in->len; i++)
        lines += in->text[i] == '\n';
    FUZZ_CHECK(line <= lines && col <= in->len + 1);
}

static int render(const struct tpl *t, const json_t *data, const struct tpl_render_opts *ro,
                  struct evbuffer *out, const struct input *in)
{
    struct tpl_error err = {0, ""};
    int rc = tpl_render(t, data, ro, out, &err);

    FUZZ_CHECK(rc == 0 || rc == TPL_PENDING || rc == TPL_E_DEPTH || rc == TPL_E_OUTPUT ||
               rc == TPL_E_STEPS);
    FUZZ_CHECK(evbuffer_get_length(out) <= ro->max_output);
    if (rc < 0) {
        FUZZ_CHECK(err.code == rc);
        check_where(err.msg, in);
    }
    return rc;
}

static void fuzz_render(const struct tpl *t, const json_t *data, uint8_t flags,
                        const struct input *in)
{
    /* bounds that keep every input fast */
    struct tpl_render_opts ro = {.max_steps = 1u << 16, .max_output = 1u << 16};
    struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
    size_t n;
    int rc, again;

    if (flags & 0x10) {
        ro.max_output = 512;
        ro.max_depth = 12;
    }
    if (flags & 0x08)
        ro.is_pending = pending;
    rc = render(t, data, &ro, a, in);
    again = render(t, data, &ro, b, in);
    n = evbuffer_get_length(a);
    FUZZ_CHECK(again == rc && evbuffer_get_length(b) == n);
    FUZZ_CHECK(n == 0 || memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0);
    if (rc == TPL_PENDING) {
        evbuffer_drain(b, n);
        ro.is_pending = NULL;
        if (render(t, data, &ro, b, in) == 0) {
            FUZZ_CHECK(evbuffer_get_length(b) >= n);
            FUZZ_CHECK(n == 0 || memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0);
        }
    } else {
        FUZZ_CHECK(flags & 0x08 || rc != TPL_PENDING);
    }
    evbuffer_free(a);
    evbuffer_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *doc;
    struct input in;
    struct tpl_set_opts so = {load, &in, 0, 0};
    struct tpl_set *set;
    struct tpl_error err = {0, ""};
    const struct tpl *t;
    uint8_t flags;
    int rc;

    if (size < 1)
        return 0;
    if (doc == NULL)
        doc = json_loads(data_text, 0, NULL);
    FUZZ_CHECK(doc != NULL);
    flags = data[0];
    in.text = (const char *)data + 1;
    in.len = size - 1;
    in.escape = (flags & 3) == 0   ? TPL_ESCAPE_HTML
                : (flags & 3) == 1 ? TPL_ESCAPE_JSON
                                   : TPL_ESCAPE_NONE;
    so.flags = (flags & 0x04) ? TPL_SET_MISSING_PARTIAL_EMPTY : 0;
    so.max_nesting = (flags & 0x20) ? 6 : 0;
    set = tpl_set_new(&so);
    rc = tpl_set_add(set, "main", &t, &err);
    FUZZ_CHECK(rc == 0 || rc == TPL_E_SYNTAX || rc == TPL_E_NOT_FOUND || rc == TPL_E_LIMIT);
    if (rc != 0) {
        FUZZ_CHECK(err.code == rc && tpl_set_get(set, "main") == NULL);
        check_where(err.msg, &in);
    } else {
        FUZZ_CHECK(tpl_set_get(set, "main") == t);
        /* dynamic names find the fixed partials only when added */
        FUZZ_CHECK(tpl_set_add(set, "p1", NULL, NULL) == 0);
        FUZZ_CHECK(tpl_set_add(set, "p2", NULL, NULL) == 0);
        fuzz_render(t, doc, flags, &in);
    }
    tpl_set_free(set);
    return 0;
}
