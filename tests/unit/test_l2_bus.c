/* SPDX-License-Identifier: Apache-2.0
 *
 * test_l2_bus: the cross-node purge message (l2_bus__encode / l2_bus__decode:
 * round trips, every truncation, every single-byte corruption of the head, random
 * garbage, lengths that lie) and the ban list (l2_bus__ban_add, l2_bus_check):
 * URL, prefix and tag bans against objects stored before and after them, hard and
 * soft, expiry after ttl_max, deduplication by (node, seq), and the matcher
 * shared with purge_run (purge_matcher_test). A fake clock: `now` is a parameter.
 */
#include "l2_bus.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "key.h"
#include "obj.h"
#include "purge.h"

static struct l2_bus__msg msg(enum purge_kind kind, const char *host, int https, const char *value,
                              int soft)
{
    struct l2_bus__msg m = {0x0123456789abcdefull, 7, 1700000000, {0}};
    m.pr =
        (struct purge_req){kind, host, host ? strlen(host) : 0, https, value, strlen(value), soft};
    return m;
}

static int same(const struct l2_bus__msg *a, const struct l2_bus__msg *b)
{
    return a->node == b->node && a->seq == b->seq && a->at == b->at && a->pr.kind == b->pr.kind &&
           a->pr.soft == b->pr.soft && (a->pr.host == NULL) == (b->pr.host == NULL) &&
           a->pr.host_len == b->pr.host_len &&
           (a->pr.host == NULL || memcmp(a->pr.host, b->pr.host, a->pr.host_len) == 0) &&
           (a->pr.host == NULL || a->pr.https == b->pr.https) &&
           a->pr.value_len == b->pr.value_len &&
           memcmp(a->pr.value, b->pr.value, a->pr.value_len) == 0;
}

static void test_roundtrip(void)
{
    unsigned char buf[L2_BUS_MSG_MAX];
    const struct l2_bus__msg ms[] = {
        msg(PURGE_TAG, NULL, -1, "product-42", 0),
        msg(PURGE_URL, "shop.example:8443", 1, "/product/42?a=1", 1),
        msg(PURGE_URL, "shop.example", 0, "/", 0),
        msg(PURGE_PREFIX, "shop.example", -1, "/category/", 1),
    };
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        size_t n = l2_bus__encode(&ms[i], buf, sizeof(buf));
        CHECK(n == L2_BUS_MSG_HEAD + ms[i].pr.host_len + ms[i].pr.value_len);
        struct l2_bus__msg d;
        CHECK_INT(l2_bus__decode(buf, n, &d), 0);
        CHECK(same(&ms[i], &d));
        /* every truncation and every extension is refused */
        for (size_t k = 0; k < n; k++)
            CHECK_INT(l2_bus__decode(buf, k, &d), -1);
        buf[n] = 'x';
        CHECK_INT(l2_bus__decode(buf, n + 1, &d), -1);
        /* the head's bytes: magic, version, kind, flags, reserved, lengths */
        const size_t strict[] = {0, 1, 2, 3, 4, 7, 32, 33, 34, 35};
        for (size_t k = 0; k < sizeof(strict) / sizeof(strict[0]); k++) {
            unsigned char save = buf[strict[k]];
            for (int b = 0; b < 8; b++) {
                buf[strict[k]] = save ^ (unsigned char)(1u << b);
                CHECK_MSG(l2_bus__decode(buf, n, &d) == -1, "byte %zu bit %d", strict[k], b);
            }
            buf[strict[k]] = save;
        }
        CHECK_INT(l2_bus__decode(buf, n, &d), 0);
    }
    /* too small a buffer, bad requests */
    struct l2_bus__msg m = msg(PURGE_TAG, NULL, -1, "t", 0);
    CHECK_INT(l2_bus__encode(&m, buf, L2_BUS_MSG_HEAD), 0);
    m.pr.value_len = 0;
    CHECK_INT(l2_bus__encode(&m, buf, sizeof(buf)), 0);
    m = msg(PURGE_NKINDS, NULL, -1, "t", 0);
    CHECK_INT(l2_bus__encode(&m, buf, sizeof(buf)), 0);
    m = msg(PURGE_URL, "", -1, "/", 0);
    CHECK_INT(l2_bus__encode(&m, buf, sizeof(buf)), 0);
}

static void test_garbage(void)
{
    unsigned char buf[L2_BUS_MSG_MAX + 64];
    struct l2_bus__msg d;
    uint64_t x = 88172645463325252ull;
    int accepted = 0;
    for (int round = 0; round < 200000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = (size_t)(x % 96);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        if (round & 1) /* a valid head now and then, so the lengths get tested */
            memcpy(buf, "TSPG\x01", n < 5 ? n : 5);
        if (l2_bus__decode(buf, n, &d) == 0) {
            accepted++;
            CHECK(d.pr.value_len > 0 && d.pr.value_len <= PURGE_VALUE_MAX);
            CHECK((const unsigned char *)d.pr.value + d.pr.value_len <= buf + n);
        }
    }
    CHECK(accepted < 1000);
    /* a head that claims more than there is, and the longest value */
    struct l2_bus__msg m = msg(PURGE_TAG, NULL, -1, "abc", 0);
    size_t n = l2_bus__encode(&m, buf, sizeof(buf));
    buf[35] = 200;
    CHECK_INT(l2_bus__decode(buf, n, &d), -1);
    char *big = malloc(PURGE_VALUE_MAX + 1);
    memset(big, 'a', PURGE_VALUE_MAX + 1);
    m.pr.value = big;
    m.pr.value_len = PURGE_VALUE_MAX;
    n = l2_bus__encode(&m, buf, sizeof(buf));
    CHECK(n > 0);
    CHECK_INT(l2_bus__decode(buf, n, &d), 0);
    m.pr.value_len = PURGE_VALUE_MAX + 1;
    CHECK_INT(l2_bus__encode(&m, buf, sizeof(buf)), 0);
    free(big);
}

/* An object for host shop.example, path and query, with a head holding `fields`,
 * stored at `stored`, fresh until 2000 (stale window to 2030). */
static struct obj *make(const char *path, const char *query, const char *fields, int64_t stored)
{
    unsigned char key[1024];
    struct key_builder kb;
    uint64_t lo, hi;
    size_t klen;
    key_init(&kb, key, sizeof(key));
    key_add_method(&kb, "GET", 3);
    key_add_host(&kb, "shop.example", 12, 0);
    key_add_path(&kb, path, strlen(path));
    if (query != NULL)
        key_add_query(&kb, query, strlen(query), NULL);
    if (key_finish(&kb, &lo, &hi, &klen) != KEY_OK)
        abort();
    char head[256];
    snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n%sContent-Length: 0\r\n\r\n", fields);
    struct obj *o = obj_new(key, klen, lo, hi, strlen(head), 0);
    memcpy(obj_head_mut(o), head, strlen(head));
    obj_set_times(o, stored, 2000, 2030, 5000);
    return o;
}

static void test_bans(void)
{
    l2_bus__bans_clear();
    struct obj *tagged = make("/api/product/1", NULL, "Surrogate-Key: product-1 nav\r\n", 1000);
    struct obj *other = make("/api/product/10", NULL, "Surrogate-Key: product-10\r\n", 1000);
    struct obj *later = make("/api/product/1", NULL, "Surrogate-Key: product-1\r\n", 1101);
    struct obj *cat = make("/category/shoes", "b=2&a=1", "", 1000);

    CHECK_INT(l2_bus_check(tagged, 1500), L2_BUS_OK); /* no bans: one load */

    struct l2_bus__msg m = msg(PURGE_TAG, NULL, -1, "product-1", 0);
    m.at = 1100;
    CHECK_INT(l2_bus__ban_add(NULL, &m, 1100, 3600), 0);
    CHECK_INT(l2_bus__bans(), 1);
    CHECK_INT(l2_bus__ban_add(NULL, &m, 1100, 3600), 0); /* the same (node, seq) */
    CHECK_INT(l2_bus__bans(), 1);
    CHECK_INT(l2_bus_check(tagged, 1500), L2_BUS_BANNED);
    CHECK_INT(l2_bus_check(other, 1500), L2_BUS_OK); /* exact tags */
    CHECK_INT(l2_bus_check(later, 1500), L2_BUS_OK); /* stored after the ban */
    CHECK_INT(l2_bus_check(cat, 1500), L2_BUS_OK);

    /* URL (query normalised), soft: stale while fresh, nothing once stale */
    m = msg(PURGE_URL, "shop.example", 0, "/category/shoes?a=1&b=2", 1);
    m.seq = 8;
    m.at = 1100;
    CHECK_INT(l2_bus__ban_add(NULL, &m, 1100, 3600), 0);
    CHECK_INT(l2_bus_check(cat, 1500), L2_BUS_STALE);
    CHECK_INT(l2_bus_check(cat, 2001), L2_BUS_OK);
    /* a prefix, hard, another host: no match; the right host: banned */
    m = msg(PURGE_PREFIX, "other.example", 0, "/category/", 0);
    m.seq = 9;
    m.at = 1100;
    CHECK_INT(l2_bus__ban_add(NULL, &m, 1100, 3600), 0);
    CHECK_INT(l2_bus_check(cat, 1500), L2_BUS_STALE);
    m = msg(PURGE_PREFIX, NULL, -1, "/category/", 0);
    m.seq = 10;
    m.at = 1100;
    CHECK_INT(l2_bus__ban_add(NULL, &m, 1100, 3600), 0);
    CHECK_INT(l2_bus_check(cat, 1500), L2_BUS_BANNED); /* hard wins over soft */
    CHECK_INT(l2_bus__bans(), 4);

    /* bans that do not normalise are refused; old ones are not kept */
    m = msg(PURGE_TAG, NULL, -1, "a b", 0);
    m.seq = 11;
    CHECK(l2_bus__ban_add(NULL, &m, 1100, 3600) < 0);
    m = msg(PURGE_TAG, NULL, -1, "old", 0);
    m.seq = 12;
    m.at = 1100 - 3600;
    CHECK_INT(l2_bus__ban_add(NULL, &m, 1100, 3600), 0);
    CHECK_INT(l2_bus__bans(), 4);
    /* past ttl_max the bans go (and match nothing meanwhile) */
    CHECK_INT(l2_bus_check(tagged, 4700), L2_BUS_OK);
    m = msg(PURGE_TAG, NULL, -1, "new", 0);
    m.seq = 13;
    m.at = 4700;
    CHECK_INT(l2_bus__ban_add(NULL, &m, 4700, 3600), 0);
    CHECK_INT(l2_bus__bans(), 1);

    /* the matcher is purge_run's: a Vary-less URL matcher and a tag matcher */
    struct purge_matcher *pm;
    struct purge_req pr = {PURGE_TAG, NULL, 0, -1, "nav", 3, 0};
    CHECK_INT(purge_matcher_new(NULL, &pr, &pm), 0);
    CHECK(purge_matcher_test(pm, tagged));
    CHECK(!purge_matcher_test(pm, other));
    purge_matcher_free(&pm);
    CHECK(pm == NULL);
    pr = (struct purge_req){PURGE_URL, NULL, 0, -1, "", 0, 0};
    CHECK(purge_matcher_new(NULL, &pr, &pm) < 0 && pm == NULL);

    l2_bus__bans_clear();
    CHECK_INT(l2_bus__bans(), 0);
    obj_unref(&tagged);
    obj_unref(&other);
    obj_unref(&later);
    obj_unref(&cat);
}

int main(void)
{
    test_roundtrip();
    test_garbage();
    test_bans();
    return check_report("test_l2_bus");
}
