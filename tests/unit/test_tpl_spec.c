/* SPDX-License-Identifier: Apache-2.0
 *
 * test_tpl_spec: the official Mustache spec (JSON form) against the template
 * engine (proxy/render/). Reads every *.json file of the spec directory at run
 * time (argv[1], default ../shared/conformance/mustache, relative to the repo
 * root where ctest runs) except ~lambdas.json (lambdas come with the Lua hooks),
 * and runs every case: the template and its partials in one set, the partials
 * added by name too so that dynamic names find them, HTML escaping, the spec's
 * "missing partial renders nothing" (TPL_SET_MISSING_PARTIAL_EMPTY). Each case
 * is rendered twice and must give the same bytes. Prints each failure with file,
 * case, expected and got, then passed/total per file.
 *
 *   test_tpl_spec [spec-dir]
 */
#include "render/tpl.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#define MAIN_NAME "(template)" /* no spec partial has this name */

struct spec_case {
    const char *file;
    const char *name;
    const json_t *test;
    char where[512]; /* file name given to the engine, for messages */
};

static int load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    struct spec_case *k = arg;
    const json_t *text;

    if (len == strlen(MAIN_NAME) && memcmp(name, MAIN_NAME, len) == 0)
        text = json_object_get(k->test, "template");
    else
        text = json_object_getn(json_object_get(k->test, "partials"), name, len);
    if (!json_is_string(text))
        return TPL_E_NOT_FOUND;
    snprintf(k->where, sizeof(k->where), "%s[%s]/%.*s", k->file, k->name, (int)len, name);
    src->text = json_string_value(text);
    src->len = json_string_length(text);
    src->file = k->where;
    src->escape = TPL_ESCAPE_HTML;
    return 0;
}

static void print_quoted(const char *label, const char *s, size_t n)
{
    json_t *str = json_stringn(s, n);
    char *q = str != NULL ? json_dumps(str, JSON_ENCODE_ANY) : NULL;

    fprintf(stderr, "    %s %s\n", label, q != NULL ? q : "(not UTF-8)");
    free(q);
    json_decref(str);
}

/* Renders into a new evbuffer; returns the text (malloc'd) or NULL with err. */
static char *render(const struct tpl *t, const json_t *data, size_t *len, struct tpl_error *err)
{
    struct evbuffer *out = evbuffer_new();
    char *text = NULL;
    int rc = tpl_render(t, data, NULL, out, err);

    if (rc == 0) {
        *len = evbuffer_get_length(out);
        text = malloc(*len + 1);
        evbuffer_remove(out, text, *len);
        text[*len] = '\0';
    }
    evbuffer_free(out);
    return text;
}

static int run_case(struct spec_case *k)
{
    struct tpl_set_opts opts = {load, k, 0, TPL_SET_MISSING_PARTIAL_EMPTY};
    struct tpl_set *set = tpl_set_new(&opts);
    const json_t *want = json_object_get(k->test, "expected");
    const char *key;
    const json_t *value;
    const struct tpl *t;
    struct tpl_error err = {0, ""};
    char *got = NULL, *again = NULL;
    size_t got_len = 0, again_len = 0;
    int ok = 0;

    if (tpl_set_add(set, MAIN_NAME, &t, &err) != 0)
        goto fail;
    json_object_foreach(json_object_get(k->test, "partials"), key, value)
    {
        if (tpl_set_add(set, key, NULL, &err) != 0)
            goto fail;
    }
    got = render(t, json_object_get(k->test, "data"), &got_len, &err);
    again = render(t, json_object_get(k->test, "data"), &again_len, &err);
    ok = got != NULL && again != NULL && got_len == json_string_length(want) &&
         memcmp(got, json_string_value(want), got_len) == 0 && again_len == got_len &&
         memcmp(again, got, got_len) == 0;
fail:
    if (!ok) {
        fprintf(stderr, "FAIL %s: %s\n", k->file, k->name);
        print_quoted("template:", json_string_value(json_object_get(k->test, "template")),
                     json_string_length(json_object_get(k->test, "template")));
        print_quoted("expected:", json_string_value(want), json_string_length(want));
        if (got != NULL)
            print_quoted("got:     ", got, got_len);
        else
            fprintf(stderr, "    error:    %s\n", err.msg);
    }
    free(got);
    free(again);
    tpl_set_free(set);
    return ok;
}

static int run_file(const char *dir, const char *file, int *all_passed, int *all_total)
{
    char path[1024];
    json_error_t jerr;
    json_t *doc, *tests;
    size_t i;
    int passed = 0, total;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    doc = json_load_file(path, 0, &jerr);
    tests = json_object_get(doc, "tests");
    if (!json_is_array(tests)) {
        fprintf(stderr, "FAIL %s: cannot read: %s\n", path, jerr.text);
        json_decref(doc);
        return -1;
    }
    total = (int)json_array_size(tests);
    for (i = 0; i < json_array_size(tests); i++) {
        struct spec_case k = {file,
                              json_string_value(json_object_get(json_array_get(tests, i), "name")),
                              json_array_get(tests, i), ""};
        passed += run_case(&k);
    }
    printf("%-22s %3d/%d\n", file, passed, total);
    *all_passed += passed;
    *all_total += total;
    json_decref(doc);
    return passed == total ? 0 : -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/conformance/mustache";
    char *files[64];
    size_t n = 0, i, len;
    int failed = 0, passed = 0, total = 0;
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL) {
        fprintf(stderr, "test_tpl_spec: cannot open %s\n", dir);
        return 1;
    }
    while ((e = readdir(d)) != NULL && n < 64) {
        len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 &&
            strcmp(e->d_name, "~lambdas.json") != 0)
            files[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof(files[0]), by_name);
    for (i = 0; i < n; i++) {
        failed |= run_file(dir, files[i], &passed, &total) != 0;
        free(files[i]);
    }
    printf("test_tpl_spec: %d/%d cases passed in %zu files\n", passed, total, n);
    return n == 0 || failed ? 1 : 0;
}
