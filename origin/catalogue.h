/* SPDX-License-Identifier: Apache-2.0
 *
 * catalogue: the demo store's data, rendered once at start into immutable JSON
 * bodies that the origin serves by reference (no formatting per request).
 * Everything is a pure function of the product id and the catalogue size, so
 * tests can predict any field (see the rules below).
 * Thread: build and free on one thread; once built, any number of threads may
 * read it concurrently without locking (nothing changes after catalogue_new).
 *
 * Rules tests may rely on, for a catalogue of N products (ids 1..N):
 *  - category of product i: the ((i - 1) % 12)-th entry of /api/nav;
 *  - image: "/img/products/<id>.jpg"; slug: the lowercased, hyphenated name
 *    followed by "-<id>";
 *  - /api/reviews/<id>: no items and "rating":null when id % 10 == 0,
 *    otherwise 1..5 items whose mean stars, to one decimal, is "rating";
 *  - /api/recs/<id>: 4..6 distinct ids, never <id> itself (fewer when N < 7);
 *  - /api/category/<slug>: "total" products, "items" are the first 24 by id;
 *  - /bench/2k: exactly 2048 bytes of JSON.
 */
#ifndef TESSERA_ORIGIN_CATALOGUE_H
#define TESSERA_ORIGIN_CATALOGUE_H

#include <stddef.h>

#define CATALOGUE_MAX_PRODUCTS 100000u
#define CATALOGUE_BENCH_SIZE 2048u

/* One prebuilt body. `etag` is a strong entity tag, quotes included, derived
 * from the bytes (FNV-1a 64). Owned by the catalogue. */
struct catalogue_body {
    const char *data;
    size_t len;
    char etag[20];
};

enum catalogue_kind {
    CATALOGUE_PRODUCT = 0,
    CATALOGUE_PRICE,
    CATALOGUE_REVIEWS,
    CATALOGUE_RECS,
    CATALOGUE_KIND_COUNT
};

struct catalogue;

/* Builds the catalogue for products 1..`products` (1..CATALOGUE_MAX_PRODUCTS;
 * other values are clamped). Aborts on memory exhaustion. Caller owns the
 * result; release it with catalogue_free. */
struct catalogue *catalogue_new(unsigned products);

/* Frees *cp and sets it to NULL; NULL or *cp == NULL is fine. */
void catalogue_free(struct catalogue **cp);

/* The number of products (ids are 1..that). */
unsigned catalogue_size(const struct catalogue *c);

/* The body of `kind` for product `id`, or NULL when id is not in 1..N. */
const struct catalogue_body *catalogue_item(const struct catalogue *c, enum catalogue_kind kind,
                                            unsigned long id);

/* The listing of the category whose slug is s[0..len), or NULL if unknown. */
const struct catalogue_body *catalogue_category(const struct catalogue *c, const char *s,
                                                size_t len);

/* Fixed documents: the category list, the footer links, the 2048-byte
 * benchmark body and the index of endpoints served at "/". Never NULL. */
const struct catalogue_body *catalogue_nav(const struct catalogue *c);
const struct catalogue_body *catalogue_footer(const struct catalogue *c);
const struct catalogue_body *catalogue_bench(const struct catalogue *c);
const struct catalogue_body *catalogue_index(const struct catalogue *c);

/* Writes the strong entity tag of data[0..len) ("\"<16 hex>\"", NUL ended)
 * into out, which holds at least 20 bytes. Thread: any. */
void catalogue_etag(const void *data, size_t len, char out[20]);

#endif
