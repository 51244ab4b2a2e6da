/* SPDX-License-Identifier: Apache-2.0
 *
 * test_tpl: the template engine (proxy/render/) beyond the spec's own cases
 * (those run in test_tpl_spec): escaping in each mode, values as text, missing
 * data, dotted names, partial indentation, compile errors with line:col, the
 * nesting limits at compile and render time, the output cap, a 100,000-item
 * loop, pending mode, the lambda seam (the spec's lambdas and their limits are in
 * test_tpl_lambdas), the set's rollback on error, and one program rendered from
 * two threads at once.
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

struct entry {
    const char *name;
    const char *text;
    enum tpl_escape escape;
};

/* A loader over a table; "fail" makes it report a read error. */
struct table {
    const struct entry *e;
    size_t n;
};

static int table_load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    const struct table *t = arg;
    size_t i;

    if (len == 4 && memcmp(name, "fail", 4) == 0)
        return -100;
    for (i = 0; i < t->n; i++) {
        if (strlen(t->e[i].name) == len && memcmp(t->e[i].name, name, len) == 0) {
            src->text = t->e[i].text;
            src->len = strlen(t->e[i].text);
            src->file = t->e[i].name;
            src->escape = t->e[i].escape;
            return 0;
        }
    }
    return TPL_E_NOT_FOUND;
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

    if (v == NULL)
        fprintf(stderr, "test_tpl: bad test JSON: %s: %s\n", jerr.text, text);
    return v;
}

/* Renders template `name` of set with data (JSON text); returns the output
 * (malloc'd, NUL-terminated) and sets *rc. */
static char *render_opts(const struct tpl_set *set, const char *name, const char *data,
                         const struct tpl_render_opts *opts, int *rc, struct tpl_error *err)
{
    const struct tpl *t = tpl_set_get(set, name);
    struct evbuffer *out = evbuffer_new();
    json_t *v = parse(data);
    size_t n;
    char *text;

    *rc = tpl_render(t, v, opts, out, err);
    n = evbuffer_get_length(out);
    text = malloc(n + 1);
    evbuffer_remove(out, text, n);
    text[n] = '\0';
    evbuffer_free(out);
    json_decref(v);
    return text;
}

/* Compiles one template (and what it references) from entries, renders it with
 * data and checks the output. */
static void expect(const struct entry *e, size_t n, const char *data, const char *want)
{
    struct table tab = {e, n};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    struct tpl_error err = {0, ""};
    char *got;
    int rc = tpl_set_add(set, e[0].name, NULL, &err);

    CHECK_MSG(rc == 0, "%s: %s", e[0].name, err.msg);
    if (rc == 0) {
        got = render_opts(set, e[0].name, data, NULL, &rc, &err);
        CHECK_MSG(rc == 0 && strcmp(got, want) == 0, "%s: rc %d (%s), got \"%s\", want \"%s\"",
                  e[0].text, rc, err.msg, got, want);
        free(got);
    }
    tpl_set_free(set);
}

static void expect1(const char *text, enum tpl_escape escape, const char *data, const char *want)
{
    struct entry e = {"t", text, escape};

    expect(&e, 1, data, want);
}

static void test_escaping(void)
{
    const char *data = "{\"s\": \"<a href='x'>&\\\"\\\\\\u0001\\n\\u00e9</a>\"}";

    expect1("{{s}}", TPL_ESCAPE_HTML, data,
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\\\x01\n\xc3\xa9&lt;/a&gt;");
    expect1("{{s}}", TPL_ESCAPE_JSON, data, "<a href='x'>&\\\"\\\\\\u0001\\u000a\xc3\xa9</a>");
    expect1("{{s}}", TPL_ESCAPE_NONE, data, "<a href='x'>&\"\\\x01\n\xc3\xa9</a>");
    expect1("{{{s}}}|{{&s}}", TPL_ESCAPE_HTML, "{\"s\": \"<&>\"}", "<&>|<&>");
    expect1("{{{s}}}|{{&s}}", TPL_ESCAPE_JSON, "{\"s\": \"\\\"\"}", "\"|\"");
    CHECK_INT(tpl_escape_for_file("components/price.html.mustache"), TPL_ESCAPE_HTML);
    CHECK_INT(tpl_escape_for_file("pages/product.json.mustache"), TPL_ESCAPE_JSON);
    CHECK_INT(tpl_escape_for_file("mail.txt.mustache"), TPL_ESCAPE_NONE);
    CHECK_INT(tpl_escape_for_file("product.mustache"), -1);
}

/* "{{x}}" in a JSON template is a valid JSON string whatever x holds. */
static void test_json_strings(void)
{
    static const char *values[] = {"plain", "quote\" back\\slash",   "ctl \x01\x1f\t\r\n",
                                   "",      "\xe2\x80\xa8 line sep", "</script>"};
    struct entry e = {"t.json", "{\"v\": \"{{v}}\", \"o\": \"{{o}}\", \"raw\": {{{o}}}}",
                      TPL_ESCAPE_JSON};
    struct table tab = {&e, 1};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    size_t i;

    CHECK(tpl_set_add(set, "t.json", NULL, NULL) == 0);
    for (i = 0; i < NELEM(values); i++) {
        json_t *data = json_pack("{s:s, s:{s:s, s:[i, f, b, n]}}", "v", values[i], "o", "k",
                                 values[i], "a", 1, 2.5, 1);
        char *text = json_dumps(data, JSON_COMPACT), *got;
        json_t *back;
        int rc;

        got = render_opts(set, "t.json", text, NULL, &rc, NULL);
        back = json_loads(got, 0, NULL);
        CHECK_MSG(rc == 0 && back != NULL, "not JSON: %s", got);
        CHECK(json_equal(json_object_get(back, "v"), json_object_get(data, "v")));
        CHECK(json_equal(json_object_get(back, "raw"), json_object_get(data, "o")));
        CHECK_MSG(json_is_string(json_object_get(back, "o")) &&
                      strcmp(json_string_value(json_object_get(back, "o")),
                             strstr(got, "\"raw\": ") + 7) != 0,
                  "%s", got);
        json_decref(back);
        json_decref(data);
        free(text);
        free(got);
    }
    tpl_set_free(set);
}

static void test_values(void)
{
    expect1("{{i}} {{n}} {{r}} {{s}} {{t}} {{f}} [{{z}}]", TPL_ESCAPE_HTML,
            "{\"i\": 85, \"n\": -9007199254740993, \"r\": 1.21, \"s\": 0.1, \"t\": true, "
            "\"f\": false, \"z\": null}",
            "85 -9007199254740993 1.21 0.1 true false []");
    expect1("{{a}} {{b}} {{c}} {{d}}", TPL_ESCAPE_NONE,
            "{\"a\": 2.0, \"b\": 1e21, \"c\": 0.30000000000000004, \"d\": -0.5}",
            "2 1e+21 0.30000000000000004 -0.5");
    expect1("{{o}}", TPL_ESCAPE_HTML, "{\"o\": {\"a\": [1, \"<\", null], \"b\": {}}}",
            "{&quot;a&quot;:[1,&quot;&lt;&quot;,null],&quot;b&quot;:{}}");
    /* truthiness as JavaScript's */
    expect1("{{#a}}A{{/a}}{{#b}}B{{/b}}{{#c}}C{{/c}}{{#d}}D{{/d}}{{#e}}E{{/e}}{{#f}}F{{/f}}",
            TPL_ESCAPE_HTML, "{\"a\": 0, \"b\": \"\", \"c\": [], \"d\": {}, \"e\": 0.0, \"f\": 1}",
            "DF");
}

/* Reals print as the shortest of %.15g, %.16g and %.17g that reads back; the
 * engine's fast path for short decimals must agree. */
static void test_reals(void)
{
    struct entry e = {"t", "{{#xs}}{{.}} {{/xs}}", TPL_ESCAPE_NONE};
    struct table tab = {&e, 1};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    json_t *xs = json_array(), *data = json_pack("{s:o}", "xs", xs);
    struct evbuffer *out = evbuffer_new(), *want = evbuffer_new();
    const struct tpl *t;
    unsigned long long seed = 42;
    char buf[40];
    double d;
    int i, prec;

    for (i = 0; i < 20000; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        switch (i % 4) {
        case 0: d = (double)(long long)(seed >> 40) / 100.0; break;
        case 1: d = -(double)(long long)(seed >> 44) / 10000.0; break;
        case 2: d = (double)(seed >> 11) / 9007199254740992.0 * 1e12; break;
        default: d = (double)(seed >> 11) / 9007199254740992.0 / 1000.0; break;
        }
        json_array_append_new(xs, json_real(d));
        for (prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        evbuffer_add_printf(want, "%s ", buf);
    }
    CHECK(tpl_set_add(set, "t", &t, NULL) == 0);
    CHECK_INT(tpl_render(t, data, NULL, out, NULL), 0);
    CHECK(evbuffer_get_length(out) == evbuffer_get_length(want) &&
          memcmp(evbuffer_pullup(out, -1), evbuffer_pullup(want, -1), evbuffer_get_length(out)) ==
              0);
    evbuffer_free(out);
    evbuffer_free(want);
    json_decref(data);
    tpl_set_free(set);
}

static void test_missing_and_dotted(void)
{
    expect1("[{{a}}][{{a.b}}][{{#a}}x{{/a}}][{{^a}}y{{/a}}][{{{a.b.c}}}]", TPL_ESCAPE_HTML, "{}",
            "[][][][y][]");
    expect1("[{{.}}]", TPL_ESCAPE_HTML, "null", "[]");
    expect1("{{p.name}} {{p.tags.1}} {{p.tags.9}} {{p.tags.x}} {{p.imgs.0.url}}", TPL_ESCAPE_HTML,
            "{\"p\": {\"name\": \"Lamp\", \"tags\": [\"a\", \"b\"], \"imgs\": [{\"url\": "
            "\"/i.png\"}]}}",
            "Lamp b   /i.png");
    /* once the first part is found, the rest resolves there only */
    expect1("{{#p}}{{q.r}}{{/p}}", TPL_ESCAPE_HTML, "{\"p\": {\"q\": 1}, \"q\": {\"r\": \"no\"}}",
            "");
    expect1("{{#list}}{{name}}:{{top}};{{/list}}", TPL_ESCAPE_HTML,
            "{\"top\": \"T\", \"list\": [{\"name\": \"a\"}, {\"name\": \"b\", \"top\": \"U\"}]}",
            "a:T;b:U;");
}

static void test_partials(void)
{
    static const struct entry nested[] = {
        {"page", "<ul>\n  {{>list}}\n</ul>\n", TPL_ESCAPE_HTML},
        {"list", "{{#items}}\n  {{>item}}\n{{/items}}\n", TPL_ESCAPE_HTML},
        {"item", "<li>{{.}}</li>\n", TPL_ESCAPE_HTML},
    };
    static const struct entry modes[] = {
        {"page.html", "<p>{{s}}</p>{{>data.json}}", TPL_ESCAPE_HTML},
        {"data.json", "{\"s\": \"{{s}}\"}", TPL_ESCAPE_JSON},
    };
    static const struct entry dyn[] = {
        {"main", "{{#cards}}{{>*kind}}{{/cards}}|{{>*nope}}|{{>*n}}", TPL_ESCAPE_HTML},
        {"text", "[{{body}}]", TPL_ESCAPE_HTML},
        {"image", "<img src=\"{{src}}\">", TPL_ESCAPE_HTML},
    };
    struct table tab = {dyn, NELEM(dyn)};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    char *got;
    int rc;

    /* standalone partials indent every line they render, nested ones add up */
    expect(nested, NELEM(nested), "{\"items\": [1, 2]}",
           "<ul>\n    <li>1</li>\n    <li>2</li>\n</ul>\n");
    /* each template escapes in its own mode */
    expect(modes, NELEM(modes), "{\"s\": \"<\\\"\"}", "<p>&lt;&quot;</p>{\"s\": \"<\\\"\"}");
    /* dynamic names resolve among the templates of the set */
    CHECK(tpl_set_add(set, "main", NULL, NULL) == 0);
    CHECK(tpl_set_add(set, "text", NULL, NULL) == 0);
    CHECK(tpl_set_add(set, "image", NULL, NULL) == 0);
    got = render_opts(set, "main",
                      "{\"n\": 5, \"nope\": \"absent\", \"cards\": [{\"kind\": \"text\", \"body\": "
                      "\"hi\"}, {\"kind\": \"image\", \"src\": \"a.png\"}, {\"kind\": \"main\"}]}",
                      NULL, &rc, NULL);
    /* the third card renders main again, whose cards are the same: the depth limit stops it */
    CHECK_INT(rc, TPL_E_DEPTH);
    free(got);
    got = render_opts(set, "main",
                      "{\"nope\": \"absent\", \"cards\": [{\"kind\": \"text\", \"body\": \"hi\"}, "
                      "{\"kind\": \"image\", \"src\": \"a.png\"}]}",
                      NULL, &rc, NULL);
    CHECK_MSG(rc == 0 && strcmp(got, "[hi]<img src=\"a.png\">||") == 0, "%d %s", rc, got);
    free(got);
    tpl_set_free(set);
}

struct error_case {
    const char *text;
    int code;
    const char *msg;
};

static void test_compile_errors(void)
{
    static const struct error_case cases[] = {
        {"{{#a}}x", TPL_E_SYNTAX, "t:1:1: unclosed section \"a\""},
        {"ok\n {{#a}}{{^b}}\n{{/b}}", TPL_E_SYNTAX, "t:2:2: unclosed section \"a\""},
        {"ab\n  {{#a}}{{/b}}", TPL_E_SYNTAX,
         "t:2:9: closing tag \"b\" does not match section \"a\" opened at 2:3"},
        {"{{/a}}", TPL_E_SYNTAX, "t:1:1: closing tag \"a\" without an open section"},
        {"hello {{name", TPL_E_SYNTAX, "t:1:7: unclosed tag: no \"}}\" after it"},
        {"x\n\n   {{{name}}", TPL_E_SYNTAX, "t:3:4: unclosed tag: no \"}}}\" after it"},
        {"{{=<% %>=}}\n<%a}}", TPL_E_SYNTAX, "t:2:1: unclosed tag: no \"%>\" after it"},
        {"{{= <% =}}", TPL_E_SYNTAX, "t:1:1: bad delimiter change: expected two delimiters"},
        {"a {{=<% %> x=}}", TPL_E_SYNTAX, "t:1:3: bad delimiter change: expected two delimiters"},
        {"{{}}", TPL_E_SYNTAX, "t:1:1: empty tag name"},
        {"{{a b}}", TPL_E_SYNTAX, "t:1:1: bad tag name \"a b\": names hold no whitespace"},
        {"{{#a..b}}{{/a..b}}", TPL_E_SYNTAX, "t:1:1: bad name \"a..b\": empty part"},
        {"x\n {{>nope}}", TPL_E_NOT_FOUND, "t:2:2: partial \"nope\" not found"},
        {"{{<fail}}{{/fail}}", TPL_E_LOAD, "t:1:1: partial \"fail\" could not be loaded"},
        {"{{>bad}}", TPL_E_SYNTAX, "bad:2:3: unclosed section \"x\""},
        {"{{<p}}{{/q}}", TPL_E_SYNTAX,
         "t:1:7: closing tag \"q\" does not match parent \"p\" opened at 1:1"},
    };
    static const struct entry extra = {"bad", "ok\n  {{#x}}\n", TPL_ESCAPE_HTML};
    struct entry e[2] = {{"t", NULL, TPL_ESCAPE_HTML}, extra};
    struct table tab = {e, 2};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        struct tpl_set *set = tpl_set_new(&so);
        struct tpl_error err = {0, ""};
        int rc;

        e[0].text = cases[i].text;
        rc = tpl_set_add(set, "t", NULL, &err);
        CHECK_MSG(rc == cases[i].code && err.code == rc && strcmp(err.msg, cases[i].msg) == 0,
                  "\"%s\": got %d \"%s\", want %d \"%s\"", cases[i].text, rc, err.msg,
                  cases[i].code, cases[i].msg);
        /* the failed call left nothing behind */
        CHECK(tpl_set_get(set, "t") == NULL && tpl_set_get(set, "bad") == NULL);
        tpl_set_free(set);
    }
}

static void test_set(void)
{
    static const struct entry e[] = {
        {"a", "A{{>b}}", TPL_ESCAPE_HTML},
        {"b", "B", TPL_ESCAPE_HTML},
        {"c", "C{{>b}}{{>missing}}", TPL_ESCAPE_HTML},
    };
    struct table tab = {e, NELEM(e)};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    const struct tpl *a, *again;
    struct tpl_error err;

    CHECK(tpl_set_add(set, "a", &a, &err) == 0);
    CHECK(tpl_set_get(set, "b") != NULL && strcmp(tpl_name(a), "a") == 0);
    CHECK(strcmp(tpl_file(a), "a") == 0);
    CHECK(tpl_set_add(set, "a", &again, &err) == 0 && again == a);
    CHECK_INT(tpl_set_add(set, "c", NULL, &err), TPL_E_NOT_FOUND);
    CHECK(tpl_set_get(set, "c") == NULL && tpl_set_get(set, "b") != NULL);
    CHECK_INT(tpl_set_add(set, "zzz", NULL, &err), TPL_E_NOT_FOUND);
    CHECK_MSG(strcmp(err.msg, "zzz: template not found") == 0, "%s", err.msg);
    tpl_set_free(set);
    tpl_set_free(NULL);
}

/* A template of n nested sections "{{#a}}...{{/a}}". */
static char *nested_sections(unsigned n)
{
    char *s = malloc(n * 12 + 2), *p = s;
    unsigned i;

    for (i = 0; i < n; i++)
        p += sprintf(p, "{{#a}}");
    *p++ = 'x';
    for (i = 0; i < n; i++)
        p += sprintf(p, "{{/a}}");
    *p = '\0';
    return s;
}

static void test_nesting_limits(void)
{
    char *deep = nested_sections(TPL_DEFAULT_MAX_NESTING + 1);
    char *ok = nested_sections(TPL_DEFAULT_MAX_NESTING);
    struct entry e[] = {{"deep", deep, TPL_ESCAPE_HTML},
                        {"ok", ok, TPL_ESCAPE_HTML},
                        {"tree", "{{#kids}}({{>tree}}){{/kids}}", TPL_ESCAPE_HTML},
                        {"self", "x{{>self}}", TPL_ESCAPE_HTML},
                        {"blk", "{{<blkp}}{{$a}}[{{$a}}{{/a}}]{{/a}}{{/blkp}}", TPL_ESCAPE_HTML},
                        {"blkp", "{{$a}}{{/a}}", TPL_ESCAPE_HTML},
                        {"twice", "{{#kids}}{{>twice}}{{>twice}}{{/kids}}", TPL_ESCAPE_HTML}};
    struct table tab = {e, NELEM(e)};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    struct tpl_render_opts ro = {.max_depth = 40};
    struct tpl_error err;
    json_t *data = json_object(), *node = data;
    char *text, *got;
    int rc, i;

    CHECK_INT(tpl_set_add(set, "deep", NULL, &err), TPL_E_LIMIT);
    CHECK_MSG(strcmp(err.msg, "deep:1:385: nesting deeper than 64 levels") == 0, "%s", err.msg);
    CHECK_INT(tpl_set_add(set, "ok", NULL, &err), 0);
    CHECK(tpl_set_add(set, "tree", NULL, &err) == 0 && tpl_set_add(set, "self", NULL, &err) == 0);
    CHECK(tpl_set_add(set, "blk", NULL, &err) == 0);
    /* data nested 19 deep fits in 40 levels (a section and a partial each)... */
    for (i = 0; i < 200; i++) {
        json_t *kid = json_object();
        json_object_set_new(node, "kids", json_pack("[o]", kid));
        json_object_set_new(kid, "kids", json_array());
        node = kid;
        if (i == 18) {
            text = json_dumps(data, 0);
            got = render_opts(set, "tree", text, &ro, &rc, &err);
            CHECK_MSG(rc == 0 && strlen(got) == 2 * 19, "%d %s", rc, err.msg);
            free(text);
            free(got);
        }
    }
    /* ...200 deep does not, nor do endless recursions */
    text = json_dumps(data, 0);
    got = render_opts(set, "tree", text, &ro, &rc, &err);
    CHECK_INT(rc, TPL_E_DEPTH);
    CHECK_MSG(strstr(err.msg, "tree:1:") == err.msg &&
                  strstr(err.msg, "render nesting deeper than 40 levels") != NULL,
              "%s", err.msg);
    free(got);
    free(text);
    got = render_opts(set, "self", "{}", NULL, &rc, &err);
    CHECK_MSG(rc == TPL_E_DEPTH && strcmp(err.msg, "self:1:2: render nesting deeper than 100 "
                                                   "levels") == 0,
              "%s", err.msg);
    CHECK_INT(strlen(got), TPL_DEFAULT_MAX_DEPTH + 1);
    free(got);
    got = render_opts(set, "blk", "{}", NULL, &rc, &err);
    CHECK_INT(rc, TPL_E_DEPTH);
    free(got);
    /* data 45 deep, two calls a level: 2^45 calls and no output, within the
     * depth limit; the step budget stops it */
    CHECK(tpl_set_add(set, "twice", NULL, &err) == 0);
    json_decref(data);
    data = json_object();
    for (node = data, i = 0; i < 45; i++) {
        json_t *kid = json_object();
        json_object_set_new(node, "kids", json_pack("[o]", kid));
        json_object_set_new(kid, "kids", json_array());
        node = kid;
    }
    text = json_dumps(data, 0);
    ro.max_depth = 0;
    ro.max_steps = 100000;
    got = render_opts(set, "twice", text, &ro, &rc, &err);
    CHECK_INT(rc, TPL_E_STEPS);
    CHECK_MSG(strstr(err.msg, "render ran more than 100000 ops") != NULL, "%s", err.msg);
    free(got);
    got = render_opts(set, "twice", text, NULL, &rc, &err);
    CHECK_INT(rc, TPL_E_STEPS);
    free(got);
    free(text);
    json_decref(data);
    tpl_set_free(set);
    free(deep);
    free(ok);
}

static void test_output_cap(void)
{
    struct entry e = {"t", "{{#n}}0123456789{{/n}}", TPL_ESCAPE_HTML};
    struct table tab = {&e, 1};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    struct tpl_render_opts ro = {.max_output = 25};
    struct tpl_error err;
    char *got;
    int rc;

    CHECK(tpl_set_add(set, "t", NULL, NULL) == 0);
    got = render_opts(set, "t", "{\"n\": [1, 2]}", &ro, &rc, &err);
    CHECK(rc == 0 && strlen(got) == 20);
    free(got);
    got = render_opts(set, "t", "{\"n\": [1, 2, 3]}", &ro, &rc, &err);
    CHECK_INT(rc, TPL_E_OUTPUT);
    CHECK_MSG(strcmp(err.msg, "t:1:7: output larger than 25 bytes") == 0, "%s", err.msg);
    CHECK(strlen(got) <= 25);
    free(got);
    tpl_set_free(set);
}

static void test_large_loop(void)
{
    struct entry e = {"t",
                      "<ul>\n{{#items}}\n  <li id=\"{{id}}\">{{name}}</li>\n{{/items}}\n</ul>\n",
                      TPL_ESCAPE_HTML};
    struct table tab = {&e, 1};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    json_t *items = json_array(), *data = json_pack("{s:o}", "items", items);
    struct evbuffer *out = evbuffer_new(), *want = evbuffer_new();
    const struct tpl *t;
    char name[32];
    int i, rc;

    evbuffer_add_printf(want, "<ul>\n");
    for (i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "item <%d>", i);
        json_array_append_new(items, json_pack("{s:i, s:s}", "id", i, "name", name));
        evbuffer_add_printf(want, "  <li id=\"%d\">item &lt;%d&gt;</li>\n", i, i);
    }
    evbuffer_add_printf(want, "</ul>\n");
    CHECK(tpl_set_add(set, "t", &t, NULL) == 0);
    rc = tpl_render(t, data, NULL, out, NULL);
    CHECK_INT(rc, 0);
    CHECK_INT(evbuffer_get_length(out), evbuffer_get_length(want));
    CHECK(evbuffer_get_length(out) == evbuffer_get_length(want) &&
          memcmp(evbuffer_pullup(out, -1), evbuffer_pullup(want, -1), evbuffer_get_length(out)) ==
              0);
    evbuffer_free(out);
    evbuffer_free(want);
    json_decref(data);
    tpl_set_free(set);
}

static int pending_product(void *arg, const char *top, size_t len)
{
    int *calls = arg;

    ++*calls;
    return len == 7 && memcmp(top, "product", 7) == 0;
}

static void test_pending(void)
{
    static const struct entry e[] = {
        {"page",
         "<nav>{{#nav}}{{.}} {{/nav}}</nav>\n{{#offers}}{{product}}|{{/offers}}\n"
         "{{>body}}<footer/>",
         TPL_ESCAPE_HTML},
        {"body", "<h1>{{product.name}}</h1>", TPL_ESCAPE_HTML},
    };
    const char *data = "{\"nav\": [\"a\", \"b\"], \"offers\": [{\"product\": \"p1\"}], "
                       "\"product\": {\"name\": \"Lamp\"}}";
    struct table tab = {e, NELEM(e)};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    int calls = 0, rc;
    struct tpl_render_opts ro = {.is_pending = pending_product, .pending_arg = &calls};
    char *part, *full;

    CHECK(tpl_set_add(set, "page", NULL, NULL) == 0);
    part = render_opts(set, "page", data, &ro, &rc, NULL);
    CHECK_INT(rc, TPL_PENDING);
    /* "product" inside offers resolves in the item: not pending */
    CHECK_MSG(strcmp(part, "<nav>a b </nav>\np1|\n<h1>") == 0, "%s", part);
    CHECK(calls >= 2);
    full = render_opts(set, "page", data, NULL, &rc, NULL);
    CHECK_INT(rc, 0);
    CHECK(strncmp(full, part, strlen(part)) == 0);
    CHECK_MSG(strcmp(full + strlen(part), "Lamp</h1><footer/>") == 0, "%s", full);
    free(part);
    free(full);
    tpl_set_free(set);
}

static int upper_lambda(void *arg, const json_t *v, const char *section, size_t len,
                        struct evbuffer *text)
{
    const json_t *tag = json_object_get(v, "__lambda__");
    size_t i;

    if (!json_is_string(tag))
        return 0;
    if (strcmp(json_string_value(tag), "fail") == 0)
        return -1;
    if (section == NULL)
        return evbuffer_add_printf(text, "<%s>", json_string_value(tag)) < 0 ? -1 : 1;
    for (i = 0; i < len; i++)
        evbuffer_add_printf(text, "%c",
                            section[i] >= 'a' && section[i] <= 'z' ? section[i] - 'a' + 'A'
                                                                   : section[i]);
    return 1;
}

static void test_lambda_seam(void)
{
    static const struct entry e[] = {
        {"t", "{{f}}|{{{f}}}|{{#f}}ab{{x}}{{/f}}|{{^f}}no{{/f}}|{{#o}}{{k}}{{/o}}",
         TPL_ESCAPE_HTML},
    };
    const char *data =
        "{\"f\": {\"__lambda__\": \"up\"}, \"o\": {\"k\": 1}, \"g\": {\"__lambda__\": "
        "\"fail\"}, \"X\": \"<x>\"}";
    struct table tab = {e, NELEM(e)};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    struct tpl_render_opts ro = {.lambda = upper_lambda};
    struct tpl_error err;
    char *got;
    int rc;

    CHECK(tpl_set_add(set, "t", NULL, NULL) == 0);
    got = render_opts(set, "t", data, &ro, &rc, &err);
    /* the section's text comes back as "AB{{X}}", a template: {{X}} escaped */
    CHECK_MSG(rc == 0 && strcmp(got, "&lt;up&gt;|<up>|AB&lt;x&gt;||1") == 0, "%s", got);
    free(got);
    /* without the callback a lambda is an object like any other */
    got = render_opts(set, "t", data, NULL, &rc, &err);
    CHECK_MSG(rc == 0 && strcmp(got, "{&quot;__lambda__&quot;:&quot;up&quot;}|"
                                     "{\"__lambda__\":\"up\"}|ab||1") == 0,
              "%s", got);
    free(got);
    tpl_set_free(set);
    {
        struct entry f = {"f", "x{{g}}", TPL_ESCAPE_HTML};
        struct table ft = {&f, 1};
        struct tpl_set_opts fo = {table_load, &ft, 0, 0};

        set = tpl_set_new(&fo);
        CHECK(tpl_set_add(set, "f", NULL, NULL) == 0);
        got = render_opts(set, "f", data, &ro, &rc, &err);
        CHECK_INT(rc, TPL_E_LAMBDA);
        CHECK_MSG(strcmp(err.msg, "f:1:2: lambda failed") == 0, "%s", err.msg);
        free(got);
        tpl_set_free(set);
    }
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
    struct evbuffer *out = evbuffer_new();
    size_t n = strlen(w->want);
    int i;

    for (i = 0; i < 2000; i++) {
        if (tpl_render(w->t, w->data, NULL, out, NULL) != 0 || evbuffer_get_length(out) != n ||
            memcmp(evbuffer_pullup(out, -1), w->want, n) != 0)
            w->mismatches++;
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    evbuffer_free(out);
    return NULL;
}

static void test_threads(void)
{
    static const struct entry e[] = {
        {"page", "<h1>{{title}}</h1>\n{{#items}}\n  {{>row}}\n{{/items}}\n{{>*footer}}",
         TPL_ESCAPE_HTML},
        {"row", "<li>{{name}}: {{price}}</li>\n", TPL_ESCAPE_HTML},
        {"foot", "<footer>{{title}}</footer>", TPL_ESCAPE_HTML},
    };
    struct table tab = {e, NELEM(e)};
    struct tpl_set_opts so = {table_load, &tab, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    json_t *data = parse("{\"title\": \"A & B\", \"footer\": \"foot\", \"items\": [{\"name\": "
                         "\"x\", \"price\": 1.5}, {\"name\": \"<y>\", \"price\": 2}]}");
    const char *want = "<h1>A &amp; B</h1>\n  <li>x: 1.5</li>\n  <li>&lt;y&gt;: 2</li>\n"
                       "<footer>A &amp; B</footer>";
    struct worker w[2];
    pthread_t th[2];
    const struct tpl *t;
    int i;

    CHECK(tpl_set_add(set, "page", &t, NULL) == 0 && tpl_set_add(set, "foot", NULL, NULL) == 0);
    for (i = 0; i < 2; i++) {
        w[i] = (struct worker){t, data, want, 0};
        CHECK(pthread_create(&th[i], NULL, render_many, &w[i]) == 0);
    }
    for (i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(w[i].mismatches, 0);
    }
    json_decref(data);
    tpl_set_free(set);
}

int main(void)
{
    test_escaping();
    test_json_strings();
    test_values();
    test_reals();
    test_missing_and_dotted();
    test_partials();
    test_compile_errors();
    test_set();
    test_nesting_limits();
    test_output_cap();
    test_large_loop();
    test_pending();
    test_lambda_seam();
    test_threads();
    return check_report("test_tpl");
}
