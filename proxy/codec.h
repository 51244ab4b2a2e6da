/* SPDX-License-Identifier: Apache-2.0
 *
 * codec: content codings for composed pages and their fragments (RFC 9110
 * 8.4.1): gzip (zlib) and br (brotli), whole bodies at a time. Decoding is
 * capped, so a small compressed fragment cannot expand into a memory bomb.
 * Thread: any; no state between calls.
 */
#ifndef TESSERA_CODEC_H
#define TESSERA_CODEC_H

#include <stddef.h>

struct evbuffer;
struct h1_msg;

enum codec_enc { CODEC_IDENTITY = 0, CODEC_GZIP = 1, CODEC_BR = 2 };

/* "identity", "gzip", "br". */
const char *codec_name(enum codec_enc e);

/* The coding a Content-Encoding value names: CODEC_IDENTITY for none or
 * "identity", -1 for a coding this module does not decode (or a list of them). */
int codec_from_field(const char *v, size_t n);

/* The coding to answer with for the request's Accept-Encoding (RFC 9110
 * 12.5.3): br, else gzip, else identity, among those with q > 0 ("*" stands for
 * the ones not listed; no Accept-Encoding means identity). */
enum codec_enc codec_pick(const struct h1_msg *m);

/* Appends in[0..n) encoded with e to out. Returns 0 or -1. */
int codec_encode(enum codec_enc e, const void *in, size_t n, struct evbuffer *out);

/* Appends in[0..n) decoded from e to out, at most cap bytes. Returns 0, or -1
 * for a corrupt or truncated input or one that decodes to more than cap. */
int codec_decode(enum codec_enc e, const void *in, size_t n, size_t cap, struct evbuffer *out);

#endif
