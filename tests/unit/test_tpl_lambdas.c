/* SPDX-License-Identifier: Apache-2.0
 *
 * test_tpl_lambdas: lambdas in the template engine (proxy/render/, tpl.h's
 * tpl_lambda_cb). First every case of the spec's ~lambdas.json, read at run time
 * from the spec directory (argv[1], default ../shared/conformance/mustache,
 * relative to the repo root where ctest runs, as test_tpl_spec): each case's
 * code values become {"__lambda__": "<case name>"} and a C function below does
 * what the case's js code does. A case this file does not know fails (a new
 * spec case must get its function), and so does a function whose case is gone.
 * Each case renders twice ("Multiple Calls" counters start again) with the same
 * bytes. Then the engine's own rules, as a table: errors in a lambda's text,
 * recursion against max_depth, max_output and max_steps inside a lambda's text,
 * double escaping, partials and parents named by a lambda's text, delimiters of
 * nested lambda sections, indentation, pending names; and one template with
 * lambdas rendered from two threads at once.
 *
 *   test_tpl_lambdas [spec-dir]
 */
#include "render/tpl.h"

#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAIN_NAME "t"

/* What the lambdas of one render share (the callback's arg). */
struct lambdas {
    int calls;          /* "Interpolation - Multiple Calls": the js global */
    int inverted_calls; /* "Inverted Section": must stay 0 */
};

typedef int (*lambda_fn)(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                         struct evbuffer *text);

static int add(struct evbuffer *text, const char *s, size_t n)
{
    return evbuffer_add(text, s, n) == 0 ? 1 : -1;
}

static int adds(struct evbuffer *text, const char *s)
{
    return add(text, s, strlen(s));
}

/* sec + mid + sec, for the section cases' txt + "..." + txt */
static int around(struct evbuffer *text, const char *sec, size_t len, const char *mid)
{
    if (sec == NULL)
        return -1;
    return add(text, sec, len) > 0 && adds(text, mid) > 0 ? add(text, sec, len) : -1;
}

/* The spec's cases, in the order of ~lambdas.json. An interpolation lambda met
 * by a section (or the reverse) fails: the engine called it wrongly. */

/* "Interpolation": function() { return "world" } */
static int l_interpolation(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                           struct evbuffer *text)
{
    return sec == NULL ? adds(text, "world") : -1;
}

/* "Interpolation - Expansion": function() { return "{{planet}}" } */
static int l_interpolation_expansion(struct lambdas *ls, const json_t *v, const char *sec,
                                     size_t len, struct evbuffer *text)
{
    return sec == NULL ? adds(text, "{{planet}}") : -1;
}

/* "Interpolation - Alternate Delimiters": function() { return "|planet| => {{planet}}" } */
static int l_interpolation_delims(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                                  struct evbuffer *text)
{
    return sec == NULL ? adds(text, "|planet| => {{planet}}") : -1;
}

/* "Interpolation - Multiple Calls": g.calls = (g.calls || 0) + 1 */
static int l_interpolation_calls(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                                 struct evbuffer *text)
{
    if (sec != NULL)
        return -1;
    return evbuffer_add_printf(text, "%d", ++ls->calls) < 0 ? -1 : 1;
}

/* "Escaping": function() { return ">" } */
static int l_escaping(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                      struct evbuffer *text)
{
    return sec == NULL ? adds(text, ">") : -1;
}

/* "Section": function(txt) { return (txt == "{{x}}" ? "yes" : "no") } */
static int l_section(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                     struct evbuffer *text)
{
    if (sec == NULL)
        return -1;
    return adds(text, len == 5 && memcmp(sec, "{{x}}", 5) == 0 ? "yes" : "no");
}

/* "Section - Expansion": function(txt) { return txt + "{{planet}}" + txt } */
static int l_section_expansion(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                               struct evbuffer *text)
{
    return around(text, sec, len, "{{planet}}");
}

/* "Section - Alternate Delimiters": txt + "{{planet}} => |planet|" + txt */
static int l_section_delims(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                            struct evbuffer *text)
{
    return around(text, sec, len, "{{planet}} => |planet|");
}

/* "Section - Multiple Calls": function(txt) { return "__" + txt + "__" } */
static int l_section_calls(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                           struct evbuffer *text)
{
    if (sec == NULL)
        return -1;
    return adds(text, "__") > 0 && add(text, sec, len) > 0 ? adds(text, "__") : -1;
}

/* "Inverted Section": function(txt) { return false }; never called. */
static int l_inverted(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                      struct evbuffer *text)
{
    ls->inverted_calls++;
    return 1;
}

/* The engine's own cases: "ret" returns its object's "text", "echo" the
 * section's text, "fail" fails. */
static int l_ret(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                 struct evbuffer *text)
{
    const json_t *s = json_object_get(v, "text");

    return json_is_string(s) ? add(text, json_string_value(s), json_string_length(s)) : -1;
}

static int l_echo(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                  struct evbuffer *text)
{
    return sec != NULL ? add(text, sec, len) : -1;
}

static int l_fail(struct lambdas *ls, const json_t *v, const char *sec, size_t len,
                  struct evbuffer *text)
{
    return -1;
}

struct lambda_def {
    const char *id; /* the spec case's name, or the engine case's lambda */
    int spec;
    lambda_fn fn;
};

static const struct lambda_def defs[] = {
    {"Interpolation", 1, l_interpolation},
    {"Interpolation - Expansion", 1, l_interpolation_expansion},
    {"Interpolation - Alternate Delimiters", 1, l_interpolation_delims},
    {"Interpolation - Multiple Calls", 1, l_interpolation_calls},
    {"Escaping", 1, l_escaping},
    {"Section", 1, l_section},
    {"Section - Expansion", 1, l_section_expansion},
    {"Section - Alternate Delimiters", 1, l_section_delims},
    {"Section - Multiple Calls", 1, l_section_calls},
    {"Inverted Section", 1, l_inverted},
    {"ret", 0, l_ret},
    {"echo", 0, l_echo},
    {"fail", 0, l_fail},
};

static const struct lambda_def *find_def(const char *id)
{
    size_t i;

    for (i = 0; i < NELEM(defs); i++) {
        if (strcmp(defs[i].id, id) == 0)
            return &defs[i];
    }
    return NULL;
}

/* The tpl_lambda_cb: objects with "__lambda__" are lambdas. */
static int on_lambda(void *arg, const json_t *v, const char *section, size_t len,
                     struct evbuffer *text)
{
    const json_t *id = json_object_get(v, "__lambda__");
    const struct lambda_def *d;

    if (!json_is_string(id))
        return 0;
    d = find_def(json_string_value(id));
    return d != NULL ? d->fn(arg, v, section, len, text) : -1;
}

/* Templates by name: "t" is the case's, the others a shared table. */
struct source {
    const char *main;
    enum tpl_escape escape;
    const json_t *partials; /* spec cases: name -> text */
};

static const struct {
    const char *name, *text;
} shared_partials[] = {
    {"p", "P{{planet}}"},
    {"lay", "[{{$b}}d{{/b}}]"},
    {"ind", "a\n{{#l}}b\nc{{/l}}\n"},
    {"indv", "{{{l}}}\n"},
};

static int load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    const struct source *s = arg;
    const json_t *text;
    size_t i;

    src->escape = s->escape;
    if (len == strlen(MAIN_NAME) && memcmp(name, MAIN_NAME, len) == 0) {
        src->text = s->main;
        src->len = strlen(s->main);
        return 0;
    }
    if (s->partials != NULL) {
        text = json_object_getn(s->partials, name, len);
        if (!json_is_string(text))
            return TPL_E_NOT_FOUND;
        src->text = json_string_value(text);
        src->len = json_string_length(text);
        return 0;
    }
    for (i = 0; i < NELEM(shared_partials); i++) {
        if (strlen(shared_partials[i].name) == len &&
            memcmp(shared_partials[i].name, name, len) == 0) {
            src->text = shared_partials[i].text;
            src->len = strlen(src->text);
            return 0;
        }
    }
    return TPL_E_NOT_FOUND;
}

/* Renders t; returns the output (malloc'd, NUL-terminated), its length in *len. */
static char *render(const struct tpl *t, const json_t *data, const struct tpl_render_opts *ro,
                    int *rc, size_t *len, struct tpl_error *err)
{
    struct evbuffer *out = evbuffer_new();
    char *text;

    *rc = tpl_render(t, data, ro, out, err);
    *len = evbuffer_get_length(out);
    text = malloc(*len + 1);
    evbuffer_remove(out, text, *len);
    text[*len] = '\0';
    evbuffer_free(out);
    return text;
}

static void print_quoted(const char *label, const char *s, size_t n)
{
    json_t *str = json_stringn(s, n);
    char *q = str != NULL ? json_dumps(str, JSON_ENCODE_ANY) : NULL;

    fprintf(stderr, "    %s %s\n", label, q != NULL ? q : "(not UTF-8)");
    free(q);
    json_decref(str);
}

/* Replaces, in place, each {"__tag__": "code", ...} under v with a lambda
 * object naming id; returns v or its replacement (a new reference either way). */
static json_t *substitute(json_t *v, const char *id)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_object(v)) {
        if (json_is_string(json_object_get(v, "__tag__")) &&
            strcmp(json_string_value(json_object_get(v, "__tag__")), "code") == 0) {
            json_decref(v);
            return json_pack("{ss}", "__lambda__", id);
        }
        json_object_foreach(v, key, child)
        {
            json_object_set_new(v, key, substitute(json_incref(child), id));
        }
    } else if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++)
            json_array_set_new(v, i, substitute(json_incref(json_array_get(v, i)), id));
    }
    return v;
}

static int run_spec_case(const json_t *test, const char *name)
{
    const json_t *want = json_object_get(test, "expected");
    struct source src = {json_string_value(json_object_get(test, "template")), TPL_ESCAPE_HTML,
                         json_object_get(test, "partials")};
    struct tpl_set_opts so = {load, &src, 0, TPL_SET_MISSING_PARTIAL_EMPTY};
    struct tpl_set *set = tpl_set_new(&so);
    json_t *data = substitute(json_deep_copy(json_object_get(test, "data")), name);
    struct lambdas ls = {0, 0};
    struct tpl_render_opts ro = {.lambda = on_lambda, .lambda_arg = &ls};
    struct tpl_error err = {0, ""};
    const struct tpl *t;
    const char *key;
    const json_t *value;
    char *got[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    int rc[2] = {-1, -1}, ok = 0, i;

    if (tpl_set_add(set, MAIN_NAME, &t, &err) != 0)
        goto out;
    json_object_foreach(json_object_get(test, "partials"), key, value)
    {
        if (tpl_set_add(set, key, NULL, &err) != 0)
            goto out;
    }
    for (i = 0; i < 2; i++) {
        ls = (struct lambdas){0, 0};
        got[i] = render(t, data, &ro, &rc[i], &len[i], &err);
    }
    ok = rc[0] == 0 && rc[1] == 0 && len[0] == json_string_length(want) &&
         memcmp(got[0], json_string_value(want), len[0]) == 0 && len[1] == len[0] &&
         memcmp(got[1], got[0], len[0]) == 0 && ls.inverted_calls == 0;
out:
    if (!ok) {
        fprintf(stderr, "FAIL ~lambdas.json: %s\n", name);
        print_quoted("template:", src.main, strlen(src.main));
        print_quoted("expected:", json_string_value(want), json_string_length(want));
        if (got[0] != NULL)
            print_quoted("got:     ", got[0], len[0]);
        if (err.msg[0] != '\0')
            fprintf(stderr, "    error:    %s\n", err.msg);
    }
    free(got[0]);
    free(got[1]);
    json_decref(data);
    tpl_set_free(set);
    return ok;
}

static void test_spec(const char *dir)
{
    char path[1024];
    json_error_t jerr;
    json_t *doc, *tests;
    const struct lambda_def *d;
    int seen[NELEM(defs)] = {0};
    int passed = 0;
    size_t i;

    snprintf(path, sizeof(path), "%s/~lambdas.json", dir);
    doc = json_load_file(path, 0, &jerr);
    tests = json_object_get(doc, "tests");
    CHECK_MSG(json_array_size(tests) > 0, "cannot read %s: %s", path, jerr.text);
    for (i = 0; i < json_array_size(tests); i++) {
        const json_t *test = json_array_get(tests, i);
        const char *name = json_string_value(json_object_get(test, "name"));

        d = name != NULL ? find_def(name) : NULL;
        CHECK_MSG(d != NULL && d->spec, "~lambdas.json: no C lambda for case \"%s\"",
                  name != NULL ? name : "(unnamed)");
        if (d == NULL || !d->spec)
            continue;
        seen[d - defs]++;
        CHECK(run_spec_case(test, name));
        passed++;
    }
    for (i = 0; i < NELEM(defs); i++)
        CHECK_MSG(!defs[i].spec || seen[i] == 1, "~lambdas.json: case \"%s\" seen %d times",
                  defs[i].id, seen[i]);
    printf("~lambdas.json: %d/%zu cases run\n", passed, json_array_size(tests));
    json_decref(doc);
}

/* The engine's cases. Data is JSON with ' for " (a \" in it stays one). */
struct xcase {
    const char *tpl;
    enum tpl_escape escape;
    const char *data;
    unsigned max_depth;
    size_t max_output;
    unsigned long max_steps;
    unsigned flags; /* TPL_SET_* */
    int rc;
    const char *out; /* the output, also on error */
    const char *msg; /* NULL: not checked */
};

#define RET(text) "{'__lambda__': 'ret', 'text': '" text "'}"

static const struct xcase xcases[] = {
    /* the lambda's text is a template over the current context */
    {"{{l}}|{{{l}}}|{{&l}}", TPL_ESCAPE_HTML, "{'s': '<b>', 'l': " RET("{{s}}") "}", 0, 0, 0, 0, 0,
     "&amp;lt;b&amp;gt;|&lt;b&gt;|&lt;b&gt;", NULL},
    {"{{l}}", TPL_ESCAPE_JSON, "{'s': 'a\\\"b', 'l': " RET("{{s}}") "}", 0, 0, 0, 0, 0,
     "a\\\\\\\"b", NULL},
    {"{{l}}", TPL_ESCAPE_NONE, "{'s': '<b>', 'l': " RET("{{s}}") "}", 0, 0, 0, 0, 0, "<b>", NULL},
    {"{{#items}}{{#l}}<{{name}}>{{/l}}{{/items}}", TPL_ESCAPE_HTML,
     "{'items': [{'name': 'a'}, {'name': 'b'}], 'l': {'__lambda__': 'echo'}}", 0, 0, 0, 0, 0,
     "<a><b>", NULL},
    {"a{{l}}c", TPL_ESCAPE_HTML, "{'l': " RET("") "}", 0, 0, 0, 0, 0, "ac", NULL},
    /* lambdas in a lambda's text */
    {"{{l}}", TPL_ESCAPE_HTML,
     "{'planet': 'Earth', 'l': " RET("a{{{m}}}c") ", 'm': " RET("{{planet}}") "}", 0, 0, 0, 0, 0,
     "aEarthc", NULL},
    {"{{=<% %>=}}<%#l%>x<%/l%>", TPL_ESCAPE_HTML,
     "{'planet': 'Earth', 'l': " RET("<%planet%>{{planet}}<%#m%>y<%/m%>") ", 'm': " RET(
         "[<%planet%>]") "}",
     0, 0, 0, 0, 0, "Earth{{planet}}[Earth]", NULL},
    {"{{=<% %>=}}<%#l%>x<%/l%>", TPL_ESCAPE_HTML,
     "{'planet': 'Earth', 'l': " RET("<%={{ }}=%>{{planet}}") "}", 0, 0, 0, 0, 0, "Earth", NULL},
    {"{{#l}}x{{/l}}", TPL_ESCAPE_HTML, "{'planet': 'Earth', 'l': " RET("{{=<% %>=}}<%planet%>") "}",
     0, 0, 0, 0, 0, "Earth", NULL},
    /* partials, dynamic partials and parents named by a lambda's text */
    {"{{{l}}}|{{{m}}}|{{{n}}}", TPL_ESCAPE_HTML,
     "{'planet': '<e>', 'which': 'p', 'l': " RET("{{>p}}") ", 'm': " RET(
         "{{>*which}}") ", 'n': " RET("{{<lay}}{{$b}}B{{/b}}{{/lay}}") "}",
     0, 0, 0, 0, 0, "P&lt;e&gt;|P&lt;e&gt;|[B]", NULL},
    {"x{{{l}}}", TPL_ESCAPE_HTML, "{'l': " RET("{{>nope}}") "}", 0, 0, 0, 0, TPL_E_LAMBDA, "x",
     "t:1:2: lambda text:1:1: partial \"nope\" is not in the set"},
    {"x{{{l}}}", TPL_ESCAPE_HTML, "{'l': " RET("{{>nope}}{{<nope}}{{$a}}A{{/a}}{{/nope}}y") "}", 0,
     0, 0, TPL_SET_MISSING_PARTIAL_EMPTY, 0, "xy", NULL},
    /* indentation: a section's text renders as its body would, an
     * interpolation's is a value */
    {"  {{>ind}}\n", TPL_ESCAPE_HTML, "{'l': {'__lambda__': 'echo'}}", 0, 0, 0, 0, 0,
     "  a\n  b\n  c\n", NULL},
    {"  {{>indv}}\n", TPL_ESCAPE_HTML, "{'l': " RET("x\\ny{{!}}") "}", 0, 0, 0, 0, 0, "  x\ny\n",
     NULL},
    /* a text that does not compile: TPL_E_LAMBDA at the (outermost) tag */
    {"ab\n  {{l}}", TPL_ESCAPE_HTML, "{'l': " RET("x{{#a}}") "}", 0, 0, 0, 0, TPL_E_LAMBDA,
     "ab\n  ", "t:2:3: lambda text:1:2: unclosed section \"a\""},
    {"{{#l}}x{{/l}}", TPL_ESCAPE_HTML, "{'l': " RET("{{/x}}") "}", 0, 0, 0, 0, TPL_E_LAMBDA, "",
     "t:1:1: lambda text:1:1: closing tag \"x\" without an open section"},
    {"..{{l}}", TPL_ESCAPE_HTML, "{'l': " RET("ab{{m}}") ", 'm': " RET("{{") "}", 0, 0, 0, 0,
     TPL_E_LAMBDA, "..", "t:1:3: lambda text:1:1: unclosed tag: no \"}}\" after it"},
    {"x{{l}}", TPL_ESCAPE_HTML, "{'l': " RET("{{g}}") ", 'g': {'__lambda__': 'fail'}}", 0, 0, 0, 0,
     TPL_E_LAMBDA, "x", "t:1:2: lambda failed (in a lambda's text)"},
    /* recursion: each expansion is a level */
    {"x{{l}}", TPL_ESCAPE_HTML, "{'l': " RET("{{l}}") "}", 10, 0, 0, 0, TPL_E_DEPTH, "x",
     "t:1:2: render nesting deeper than 10 levels (in a lambda's text)"},
    {"x{{{l}}}", TPL_ESCAPE_HTML, "{'l': " RET("-{{{l}}}") "}", 5, 0, 0, 0, TPL_E_DEPTH, "x-----",
     NULL},
    {"{{#l}}a{{/l}}", TPL_ESCAPE_HTML, "{'l': " RET("{{#l}}a{{/l}}") "}", 0, 0, 0, 0, TPL_E_DEPTH,
     "", "t:1:1: render nesting deeper than 100 levels (in a lambda's text)"},
    {"{{#l}}{{{a}}}{{/l}}", TPL_ESCAPE_HTML, "{'l': {'__lambda__': 'echo'}, 'a': " RET("A") "}", 0,
     0, 0, 0, 0, "A", NULL},
    /* the output cap counts a lambda's output, escaped or not */
    {"ab{{{l}}}", TPL_ESCAPE_HTML, "{'s': '12345', 'l': " RET("{{s}}{{s}}") "}", 0, 10, 0, 0,
     TPL_E_OUTPUT, "ab12345", "t:1:3: output larger than 10 bytes (in a lambda's text)"},
    {"ab{{l}}", TPL_ESCAPE_HTML, "{'s': '<<<', 'l': " RET("{{{s}}}") "}", 0, 14, 0, 0, 0,
     "ab&lt;&lt;&lt;", NULL},
    {"ab{{l}}", TPL_ESCAPE_HTML, "{'s': '<<<', 'l': " RET("{{{s}}}") "}", 0, 13, 0, 0, TPL_E_OUTPUT,
     "ab&lt;&lt;", "t:1:3: output larger than 13 bytes"},
    {"ab{{l}}", TPL_ESCAPE_HTML, "{'l': " RET("<<<") "}", 0, 13, 0, 0, TPL_E_OUTPUT, "ab&lt;&lt;",
     "t:1:3: output larger than 13 bytes"},
    {"ab{{l}}", TPL_ESCAPE_HTML, "{'s': '123456789012', 'l': " RET("{{s}}") "}", 0, 13, 0, 0,
     TPL_E_OUTPUT, "ab", "t:1:3: output larger than 13 bytes (in a lambda's text)"},
    /* and so does max_steps */
    {"{{{l}}}", TPL_ESCAPE_HTML,
     "{'n': [1, 2, 3, 4, 5, 6, 7, 8, 9], 'l': " RET("{{#n}}{{.}}{{/n}}") "}", 0, 0, 30, 0, 0,
     "123456789", NULL},
    {"{{{l}}}", TPL_ESCAPE_HTML,
     "{'n': [1, 2, 3, 4, 5, 6, 7, 8, 9], 'l': " RET("{{#n}}{{.}}{{/n}}") "}", 0, 0, 15, 0,
     TPL_E_STEPS, NULL, "t:1:1: render ran more than 15 ops (in a lambda's text)"},
};

static void test_engine_cases(void)
{
    size_t i, len;

    for (i = 0; i < NELEM(xcases); i++) {
        const struct xcase *x = &xcases[i];
        struct source src = {x->tpl, x->escape, NULL};
        struct tpl_set_opts so = {load, &src, 0, x->flags};
        struct tpl_set *set = tpl_set_new(&so);
        struct lambdas ls = {0, 0};
        struct tpl_render_opts ro = {.max_depth = x->max_depth,
                                     .max_output = x->max_output,
                                     .max_steps = x->max_steps,
                                     .lambda = on_lambda,
                                     .lambda_arg = &ls};
        struct tpl_error err = {0, ""};
        char *data = strdup(x->data), *p, *got;
        const struct tpl *t = NULL;
        json_error_t jerr;
        json_t *v;
        int rc;

        for (p = data; *p != '\0'; p++) {
            if (*p == '\'')
                *p = '"';
        }
        v = json_loads(data, 0, &jerr);
        CHECK_MSG(v != NULL, "case %zu: bad JSON: %s: %s", i, jerr.text, data);
        CHECK(tpl_set_add(set, MAIN_NAME, &t, &err) == 0);
        for (len = 0; len < NELEM(shared_partials); len++)
            CHECK(tpl_set_add(set, shared_partials[len].name, NULL, &err) == 0);
        if (v != NULL && t != NULL) {
            got = render(t, v, &ro, &rc, &len, &err);
            CHECK_MSG(rc == x->rc, "case %zu %s: rc %d (%s), want %d", i, x->tpl, rc, err.msg,
                      x->rc);
            if (x->out != NULL)
                CHECK_MSG(strcmp(got, x->out) == 0, "case %zu %s: got \"%s\", want \"%s\"", i,
                          x->tpl, got, x->out);
            if (x->msg != NULL)
                CHECK_MSG(strcmp(err.msg, x->msg) == 0, "case %zu %s: message \"%s\", want \"%s\"",
                          i, x->tpl, err.msg, x->msg);
            if (x->max_output > 0)
                CHECK(len <= x->max_output);
            free(got);
        }
        json_decref(v);
        free(data);
        tpl_set_free(set);
    }
}

static int pending_product(void *arg, const char *top, size_t len)
{
    return len == 7 && memcmp(top, "product", 7) == 0;
}

/* A pending name inside a lambda's text: the output so far is a prefix of the
 * full page, escaped or not. */
static void test_pending(void)
{
    static const char *const tpls[] = {"x{{{l}}}", "x{{l}}", "x{{#l}}-{{/l}}"};
    json_t *data = json_pack("{s{ss}s{ssss}}", "product", "name", "Lamp", "l", "__lambda__", "ret",
                             "text", "y{{product.name}}");
    size_t i, len, full_len;
    int rc;

    for (i = 0; i < NELEM(tpls); i++) {
        struct source src = {tpls[i], TPL_ESCAPE_HTML, NULL};
        struct tpl_set_opts so = {load, &src, 0, 0};
        struct tpl_set *set = tpl_set_new(&so);
        struct lambdas ls = {0, 0};
        struct tpl_render_opts ro = {.lambda = on_lambda, .lambda_arg = &ls};
        const struct tpl *t;
        char *part, *full;

        CHECK(tpl_set_add(set, MAIN_NAME, &t, NULL) == 0);
        full = render(t, data, &ro, &rc, &full_len, NULL);
        CHECK_INT(rc, 0);
        CHECK_MSG(strcmp(full, "xyLamp") == 0, "%s", full);
        ro.is_pending = pending_product;
        part = render(t, data, &ro, &rc, &len, NULL);
        CHECK_INT(rc, TPL_PENDING);
        CHECK_MSG(len >= 1 && len <= full_len && memcmp(part, full, len) == 0, "%s: \"%s\"",
                  tpls[i], part);
        free(part);
        free(full);
        tpl_set_free(set);
    }
    json_decref(data);
}

struct worker {
    const struct tpl *t;
    const json_t *data;
    const char *want;
    int mismatches;
};

static void *render_many(void *arg)
{
    struct worker *w = arg;
    struct lambdas ls = {0, 0};
    struct tpl_render_opts ro = {.lambda = on_lambda, .lambda_arg = &ls};
    struct evbuffer *out = evbuffer_new();
    size_t n = strlen(w->want);
    int i;

    for (i = 0; i < 500; i++) {
        if (tpl_render(w->t, w->data, &ro, out, NULL) != 0 || evbuffer_get_length(out) != n ||
            memcmp(evbuffer_pullup(out, -1), w->want, n) != 0)
            w->mismatches++;
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    evbuffer_free(out);
    return NULL;
}

static void test_threads(void)
{
    struct source src = {"{{#items}}{{l}}{{#e}}({{n}}){{/e}}{{/items}}", TPL_ESCAPE_HTML, NULL};
    struct tpl_set_opts so = {load, &src, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    json_t *data = json_pack("{s[{si}{si}]s{ssss}s{ss}}", "items", "n", 1, "n", 2, "l",
                             "__lambda__", "ret", "text", "<{{n}}>", "e", "__lambda__", "echo");
    struct worker w[2];
    pthread_t th[2];
    const struct tpl *t;
    int i;

    CHECK(tpl_set_add(set, MAIN_NAME, &t, NULL) == 0);
    for (i = 0; i < 2; i++) {
        w[i] = (struct worker){t, data, "&lt;1&gt;(1)&lt;2&gt;(2)", 0};
        CHECK(pthread_create(&th[i], NULL, render_many, &w[i]) == 0);
    }
    for (i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(w[i].mismatches, 0);
    }
    json_decref(data);
    tpl_set_free(set);
}

int main(int argc, char **argv)
{
    test_spec(argc > 1 ? argv[1] : "../shared/conformance/mustache");
    test_engine_cases();
    test_pending();
    test_threads();
    return check_report("test_tpl_lambdas");
}
