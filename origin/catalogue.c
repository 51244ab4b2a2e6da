/* SPDX-License-Identifier: Apache-2.0
 *
 * catalogue: renders every JSON document of the demo store once, at start (see
 * catalogue.h for the rules the content follows). Each body is one malloc'd
 * string owned by the catalogue; nothing is mutated after catalogue_new, which is
 * what lets all origin workers share it without locks.
 * The words below are invented for the demo; pseudo-random choices come from a
 * 64-bit mix of the product id, so the same id always gives the same document.
 */
#include "catalogue.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOGUE_MAGIC 0x0c47a109u
#define CATEGORY_PAGE 24u

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

struct category_def {
    const char *slug;
    const char *name;
    const char *nouns[6];
};

static const struct category_def categories[] = {
    {"kitchen",
     "Kitchen",
     {"Kettle", "Frying Pan", "Knife Block", "Cutting Board", "Salad Bowl", "Teapot"}},
    {"living-room",
     "Living Room",
     {"Armchair", "Coffee Table", "Bookshelf", "Floor Cushion", "Side Table", "Sofa"}},
    {"bedroom", "Bedroom", {"Bed Frame", "Nightstand", "Wardrobe", "Duvet", "Pillow", "Dresser"}},
    {"bathroom",
     "Bathroom",
     {"Towel Rail", "Bath Mat", "Mirror Cabinet", "Soap Dish", "Laundry Basket", "Stool"}},
    {"office",
     "Office",
     {"Desk", "Task Chair", "Monitor Stand", "Filing Box", "Desk Lamp", "Pen Tray"}},
    {"garden",
     "Garden",
     {"Planter", "Watering Can", "Bench", "Trellis", "Bird Feeder", "Hose Reel"}},
    {"outdoor",
     "Outdoor",
     {"Camping Chair", "Lantern", "Cool Box", "Hammock", "Picnic Blanket", "Fire Pit"}},
    {"lighting",
     "Lighting",
     {"Pendant Lamp", "Floor Lamp", "Wall Light", "String Lights", "Table Lamp", "Spotlight"}},
    {"storage",
     "Storage",
     {"Shelf Unit", "Storage Box", "Shoe Rack", "Coat Stand", "Drawer Set", "Crate"}},
    {"kids",
     "Kids",
     {"Toy Chest", "Bunk Bed", "Play Tent", "Step Stool", "Height Chart", "Rocking Horse"}},
    {"pets",
     "Pets",
     {"Dog Bed", "Cat Tree", "Feeding Bowl", "Pet Carrier", "Scratching Post", "Dog Crate"}},
    {"tools",
     "Tools",
     {"Tool Box", "Workbench", "Ladder", "Spirit Level", "Saw Horse", "Tool Wall"}},
};
#define CATEGORY_COUNT COUNT_OF(categories)

static const char *const adjectives[] = {
    "Sturdy",  "Compact", "Classic", "Modern",  "Rustic", "Elegant",  "Foldable", "Deluxe",
    "Minimal", "Cosy",    "Nordic",  "Vintage", "Bold",   "Handmade", "Light",    "Grand",
};

static const char *const materials[] = {
    "Oak",     "Pine",  "Walnut", "Bamboo", "Steel",  "Brass",
    "Ceramic", "Linen", "Rattan", "Glass",  "Cotton", "Birch",
};

static const char *const features[] = {
    "Built to last and easy to assemble.",
    "Designed in our studio and tested for everyday use.",
    "Its clean lines fit any home.",
    "A best seller for three seasons running.",
    "Made from responsibly sourced materials.",
    "Ships flat-packed with every tool you need.",
    "Finished by hand, so no two are exactly alike.",
    "Light enough to move, solid enough to keep.",
};

static const char *const care[] = {
    "Wipe clean with a damp cloth.", "Keep out of direct sunlight.",
    "Two-year warranty included.",   "Free returns within 30 days.",
    "Recyclable packaging.",         "Spare parts available on request.",
};

static const char *const authors[] = {
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana",
    "Ines",  "Jonas", "Kofi", "Lena", "Mateo", "Nora",  "Oskar", "Priya",
};

static const char *const review_texts[] = {
    "Exactly as described.",
    "Good value for the price.",
    "Took a while to arrive but worth it.",
    "Looks great in our flat.",
    "Sturdier than I expected.",
    "Assembly was a bit fiddly.",
    "Would buy again.",
    "The colour is slightly different from the photo.",
    "Perfect gift.",
    "Does the job.",
    "Lovely finish, very happy.",
    "Smaller than I thought.",
};

static const struct {
    const char *title;
    const char *url;
} footer_links[] = {
    {"About us", "/about"},  {"Contact", "/contact"}, {"Shipping", "/shipping"},
    {"Returns", "/returns"}, {"Privacy", "/privacy"}, {"Terms", "/terms"},
};

struct catalogue {
    unsigned magic;
    unsigned size;
    /* items[kind * size + (id - 1)] */
    struct catalogue_body *items;
    struct catalogue_body category[CATEGORY_COUNT];
    struct catalogue_body nav, footer, bench, index;
};

/* A growable string used only while building. */
struct strbuf {
    char *p;
    size_t len, cap;
};

static void *xrealloc_or_die(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "%s:%d: out of memory (%zu bytes)\n", __FILE__, __LINE__, n);
        abort();
    }
    return q;
}

static void sb_reserve(struct strbuf *sb, size_t extra)
{
    if (sb->len + extra + 1 <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    sb->p = xrealloc_or_die(sb->p, cap);
    sb->cap = cap;
}

static void sb_printf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* only our own constant formats reach here */
    sb_reserve(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

/* Moves the built string into body (which then owns it) and resets sb. */
static void sb_finish(struct strbuf *sb, struct catalogue_body *body)
{
    sb_reserve(sb, 0);
    sb->p[sb->len] = '\0';
    body->data = xrealloc_or_die(sb->p, sb->len + 1);
    body->len = sb->len;
    catalogue_etag(body->data, body->len, body->etag);
    sb->p = NULL;
    sb->len = sb->cap = 0;
}

void catalogue_etag(const void *data, size_t len, char out[20])
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    snprintf(out, 20, "\"%016llx\"", (unsigned long long)h);
}

/* A 64-bit finaliser (splitmix-style) so that neighbouring ids look unrelated. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t mix2(unsigned long id, unsigned salt)
{
    return mix(((uint64_t)id << 8) ^ salt);
}

static const struct category_def *category_of(unsigned long id)
{
    return &categories[(id - 1) % CATEGORY_COUNT];
}

/* "Sturdy Oak Kettle" into out (at least 64 bytes). */
static void product_name(unsigned long id, char *out, size_t cap)
{
    const struct category_def *cat = category_of(id);
    snprintf(out, cap, "%s %s %s", adjectives[mix2(id, 1) % COUNT_OF(adjectives)],
             materials[mix2(id, 2) % COUNT_OF(materials)], cat->nouns[mix2(id, 3) % 6]);
}

/* "sturdy-oak-kettle-42" */
static void product_slug(unsigned long id, char *out, size_t cap)
{
    char name[96];
    product_name(id, name, sizeof(name));
    size_t o = 0;
    for (const char *s = name; *s != '\0' && o + 1 < cap; s++)
        out[o++] = (*s == ' ') ? '-' : (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s);
    out[o] = '\0';
    size_t n = strlen(out);
    snprintf(out + n, cap - n, "-%lu", id);
}

/* The price in cents: always ends in .99, from 4.99 to 299.99. */
static unsigned price_cents(unsigned long id)
{
    return (unsigned)(4 + mix2(id, 4) % 296) * 100 + 99;
}

static void build_product(struct strbuf *sb, unsigned long id)
{
    char name[96], slug[128], lower_cat[32];
    const struct category_def *cat = category_of(id);
    product_name(id, name, sizeof(name));
    product_slug(id, slug, sizeof(slug));
    size_t i = 0;
    for (; cat->name[i] != '\0' && i + 1 < sizeof(lower_cat); i++)
        lower_cat[i] =
            (char)((cat->name[i] >= 'A' && cat->name[i] <= 'Z') ? cat->name[i] + 32 : cat->name[i]);
    lower_cat[i] = '\0';
    sb_printf(sb,
              "{\"id\":%lu,\"name\":\"%s\",\"slug\":\"%s\",\"category\":\"%s\","
              "\"description\":\"A %s for the %s. %s %s\",\"image\":\"/img/products/%lu.jpg\"}",
              id, name, slug, cat->slug, name, lower_cat,
              features[mix2(id, 5) % COUNT_OF(features)], care[mix2(id, 6) % COUNT_OF(care)], id);
}

static void build_price(struct strbuf *sb, unsigned long id)
{
    unsigned cents = price_cents(id);
    uint64_t h = mix2(id, 7);
    int on_sale = (h % 4) == 0;
    unsigned stock = (unsigned)((h >> 8) % 60);
    sb_printf(sb, "{\"id\":%lu,\"currency\":\"EUR\",\"amount\":%u.%02u,", id, cents / 100,
              cents % 100);
    if (on_sale) {
        unsigned was = (cents / 100 + cents / 400 + 1) * 100 + 99; /* about 25% more */
        sb_printf(sb, "\"was\":%u.%02u,\"on_sale\":true,", was / 100, was % 100);
    } else {
        sb_printf(sb, "\"was\":null,\"on_sale\":false,");
    }
    sb_printf(sb, "\"in_stock\":%s,\"stock\":%u}", stock > 0 ? "true" : "false", stock);
}

static void build_reviews(struct strbuf *sb, unsigned long id)
{
    if (id % 10 == 0) {
        sb_printf(sb, "{\"id\":%lu,\"rating\":null,\"count\":0,\"items\":[]}", id);
        return;
    }
    unsigned count = 1 + (unsigned)(mix2(id, 8) % 5);
    unsigned stars[5], sum = 0;
    for (unsigned k = 0; k < count; k++) {
        uint64_t h = mix2(id, 16 + k);
        /* mostly happy customers: 3..5, with an occasional 1 or 2 */
        stars[k] = (h % 7 == 0) ? 1 + (unsigned)((h >> 8) % 2) : 3 + (unsigned)((h >> 8) % 3);
        sum += stars[k];
    }
    unsigned r10 = (sum * 10 + count / 2) / count; /* mean, one decimal, rounded */
    sb_printf(sb, "{\"id\":%lu,\"rating\":%u.%u,\"count\":%u,\"items\":[", id, r10 / 10, r10 % 10,
              count);
    for (unsigned k = 0; k < count; k++) {
        uint64_t h = mix2(id, 32 + k);
        sb_printf(sb, "%s{\"author\":\"%s\",\"stars\":%u,\"text\":\"%s\"}", k ? "," : "",
                  authors[h % COUNT_OF(authors)], stars[k],
                  review_texts[(h >> 16) % COUNT_OF(review_texts)]);
    }
    sb_printf(sb, "]}");
}

static void build_recs(struct strbuf *sb, unsigned long id, unsigned n)
{
    unsigned want = 4 + (unsigned)(mix2(id, 9) % 3);
    if (want > n - 1)
        want = n - 1;
    unsigned long chosen[6];
    unsigned got = 0;
    /* Pseudo-random picks first; a linear scan guarantees termination for tiny
     * catalogues where the picks keep colliding. */
    for (unsigned attempt = 0; got < want && attempt < 64; attempt++) {
        unsigned long cand = 1 + (unsigned long)(mix2(id, 64 + attempt) % n);
        int dup = cand == id;
        for (unsigned k = 0; k < got && !dup; k++)
            dup = chosen[k] == cand;
        if (!dup)
            chosen[got++] = cand;
    }
    for (unsigned long cand = 1; got < want && cand <= n; cand++) {
        int dup = cand == id;
        for (unsigned k = 0; k < got && !dup; k++)
            dup = chosen[k] == cand;
        if (!dup)
            chosen[got++] = cand;
    }
    sb_printf(sb, "{\"id\":%lu,\"items\":[", id);
    for (unsigned k = 0; k < got; k++) {
        char name[96], slug[128];
        product_name(chosen[k], name, sizeof(name));
        product_slug(chosen[k], slug, sizeof(slug));
        sb_printf(
            sb,
            "%s{\"id\":%lu,\"name\":\"%s\",\"slug\":\"%s\",\"image\":\"/img/products/%lu.jpg\"}",
            k ? "," : "", chosen[k], name, slug, chosen[k]);
    }
    sb_printf(sb, "]}");
}

static unsigned category_total(unsigned c, unsigned n)
{
    return c < n ? (n - 1 - c) / (unsigned)CATEGORY_COUNT + 1 : 0;
}

static void build_category(struct strbuf *sb, unsigned c, unsigned n)
{
    unsigned total = category_total(c, n);
    sb_printf(sb, "{\"slug\":\"%s\",\"name\":\"%s\",\"total\":%u,\"items\":[", categories[c].slug,
              categories[c].name, total);
    unsigned shown = 0;
    for (unsigned long id = c + 1; id <= n && shown < CATEGORY_PAGE; id += CATEGORY_COUNT) {
        char name[96], slug[128];
        unsigned cents = price_cents(id);
        product_name(id, name, sizeof(name));
        product_slug(id, slug, sizeof(slug));
        sb_printf(
            sb,
            "%s{\"id\":%lu,\"name\":\"%s\",\"slug\":\"%s\",\"image\":\"/img/products/%lu.jpg\","
            "\"price\":{\"currency\":\"EUR\",\"amount\":%u.%02u}}",
            shown ? "," : "", id, name, slug, id, cents / 100, cents % 100);
        shown++;
    }
    sb_printf(sb, "]}");
}

static void build_nav(struct strbuf *sb, unsigned n)
{
    sb_printf(sb, "{\"categories\":[");
    for (unsigned c = 0; c < CATEGORY_COUNT; c++)
        sb_printf(sb, "%s{\"slug\":\"%s\",\"name\":\"%s\",\"url\":\"/category/%s\",\"count\":%u}",
                  c ? "," : "", categories[c].slug, categories[c].name, categories[c].slug,
                  category_total(c, n));
    sb_printf(sb, "]}");
}

static void build_footer(struct strbuf *sb)
{
    sb_printf(sb, "{\"links\":[");
    for (unsigned k = 0; k < COUNT_OF(footer_links); k++)
        sb_printf(sb, "%s{\"title\":\"%s\",\"url\":\"%s\"}", k ? "," : "", footer_links[k].title,
                  footer_links[k].url);
    sb_printf(sb, "],\"copyright\":\"(c) 2024 Tessera demo store\"}");
}

static void build_bench(struct strbuf *sb)
{
    static const char head[] = "{\"bench\":\"2k\",\"pad\":\"";
    static const char tail[] = "\"}";
    size_t pad = CATALOGUE_BENCH_SIZE - (sizeof(head) - 1) - (sizeof(tail) - 1);
    sb_printf(sb, "%s", head);
    sb_reserve(sb, pad);
    for (size_t i = 0; i < pad; i++)
        sb->p[sb->len++] = (char)('a' + i % 26);
    sb_printf(sb, "%s", tail);
}

static void build_index(struct strbuf *sb, unsigned n)
{
    sb_printf(sb,
              "{\"service\":\"tessera-origin\",\"products\":%u,\"endpoints\":["
              "\"/api/product/:id\",\"/api/price/:id\",\"/api/reviews/:id\",\"/api/recs/:id\","
              "\"/api/nav\",\"/api/footer\",\"/api/category/:slug\",\"/bench/2k\","
              "\"/bench/size/:n\",\"/echo\",\"/status/:code\",\"/slow-headers\",\"/__stats\"],"
              "\"query\":[\"delay\",\"cc\",\"etag\",\"lm\",\"lmago\",\"sk\",\"close\","
              "\"hdr\"]}",
              n);
}

struct catalogue *catalogue_new(unsigned products)
{
    if (products < 1)
        products = 1;
    if (products > CATALOGUE_MAX_PRODUCTS)
        products = CATALOGUE_MAX_PRODUCTS;

    struct catalogue *c = xrealloc_or_die(NULL, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->magic = CATALOGUE_MAGIC;
    c->size = products;
    size_t nitems = (size_t)CATALOGUE_KIND_COUNT * products;
    c->items = xrealloc_or_die(NULL, nitems * sizeof(*c->items));
    memset(c->items, 0, nitems * sizeof(*c->items));

    struct strbuf sb = {0};
    for (unsigned long id = 1; id <= products; id++) {
        build_product(&sb, id);
        sb_finish(&sb, &c->items[CATALOGUE_PRODUCT * products + id - 1]);
        build_price(&sb, id);
        sb_finish(&sb, &c->items[CATALOGUE_PRICE * products + id - 1]);
        build_reviews(&sb, id);
        sb_finish(&sb, &c->items[CATALOGUE_REVIEWS * products + id - 1]);
        build_recs(&sb, id, products);
        sb_finish(&sb, &c->items[CATALOGUE_RECS * products + id - 1]);
    }
    for (unsigned k = 0; k < CATEGORY_COUNT; k++) {
        build_category(&sb, k, products);
        sb_finish(&sb, &c->category[k]);
    }
    build_nav(&sb, products);
    sb_finish(&sb, &c->nav);
    build_footer(&sb);
    sb_finish(&sb, &c->footer);
    build_bench(&sb);
    sb_finish(&sb, &c->bench);
    build_index(&sb, products);
    sb_finish(&sb, &c->index);
    return c;
}

static void body_free(struct catalogue_body *b)
{
    free((void *)b->data);
    b->data = NULL;
}

void catalogue_free(struct catalogue **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    struct catalogue *c = *cp;
    *cp = NULL;
    if (c->magic != CATALOGUE_MAGIC)
        abort();
    for (size_t i = 0; i < (size_t)CATALOGUE_KIND_COUNT * c->size; i++)
        body_free(&c->items[i]);
    free(c->items);
    for (unsigned k = 0; k < CATEGORY_COUNT; k++)
        body_free(&c->category[k]);
    body_free(&c->nav);
    body_free(&c->footer);
    body_free(&c->bench);
    body_free(&c->index);
    c->magic = 0;
    free(c);
}

unsigned catalogue_size(const struct catalogue *c)
{
    return c->size;
}

const struct catalogue_body *catalogue_item(const struct catalogue *c, enum catalogue_kind kind,
                                            unsigned long id)
{
    if (id < 1 || id > c->size || (unsigned)kind >= CATALOGUE_KIND_COUNT)
        return NULL;
    return &c->items[(size_t)kind * c->size + id - 1];
}

const struct catalogue_body *catalogue_category(const struct catalogue *c, const char *s,
                                                size_t len)
{
    for (unsigned k = 0; k < CATEGORY_COUNT; k++)
        if (strlen(categories[k].slug) == len && memcmp(categories[k].slug, s, len) == 0)
            return &c->category[k];
    return NULL;
}

const struct catalogue_body *catalogue_nav(const struct catalogue *c)
{
    return &c->nav;
}

const struct catalogue_body *catalogue_footer(const struct catalogue *c)
{
    return &c->footer;
}

const struct catalogue_body *catalogue_bench(const struct catalogue *c)
{
    return &c->bench;
}

const struct catalogue_body *catalogue_index(const struct catalogue *c)
{
    return &c->index;
}
