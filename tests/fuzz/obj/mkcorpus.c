/* SPDX-License-Identifier: Apache-2.0
 *
 * mkcorpus: writes the seed corpus of fuzz_obj into the directory given: valid
 * serialized objects of several shapes and one of each kind of corruption. Not
 * built by CMake; rerun after a change to the serialized format:
 *
 *   gcc -std=gnu11 -Icache tests/fuzz/obj/mkcorpus.c cache/obj.c -lxxhash -o /tmp/mkcorpus
 *   /tmp/mkcorpus tests/fuzz/obj/corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "obj.h"

static const char *dir;

static void write_file(const char *name, const void *p, size_t n)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static struct obj *make(const char *key, const char *head, const char *body, size_t body_len)
{
    XXH128_hash_t h = XXH3_128bits(key, strlen(key));
    struct obj *o = obj_new(key, strlen(key), h.low64, h.high64, strlen(head), body_len);
    size_t i;

    memcpy(obj_head_mut(o), head, strlen(head));
    for (i = 0; i < body_len; i++)
        ((char *)obj_body_mut(o))[i] = body != NULL ? body[i] : (char)('a' + i % 26);
    obj_set_times(o, 1732530000, 1732530060, 1732530090, 1732533660);
    obj_set_flags(o, 1);
    return o;
}

static unsigned char *flat(struct obj *o, size_t *n)
{
    unsigned char *p;

    *n = obj_serialized_size(o);
    p = malloc(*n);
    obj_serialize(o, p, *n);
    return p;
}

static void fix_sum(unsigned char *p, size_t n)
{
    uint64_t h = XXH3_64bits(p, n - 8);

    for (int i = 0; i < 8; i++)
        p[n - 8 + i] = (unsigned char)(h >> (8 * i));
}

int main(int argc, char **argv)
{
    static const char json[] =
        "{\"id\":42,\"name\":\"Lamp\",\"price\":{\"amount\":1999,\"currency\":"
        "\"EUR\"}}";
    struct obj *objs[4];
    unsigned char *p;
    size_t n;

    if (argc != 2) {
        fprintf(stderr, "usage: mkcorpus DIR\n");
        return 2;
    }
    dir = argv[1];
    objs[0] = make("", "", "", 0);
    objs[1] =
        make("GET|127.0.0.1:8080|/api/product/42||web",
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n"
             "Cache-Control: max-age=60, stale-while-revalidate=30\r\nETag: \"p42v7\"\r\n\r\n",
             json, sizeof(json) - 1);
    objs[2] = make("GET|h|/empty", "HTTP/1.1 204 No Content\r\n\r\n", "", 0);
    objs[3] = make("GET|h|/page/1|lang=en|mobile",
                   "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nVary: Accept-Encoding\r\n\r\n",
                   NULL, 3000);

    p = flat(objs[0], &n);
    write_file("valid-empty", p, n);
    free(p);
    p = flat(objs[2], &n);
    write_file("valid-no-body", p, n);
    free(p);
    p = flat(objs[3], &n);
    write_file("valid-html-3000", p, n);
    free(p);

    p = flat(objs[1], &n);
    write_file("valid-json", p, n);
    write_file("bad-truncated", p, n - 9);
    write_file("bad-header-only", p, 76);
    p[3] = 'X';
    fix_sum(p, n);
    write_file("bad-magic", p, n);
    p[3] = 'B';
    p[4] = 2;
    fix_sum(p, n);
    write_file("bad-version", p, n);
    p[4] = 1;
    p[6] = 1;
    fix_sum(p, n);
    write_file("bad-reserved", p, n);
    p[6] = 0;
    p[12]++; /* key_len one too many */
    fix_sum(p, n);
    write_file("bad-key-len", p, n);
    p[12]--;
    memset(p + 20, 0xff, 8); /* body_len 2^64-1 */
    fix_sum(p, n);
    write_file("bad-body-len-wrap", p, n);
    memset(p + 20, 0, 8);
    p[20] = (unsigned char)(sizeof(json) - 2); /* body_len one short */
    fix_sum(p, n);
    write_file("bad-length-short", p, n);
    free(p);

    p = flat(objs[1], &n);
    p[n - 1] ^= 0x10;
    write_file("bad-checksum", p, n);
    p[n - 1] ^= 0x10;
    p[100] ^= 0x01;
    write_file("bad-bit-flip", p, n);
    free(p);

    for (int i = 0; i < 4; i++)
        obj_unref(&objs[i]);
    return 0;
}
