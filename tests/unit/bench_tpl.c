/* SPDX-License-Identifier: Apache-2.0
 *
 * bench_tpl: the cost of rendering a product page with the template engine
 * (proxy/render/). Not a ctest case (no timed assertions in tests): run it by
 * hand.
 *
 * The page: a layout (parent with blocks), a header with the navigation, the
 * product (price, stock, attributes, HTML-escaped description), the first
 * reviews, and a 20-item recommendations loop through a card partial that uses
 * the price partial. Data is one JSON document shaped like the demo origin's
 * fragments. Prints compile time, output size, microseconds per render and
 * output MB/s, from one thread and from two threads rendering the same program.
 *
 *   bench_tpl [renders]       (default 20,000)
 */
#include "render/tpl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

static const char *const sources[][2] = {
    {"layout", "<!doctype html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n"
               "  <title>{{$title}}Tessera shop{{/title}}</title>\n</head>\n<body>\n"
               "  {{>header}}\n  <main>\n    {{$main}}{{/main}}\n  </main>\n  {{>footer}}\n"
               "</body>\n</html>\n"},
    {"header", "<header>\n  <a class=\"logo\" href=\"/\">{{nav.brand}}</a>\n  <nav>\n"
               "    {{#nav.links}}\n    <a href=\"{{href}}\">{{label}}</a>\n    {{/nav.links}}\n"
               "  </nav>\n</header>\n"},
    {"footer", "<footer>{{#footer.links}}<a href=\"{{href}}\">{{label}}</a> {{/footer.links}}"
               "<p>{{footer.copyright}}</p></footer>\n"},
    {"price", "<span class=\"price\">{{currency}} {{amount}}</span>{{#was}} <s>{{currency}} "
              "{{was}}</s>{{/was}}"},
    {"card", "<li class=\"card\">\n  <a href=\"/product/{{id}}\"><img src=\"{{image}}\" "
             "alt=\"{{name}}\"></a>\n  <h3>{{name}}</h3>\n  {{#price}}{{>price}}{{/price}}\n"
             "  {{^in_stock}}<em>sold out</em>{{/in_stock}}\n</li>\n"},
    {"product",
     "{{<layout}}\n{{$title}}{{product.name}} | Tessera shop{{/title}}\n{{$main}}\n"
     "{{#product}}\n<article class=\"product\" data-id=\"{{id}}\">\n  <h1>{{name}}</h1>\n"
     "  {{#price}}{{>price}}{{/price}}\n  {{#in_stock}}<p class=\"stock\">{{stock}} in "
     "stock</p>{{/in_stock}}\n  <div class=\"desc\">{{description}}</div>\n  <dl>\n"
     "    {{#attributes}}\n    <dt>{{name}}</dt><dd>{{value}}</dd>\n    {{/attributes}}\n"
     "  </dl>\n</article>\n{{/product}}\n<section class=\"reviews\">\n  <h2>{{reviews.count}} "
     "reviews, {{reviews.average}} / 5</h2>\n  {{#reviews.items}}\n  <blockquote>{{text}} "
     "<cite>{{author}}</cite></blockquote>\n  {{/reviews.items}}\n</section>\n"
     "<section class=\"recs\">\n  <ul>\n    {{#recs}}\n    {{>card}}\n    {{/recs}}\n"
     "  </ul>\n</section>\n{{/main}}\n{{/layout}}\n"},
};

static int load(void *arg, const char *name, size_t len, struct tpl_source *src)
{
    size_t i;

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (strlen(sources[i][0]) == len && memcmp(sources[i][0], name, len) == 0) {
            src->text = sources[i][1];
            src->len = strlen(sources[i][1]);
            src->file = sources[i][0];
            src->escape = TPL_ESCAPE_HTML;
            return 0;
        }
    }
    return TPL_E_NOT_FOUND;
}

static json_t *product(int id, int full)
{
    char name[64], image[64];
    json_t *p;

    snprintf(name, sizeof(name), "Desk lamp \"Aurora\" no. %d", id);
    snprintf(image, sizeof(image), "/img/%d/main.jpg", id);
    p = json_pack("{s:i, s:s, s:s, s:b, s:{s:s, s:f, s:f}}", "id", id, "name", name, "image", image,
                  "in_stock", id % 7 != 0, "price", "currency", "EUR", "amount",
                  (1999 + 100 * id) / 100.0, "was", id % 3 == 0 ? 24.5 + id : 0.0);
    if (full) {
        json_object_set_new(p, "stock", json_integer(12));
        json_object_set_new(p, "description",
                            json_string("A warm & bright <LED> lamp with a 2 m cable, "
                                        "dimmable in 5 steps. Made of recycled aluminium."));
        json_object_set_new(p, "attributes",
                            json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "name", "Colour", "value",
                                      "Brushed steel", "name", "Power", "value", "7 W", "name",
                                      "Size", "value", "40 x 18 cm"));
    }
    return p;
}

static json_t *page_data(void)
{
    json_t *recs = json_array(), *links = json_array(), *reviews = json_array();
    int i;

    for (i = 0; i < 20; i++)
        json_array_append_new(recs, product(100 + i, 0));
    for (i = 0; i < 6; i++)
        json_array_append_new(
            links, json_pack("{s:s, s:s}", "href", "/category/lighting", "label", "Lighting"));
    for (i = 0; i < 3; i++)
        json_array_append_new(
            reviews,
            json_pack("{s:s, s:s}", "text", "Great lamp, the light is <soft>.", "author", "Ana"));
    return json_pack("{s:o, s:{s:s, s:o}, s:{s:[{s:s,s:s}], s:s}, s:{s:i, s:f, s:o}, s:o}",
                     "product", product(42, 1), "nav", "brand", "Tessera", "links", links, "footer",
                     "links", "href", "/about", "label", "About", "copyright", "(c) Tessera",
                     "reviews", "count", 128, "average", 4.5, "items", reviews, "recs", recs);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run {
    const struct tpl *t;
    const json_t *data;
    long renders;
    size_t bytes;
    int failed;
};

static void *render_loop(void *arg)
{
    struct run *r = arg;
    struct evbuffer *out = evbuffer_new();
    long i;

    for (i = 0; i < r->renders; i++) {
        if (tpl_render(r->t, r->data, NULL, out, NULL) != 0)
            r->failed = 1;
        r->bytes += evbuffer_get_length(out);
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    evbuffer_free(out);
    return NULL;
}

static void report(const char *label, double secs, long renders, size_t bytes)
{
    printf("%-10s %8ld renders  %7.2f us/render  %8.1f MB/s\n", label, renders,
           secs * 1e6 / (double)renders, (double)bytes / secs / 1e6);
}

int main(int argc, char **argv)
{
    long renders = argc > 1 ? atol(argv[1]) : 20000;
    struct tpl_set_opts so = {load, NULL, 0, 0};
    struct tpl_set *set = tpl_set_new(&so);
    struct tpl_error err;
    struct run one, two[2];
    pthread_t th[2];
    const struct tpl *t;
    json_t *data = page_data();
    double t0;
    int i;

    t0 = now_s();
    if (tpl_set_add(set, "product", &t, &err) != 0) {
        fprintf(stderr, "bench_tpl: %s\n", err.msg);
        return 1;
    }
    printf("compile    %.1f us for %zu templates\n", (now_s() - t0) * 1e6,
           sizeof(sources) / sizeof(sources[0]));
    one = (struct run){t, data, 1, 0, 0};
    render_loop(&one);
    printf("output     %zu bytes per page\n", one.bytes);
    one = (struct run){t, data, renders, 0, 0};
    t0 = now_s();
    render_loop(&one);
    report("1 thread", now_s() - t0, renders, one.bytes);
    t0 = now_s();
    for (i = 0; i < 2; i++) {
        two[i] = (struct run){t, data, renders, 0, 0};
        pthread_create(&th[i], NULL, render_loop, &two[i]);
    }
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    report("2 threads", now_s() - t0, 2 * renders, two[0].bytes + two[1].bytes);
    json_decref(data);
    tpl_set_free(set);
    return one.failed || two[0].failed || two[1].failed;
}
