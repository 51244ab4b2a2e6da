/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl: the Mustache template engine (spec 1.3: interpolation, sections, inverted
 * sections, comments, set delimiters, partials, inheritance, dynamic names and
 * lambdas, the latter through a callback for the Lua hooks). No sockets, no event loop: it compiles
 * template text into programs and renders them, with JSON data (jansson), into
 * an evbuffer.
 *
 * A set (struct tpl_set) is one configuration generation's templates: pages and
 * the components they use, each compiled once, referring to each other by name.
 * Static partials and parents ({{>name}}, {{<name}}) are resolved when the set
 * is built, through the set's loader; dynamic ones ({{>*name}}) are looked up in
 * the set at render time. Partial names resolve through the loader alone, so a
 * channel whose components differ gets a set (and a loader) of its own.
 *
 * Values: strings as they are; integers in decimal; reals in the shortest form
 * that reads back exactly (1.21, not 1.2099999999999999); true and false as
 * words; null and missing names as nothing; arrays and objects as compact JSON
 * (so a JSON template can pass a fragment through: "reviews": {{{reviews}}}).
 * Sections treat false, null, 0, "" and [] as falsey (JavaScript's rule), loop
 * over arrays and push any other value. A dotted name's later parts may index
 * arrays: {{images.0.url}}.
 *
 * Ownership and threads: a set and its templates are built on one thread
 * (tpl_set_new, tpl_set_add). Once the last tpl_set_add has returned they are
 * immutable: any number of threads may render any of its templates at once,
 * with no locking, until tpl_set_free. The engine keeps no global state.
 */
#ifndef TESSERA_TPL_H
#define TESSERA_TPL_H

#include <stddef.h>

#include <jansson.h>

struct evbuffer;
struct tpl;
struct tpl_set;

/* Return codes: 0, TPL_PENDING (not an error) or a negative error. */
enum tpl_status {
    TPL_OK = 0,
    TPL_PENDING = 1,      /* render stopped at a pending name (tpl_render_opts) */
    TPL_E_SYNTAX = -1,    /* compile: malformed template */
    TPL_E_NOT_FOUND = -2, /* compile: a template or static partial does not exist */
    TPL_E_LOAD = -3,      /* compile: the loader failed */
    TPL_E_LIMIT = -4,     /* compile: nesting too deep, template too large */
    TPL_E_DEPTH = -5,     /* render: nesting deeper than max_depth */
    TPL_E_OUTPUT = -6,    /* render: output larger than max_output */
    TPL_E_NOMEM = -7,     /* render: the evbuffer could not grow */
    TPL_E_LAMBDA = -8,    /* render: the lambda callback failed */
    TPL_E_STEPS = -9,     /* render: more than max_steps ops run */
};

/* The text of a status code: static, never NULL. Thread: any. */
const char *tpl_strerror(int code);

/* How a template escapes {{name}} (triple mustache and {{&name}} never escape). */
enum tpl_escape {
    TPL_ESCAPE_HTML = 0, /* & < > " ' as entities (the spec's escaping) */
    TPL_ESCAPE_JSON = 1, /* JSON string content: " \ and control bytes (\u00XX) */
    TPL_ESCAPE_NONE = 2,
};

/* The escaping a template file name implies: "*.html.mustache" HTML,
 * "*.json.mustache" JSON, "*.txt.mustache" none; -1 for any other name (the
 * config layer reports it). Thread: any. */
int tpl_escape_for_file(const char *file);

/* Errors: code is the tpl_status; msg reads "file:line:col: message" for errors
 * tied to a place in a template, and names the template otherwise. */
struct tpl_error {
    int code;
    char msg[256];
};

/* What the loader hands back. text and file need to stay valid only until the
 * loader is called again or tpl_set_add returns: the set copies them. */
struct tpl_source {
    const char *text;
    size_t len;
    const char *file; /* for messages; NULL: the template's name */
    enum tpl_escape escape;
};

/* Finds the template called name[0..len) (not NUL-terminated). Returns 0 and
 * fills *src, TPL_E_NOT_FOUND, or another negative value when it cannot read it
 * (the build fails with TPL_E_LOAD). Called on the thread of tpl_set_add, never
 * re-entered. */
typedef int (*tpl_load_cb)(void *arg, const char *name, size_t len, struct tpl_source *src);

/* The spec's behaviour for a static partial or parent the loader cannot find:
 * render nothing instead of failing the build. For the conformance tests. */
#define TPL_SET_MISSING_PARTIAL_EMPTY 0x1u

#define TPL_DEFAULT_MAX_NESTING 64 /* sections, blocks and parents inside each other */

struct tpl_set_opts {
    tpl_load_cb load;
    void *load_arg;
    unsigned max_nesting; /* 0: TPL_DEFAULT_MAX_NESTING */
    unsigned flags;       /* TPL_SET_* */
};

/* A new, empty set; opts is copied (load must not be NULL). Owned by the caller,
 * freed by tpl_set_free. Aborts only when memory runs out. */
struct tpl_set *tpl_set_new(const struct tpl_set_opts *opts);

/* Frees the set and every template in it. No render may be running. NULL is a
 * no-op. */
void tpl_set_free(struct tpl_set *set);

/* Loads and compiles the template called name (NUL-terminated), then every
 * static partial and parent it references, transitively, each once per set.
 * A name already in the set is not loaded again. Returns 0 and sets *out (when
 * out is not NULL; the template belongs to the set), or an error with err
 * filled (when err is not NULL): TPL_E_SYNTAX, TPL_E_LIMIT, TPL_E_NOT_FOUND
 * (the message points at the tag naming the missing partial) or TPL_E_LOAD. On
 * error the set is left as it was before the call. Calls the loader
 * synchronously; not thread-safe (build before sharing). */
int tpl_set_add(struct tpl_set *set, const char *name, const struct tpl **out,
                struct tpl_error *err);

/* The template of that name, or NULL; it belongs to the set. Thread: any, once
 * built. */
const struct tpl *tpl_set_get(const struct tpl_set *set, const char *name);

/* The name under which the template was added, and its file (for messages);
 * both belong to the set. Thread: any. */
const char *tpl_name(const struct tpl *t);
const char *tpl_file(const struct tpl *t);

/* Tells whether a top-level name is still being fetched: top[0..len) is the first
 * segment of a name being resolved against the root of the data ("product" for
 * {{product.price}} when no section context holds "product"). Non-zero stops the
 * render with TPL_PENDING. Called on the rendering thread, many times. */
typedef int (*tpl_pending_cb)(void *arg, const char *top, size_t len);

/* Lambdas (the spec's optional module, ~lambdas.json) are Lua functions, bridged
 * by the hook layer. JSON has no function type: the engine offers every object
 * value met by an interpolation ({{name}}, {{{name}}}, {{&name}}) or a section
 * ({{#name}}) to this callback, each time the tag is met (never cached), and the
 * callback recognises its own lambda objects. v belongs to the data; section is
 * NULL with len 0 for an interpolation, else section[0..len) is the section's
 * raw text between its tags, unrendered (valid during the call only). The
 * callback returns 0 when v is plain data (rendered as such: pushed by a
 * section, written as JSON by an interpolation), a positive value when v is a
 * lambda and its result text was appended to `text` (an empty evbuffer the
 * engine owns), or a negative value to stop the render with TPL_E_LAMBDA.
 *
 * The text is then a template, rendered in place of the tag with the current
 * context stack (the lambda object is not pushed), the template's escaping for
 * {{name}} tags in it, its partials and parents taken from the template's set
 * as built (one the set lacks: TPL_E_LAMBDA, or nothing with
 * TPL_SET_MISSING_PARTIAL_EMPTY), and as delimiters: {{ }} for an
 * interpolation whatever the template set; for a section, those in effect at
 * its open tag. For {{name}} the whole rendered text is then escaped (values
 * its own {{tags}} write are escaped twice: the spec's "rendered, then
 * interpolated"); for
 * {{{name}}}, {{&name}} and sections it is written as it is. A lambda text that
 * does not compile stops the render with TPL_E_LAMBDA, err naming the lambda
 * tag ("file:line:col: lambda text:line:col: message"); each expansion is one
 * level of max_depth (a lambda returning its own tag ends in TPL_E_DEPTH), and
 * max_output and max_steps count what it renders. Inverted sections treat a
 * lambda as truthy and never call it.
 *
 * Called on the rendering thread, possibly re-entered (a lambda's text may hold
 * lambda tags); it must not free the data or the template. For TPL_PENDING
 * re-renders to give the same bytes (tpl_render), its text must depend only on
 * v and section. */
typedef int (*tpl_lambda_cb)(void *arg, const json_t *v, const char *section, size_t len,
                             struct evbuffer *text);

#define TPL_DEFAULT_MAX_DEPTH 100          /* sections, partials, blocks at render */
#define TPL_DEFAULT_MAX_OUTPUT (16u << 20) /* bytes */
#define TPL_DEFAULT_MAX_STEPS (8u << 20)   /* ops run: a few hundred ms at worst */

/* Limits bound the time and memory of any render, a partial that includes
 * itself twice (2^depth calls, no output) included. */
struct tpl_render_opts {
    size_t max_output;         /* 0: TPL_DEFAULT_MAX_OUTPUT */
    unsigned max_depth;        /* 0: TPL_DEFAULT_MAX_DEPTH */
    unsigned long max_steps;   /* 0: TPL_DEFAULT_MAX_STEPS; one per op run, per item */
    tpl_pending_cb is_pending; /* NULL: nothing is pending */
    void *pending_arg;
    tpl_lambda_cb lambda; /* NULL: lambdas are plain objects */
    void *lambda_arg;
};

/* Renders t with data (any JSON value; NULL is null) as the root context,
 * appending to out in chunks of a few KB. Returns 0; TPL_PENDING when a pending
 * name was met (everything before it is in out); or TPL_E_DEPTH, TPL_E_OUTPUT,
 * TPL_E_STEPS, TPL_E_NOMEM, TPL_E_LAMBDA with err filled (out then holds a prefix of the
 * output, at most max_output bytes, for the caller to discard). opts may be
 * NULL. Rendering is deterministic: the same template and data give the same
 * bytes, so a caller that sent the output of a TPL_PENDING render may render
 * again later and skip that many bytes. Reads data without touching reference
 * counts. Thread: any; re-enters only the callbacks of opts. */
int tpl_render(const struct tpl *t, const json_t *data, const struct tpl_render_opts *opts,
               struct evbuffer *out, struct tpl_error *err);

#endif
