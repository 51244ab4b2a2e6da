/* SPDX-License-Identifier: Apache-2.0
 *
 * codec: gzip and br for whole bodies (see codec.h).
 */
#include "codec.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include <event2/buffer.h>

#include "h1.h"

#define GZIP_LEVEL 6
#define BR_QUALITY 5 /* of 11: most of the ratio at a fraction of the time */
#define CHUNK 16384

const char *codec_name(enum codec_enc e)
{
    switch (e) {
    case CODEC_GZIP: return "gzip";
    case CODEC_BR: return "br";
    default: return "identity";
    }
}

static int token_is(const char *t, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(t, name, n) == 0;
}

int codec_from_field(const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || token_is(v, n, "identity"))
        return CODEC_IDENTITY;
    if (token_is(v, n, "gzip") || token_is(v, n, "x-gzip"))
        return CODEC_GZIP;
    if (token_is(v, n, "br"))
        return CODEC_BR;
    return -1;
}

/* q of one Accept-Encoding element "coding;q=0.5": 0..1000. */
static int qvalue(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && *q != ';')
        q++;
    while (q < end) {
        q++;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (end - q >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
            q += 2;
            int v = 0, digits = 0;
            if (q < end && (*q == '0' || *q == '1'))
                v = (*q++ - '0') * 1000;
            if (q < end && *q == '.')
                for (q++; q < end && *q >= '0' && *q <= '9' && digits < 3; q++, digits++)
                    v += (*q - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
            return v > 1000 ? 1000 : v;
        }
        while (q < end && *q != ';')
            q++;
    }
    return 1000;
}

enum codec_enc codec_pick(const struct h1_msg *m)
{
    int q[3] = {-1, -1, -1}, star = -1; /* -1: not listed */
    for (int i = h1_header_find(m, "accept-encoding", 0); i >= 0;
         i = h1_header_find(m, "accept-encoding", (size_t)i + 1)) {
        const char *p = m->headers[i].value, *end = p + m->headers[i].value_len;
        while (p < end) {
            const char *c = memchr(p, ',', (size_t)(end - p));
            const char *e = c ? c : end;
            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            const char *t = p;
            while (t < e && *t != ';' && *t != ' ' && *t != '\t')
                t++;
            int v = qvalue(p, e);
            size_t n = (size_t)(t - p);
            if (token_is(p, n, "br"))
                q[CODEC_BR] = v;
            else if (token_is(p, n, "gzip") || token_is(p, n, "x-gzip"))
                q[CODEC_GZIP] = v;
            else if (token_is(p, n, "*"))
                star = v;
            p = c ? c + 1 : end;
        }
    }
    for (int e = CODEC_BR; e >= CODEC_GZIP; e--) {
        int v = q[e] >= 0 ? q[e] : star;
        if (v > 0)
            return (enum codec_enc)e;
    }
    return CODEC_IDENTITY;
}

static int gzip_encode(const void *in, size_t n, struct evbuffer *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound(&z, (uLong)n);
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)bound, &v, 1) < 1) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = v.iov_base;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    v.iov_len = bound - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END)
        return -1;
    return evbuffer_commit_space(out, &v, 1);
}

static int br_encode(const void *in, size_t n, struct evbuffer *out)
{
    size_t bound = BrotliEncoderMaxCompressedSize(n);
    struct evbuffer_iovec v;
    if (bound == 0 || evbuffer_reserve_space(out, (ev_ssize_t)bound, &v, 1) < 1)
        return -1;
    size_t len = bound;
    if (!BrotliEncoderCompress(BR_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, n, in, &len,
                               v.iov_base))
        return -1;
    v.iov_len = len;
    return evbuffer_commit_space(out, &v, 1);
}

int codec_encode(enum codec_enc e, const void *in, size_t n, struct evbuffer *out)
{
    switch (e) {
    case CODEC_GZIP: return gzip_encode(in, n, out);
    case CODEC_BR: return br_encode(in, n, out);
    default: return evbuffer_add(out, in, n);
    }
}

static int gzip_decode(const void *in, size_t n, size_t cap, struct evbuffer *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 47) != Z_OK) /* gzip or zlib, by the header */
        return -1;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    size_t total = 0;
    int rc = Z_OK;
    unsigned char buf[CHUNK];
    while (rc == Z_OK) {
        z.next_out = buf;
        z.avail_out = sizeof(buf);
        rc = inflate(&z, Z_NO_FLUSH);
        size_t got = sizeof(buf) - z.avail_out;
        total += got;
        if ((rc != Z_OK && rc != Z_STREAM_END) || total > cap || evbuffer_add(out, buf, got) != 0 ||
            (rc == Z_OK && got == 0 && z.avail_in == 0)) {
            inflateEnd(&z);
            return -1; /* corrupt, truncated, or over the cap */
        }
    }
    inflateEnd(&z);
    return 0;
}

static int br_decode(const void *in, size_t n, size_t cap, struct evbuffer *out)
{
    BrotliDecoderState *s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (s == NULL)
        return -1;
    const uint8_t *next_in = in;
    size_t avail_in = n, total = 0;
    uint8_t buf[CHUNK];
    BrotliDecoderResult rc;
    do {
        uint8_t *next_out = buf;
        size_t avail_out = sizeof(buf);
        rc = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, NULL);
        size_t got = sizeof(buf) - avail_out;
        total += got;
        if (rc == BROTLI_DECODER_RESULT_ERROR || total > cap || evbuffer_add(out, buf, got) != 0 ||
            rc == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) {
            BrotliDecoderDestroyInstance(s);
            return -1;
        }
    } while (rc != BROTLI_DECODER_RESULT_SUCCESS);
    BrotliDecoderDestroyInstance(s);
    return 0;
}

int codec_decode(enum codec_enc e, const void *in, size_t n, size_t cap, struct evbuffer *out)
{
    switch (e) {
    case CODEC_GZIP: return gzip_decode(in, n, cap, out);
    case CODEC_BR: return br_decode(in, n, cap, out);
    default: return n <= cap ? evbuffer_add(out, in, n) : -1;
    }
}
