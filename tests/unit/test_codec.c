/* SPDX-License-Identifier: Apache-2.0
 *
 * test_codec: content codings for pages and fragments (proxy/codec.c): the
 * choice by Accept-Encoding (RFC 9110 12.5.3), Content-Encoding names, round
 * trips, and refusals of corrupt, truncated and oversized inputs.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check.h"
#include "codec.h"
#include "h1.h"

static int pick(const char *ae)
{
    static struct h1_msg m;
    char head[512];
    snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: a\r\n%s%s%s\r\n",
             ae ? "Accept-Encoding: " : "", ae ? ae : "", ae ? "\r\n" : "");
    struct h1_limits lim = {4096, 1024, 100};
    CHECK_INT(h1_parse_request(head, strlen(head), &lim, &m), H1_OK);
    return (int)codec_pick(&m);
}

static void test_pick(void)
{
    CHECK_INT(pick(NULL), CODEC_IDENTITY);
    CHECK_INT(pick(""), CODEC_IDENTITY);
    CHECK_INT(pick("gzip, deflate, br"), CODEC_BR);
    CHECK_INT(pick("gzip"), CODEC_GZIP);
    CHECK_INT(pick("x-gzip"), CODEC_GZIP);
    CHECK_INT(pick("br;q=0, gzip;q=0.5"), CODEC_GZIP);
    CHECK_INT(pick("BR;Q=0.1"), CODEC_BR);
    CHECK_INT(pick("*"), CODEC_BR);
    CHECK_INT(pick("*;q=0"), CODEC_IDENTITY);
    CHECK_INT(pick("br;q=0, *"), CODEC_GZIP);
    CHECK_INT(pick("gzip;q=0.000, br;q=0"), CODEC_IDENTITY);
    CHECK_INT(pick("deflate, identity"), CODEC_IDENTITY);
    CHECK_INT(pick("gzip ; q=1.0"), CODEC_GZIP);
}

static void test_names(void)
{
    CHECK_INT(codec_from_field("", 0), CODEC_IDENTITY);
    CHECK_INT(codec_from_field(" gzip ", 6), CODEC_GZIP);
    CHECK_INT(codec_from_field("BR", 2), CODEC_BR);
    CHECK_INT(codec_from_field("identity", 8), CODEC_IDENTITY);
    CHECK_INT(codec_from_field("deflate", 7), -1);
    CHECK_INT(codec_from_field("gzip, br", 8), -1); /* stacked codings are not decoded */
    CHECK(strcmp(codec_name(CODEC_BR), "br") == 0 && strcmp(codec_name(CODEC_GZIP), "gzip") == 0);
}

static void test_round_trip(void)
{
    size_t n = 100000;
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++)
        text[i] = (char)('a' + (i * 7 + i / 13) % 26);
    for (int e = CODEC_IDENTITY; e <= CODEC_BR; e++) {
        struct evbuffer *z = evbuffer_new(), *back = evbuffer_new();
        CHECK_INT(codec_encode(e, text, n, z), 0);
        size_t zl = evbuffer_get_length(z);
        const unsigned char *zp = evbuffer_pullup(z, -1);
        CHECK(e == CODEC_IDENTITY || zl < n / 2);
        CHECK_INT(codec_decode(e, zp, zl, n, back), 0);
        CHECK(evbuffer_get_length(back) == n && memcmp(evbuffer_pullup(back, -1), text, n) == 0);
        struct evbuffer *small = evbuffer_new();
        CHECK_INT(codec_decode(e, zp, zl, n - 1, small), -1); /* over the cap */
        evbuffer_free(small);
        if (e != CODEC_IDENTITY) {
            struct evbuffer *cut = evbuffer_new();
            CHECK_INT(codec_decode(e, zp, zl / 2, n, cut), -1); /* truncated */
            evbuffer_free(cut);
            struct evbuffer *junk = evbuffer_new();
            CHECK_INT(codec_decode(e, "definitely not compressed", 25, n, junk), -1);
            evbuffer_free(junk);
        }
        evbuffer_free(z);
        evbuffer_free(back);
    }
    struct evbuffer *empty = evbuffer_new(), *back = evbuffer_new();
    CHECK_INT(codec_encode(CODEC_GZIP, "", 0, empty), 0);
    CHECK_INT(
        codec_decode(CODEC_GZIP, evbuffer_pullup(empty, -1), evbuffer_get_length(empty), 10, back),
        0);
    CHECK_INT(evbuffer_get_length(back), 0);
    evbuffer_free(empty);
    evbuffer_free(back);
    free(text);
}

int main(void)
{
    test_pick();
    test_names();
    test_round_trip();
    return check_report("test_codec");
}
