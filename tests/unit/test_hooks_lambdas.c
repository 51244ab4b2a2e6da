/* SPDX-License-Identifier: Apache-2.0
 *
 * test_hooks_lambdas: the spec's ~lambdas.json with Lua lambdas. Each case's
 * code values are replaced by a Lua equivalent of its js code below, loaded as a
 * hook script (`return { lambdas = { lambda = <code> } }`, in a sandboxed VM of
 * its own), the data's lambda becomes hook_lambda_mark("lambda"), and the case's
 * template renders through hook_lambda_call (lua/hook_lambda.h), the bridge the
 * server uses. A case without a Lua equivalent here fails, and so does an
 * equivalent whose case is gone. Also: a lambda that raises, or returns a table,
 * stops the render with TPL_E_LAMBDA and a message naming the script's line.
 *
 *   test_hooks_lambdas [spec-dir]   (default ../shared/conformance/mustache)
 */
#include "lua/hook_lambda.h"
#include "lua/hooks.h"
#include "render/tpl.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

/* Lua for each case's js code. */
static const struct {
    const char *name;
    const char *lua;
} equivalents[] = {
    {"Interpolation", "function() return \"world\" end"},
    {"Interpolation - Expansion", "function() return \"{{planet}}\" end"},
    {"Interpolation - Alternate Delimiters", "function() return \"|planet| => {{planet}}\" end"},
    {"Interpolation - Multiple Calls",
     "(function() local calls = 0 return function() calls = calls + 1 return calls end end)()"},
    {"Escaping", "function() return \">\" end"},
    {"Section", "function(txt) if txt == \"{{x}}\" then return \"yes\" end return \"no\" end"},
    {"Section - Expansion", "function(txt) return txt .. \"{{planet}}\" .. txt end"},
    {"Section - Alternate Delimiters",
     "function(txt) return txt .. \"{{planet}} => |planet|\" .. txt end"},
    {"Section - Multiple Calls", "function(txt) return \"__\" .. txt .. \"__\" end"},
    {"Inverted Section", "function(txt) return false end"},
};
#define NEQ (sizeof(equivalents) / sizeof(equivalents[0]))

struct bridge {
    struct hook_vm *vm;
    int sid;
    char err[512];
};

static int lambda_cb(void *arg, const json_t *v, const char *section, size_t len,
                     struct evbuffer *text)
{
    struct bridge *b = arg;
    return hook_lambda_call(b->vm, b->sid, v, section, len, text, b->err, sizeof(b->err));
}

struct sources {
    const char *main;
    const json_t *partials;
};

static int load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    const struct sources *s = arg;
    const char *text = NULL;
    if (len == 1 && name[0] == 't') {
        text = s->main;
    } else {
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)len, name);
        text = json_string_value(json_object_get(s->partials, key));
    }
    if (text == NULL)
        return TPL_E_NOT_FOUND;
    src->text = text;
    src->len = strlen(text);
    src->file = NULL;
    src->escape = TPL_ESCAPE_HTML;
    return 0;
}

/* Renders `tpl` with data through a script whose lambdas table is `lambdas`.
 * Returns the render's status; the output in *out (caller frees). */
static int render_with(const char *lambdas, const char *tpl, const json_t *partials, json_t *data,
                       char **out, char *msg, size_t msglen)
{
    char err[512];
    struct bridge b = {hook_vm_new(NULL, err, sizeof(err)), -1, ""};
    CHECK_MSG(b.vm != NULL, "%s", err);
    char script[1024];
    snprintf(script, sizeof(script), "return { lambdas = { lambda = %s } }\n", lambdas);
    int rc = hook_vm_load(b.vm, "lambdas.lua", script, strlen(script), &b.sid, err, sizeof(err));
    CHECK_MSG(rc == 0, "%s", err);
    struct sources src = {tpl, partials};
    struct tpl_set_opts so = {load, &src, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    const struct tpl *t = NULL;
    struct tpl_error terr = {0, ""};
    rc = tpl_set_add(set, "t", &t, &terr);
    CHECK_MSG(rc == 0, "%s", terr.msg);
    struct evbuffer *ev = evbuffer_new();
    if (rc == 0) {
        struct tpl_render_opts ro = {0};
        ro.lambda = lambda_cb;
        ro.lambda_arg = &b;
        rc = tpl_render(t, data, &ro, ev, &terr);
    }
    size_t n = evbuffer_get_length(ev);
    *out = malloc(n + 1);
    evbuffer_remove(ev, *out, n);
    (*out)[n] = '\0';
    snprintf(msg, msglen, "%s", b.err);
    evbuffer_free(ev);
    tpl_set_free(set);
    hook_vm_free(b.vm);
    return rc;
}

static void test_spec(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/~lambdas.json", dir);
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    const json_t *tests = json_object_get(doc, "tests");
    CHECK_MSG(json_array_size(tests) > 0, "cannot read %s: %s", path, jerr.text);
    int seen[NEQ] = {0}, passed = 0;
    for (size_t i = 0; i < json_array_size(tests); i++) {
        const json_t *test = json_array_get(tests, i);
        const char *name = json_string_value(json_object_get(test, "name"));
        size_t k = 0;
        while (k < NEQ && (name == NULL || strcmp(equivalents[k].name, name) != 0))
            k++;
        CHECK_MSG(k < NEQ, "~lambdas.json: no Lua equivalent for case \"%s\"", name ? name : "?");
        if (k == NEQ)
            continue;
        seen[k]++;
        json_t *data = json_deep_copy(json_object_get(test, "data"));
        json_object_set_new(data, "lambda", hook_lambda_mark("lambda"));
        char *got = NULL, msg[512];
        int rc =
            render_with(equivalents[k].lua, json_string_value(json_object_get(test, "template")),
                        json_object_get(test, "partials"), data, &got, msg, sizeof(msg));
        const char *want = json_string_value(json_object_get(test, "expected"));
        int ok = rc == 0 && want != NULL && strcmp(got, want) == 0;
        CHECK_MSG(ok, "~lambdas.json \"%s\": rc %d, got \"%s\", want \"%s\" %s", name, rc, got,
                  want ? want : "?", msg);
        passed += ok;
        free(got);
        json_decref(data);
    }
    for (size_t k = 0; k < NEQ; k++)
        CHECK_MSG(seen[k] == 1, "case \"%s\" seen %d times", equivalents[k].name, seen[k]);
    printf("~lambdas.json with Lua lambdas: %d/%zu cases pass\n", passed, json_array_size(tests));
    json_decref(doc);
}

static void test_errors(void)
{
    static const struct {
        const char *lua;
        const char *msg; /* expected in the error */
    } cases[] = {
        {"function(t)\n  error(\"no\")\nend", "lambdas.lua:2: no"},
        {"function(t) return {} end", "returned a table"},
        {"function(t) while true do end end", "instruction budget"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *data = json_pack("{s:o}", "lambda", hook_lambda_mark("lambda"));
        char *got = NULL, msg[512];
        int rc = render_with(cases[i].lua, "a{{#lambda}}x{{/lambda}}b", NULL, data, &got, msg,
                             sizeof(msg));
        CHECK_INT(rc, TPL_E_LAMBDA);
        CHECK_MSG(strstr(msg, cases[i].msg) != NULL, "\"%s\" lacks \"%s\"", msg, cases[i].msg);
        free(got);
        json_decref(data);
    }
    /* An object that is not a lambda of the script is plain data. */
    json_t *data = json_pack("{s:{s:s}}", "lambda", HOOK_LAMBDA_TAG, "other");
    char *got = NULL, msg[512];
    int rc = render_with("function() return 1 end", "[{{#lambda}}y{{/lambda}}]", NULL, data, &got,
                         msg, sizeof(msg));
    CHECK_INT(rc, 0);
    CHECK_MSG(strcmp(got, "[y]") == 0, "%s", got);
    free(got);
    json_decref(data);
}

int main(int argc, char **argv)
{
    test_spec(argc > 1 ? argv[1] : "../shared/conformance/mustache");
    test_errors();
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
}
