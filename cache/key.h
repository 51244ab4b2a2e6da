/* SPDX-License-Identifier: Apache-2.0
 *
 * key: the cache key. A key is a sequence of tagged, length-prefixed parts
 * (method class, host, normalised path and query, channel, hook parts, then the
 * values of the headers the stored object varies on), built per request into a
 * caller-provided buffer, and its XXH3-128 hash. The store indexes by the hash and
 * compares the full key bytes on a hit.
 *
 * Nothing here allocates: the builder writes into the caller's buffer (a fixed
 * array in the request) and the normalisers into the caller's output. A key that
 * would not fit is an error, and the caller bypasses the cache for that request.
 * Thread: any; the functions keep no global state and never call back.
 */
#ifndef TESSERA_KEY_H
#define TESSERA_KEY_H

#include <stddef.h>
#include <stdint.h>

enum key_err {
    KEY_OK = 0,
    KEY_E_OVERFLOW = -1,   /* the key or a normalised part does not fit: bypass the cache */
    KEY_E_BAD_ESCAPE = -2, /* '%' not followed by two hex digits (RFC 3986 2.1) */
    KEY_E_BAD_PATH = -3,   /* a non-empty path that does not start with '/' */
    KEY_E_METHOD = -4,     /* a method other than GET and HEAD: not cached */
    KEY_E_TOO_MANY = -5,   /* more query parameters or list elements than the fixed tables hold */
    KEY_E_BAD_NAME = -6,   /* a Vary field name that is not a token (RFC 9110 5.1) */
};

/* The one-byte tags that start each part. Method, host, path, query and vary parts
 * are written by their key_add_* helper; channel and extra parts by key_add_part. */
enum key_tag {
    KEY_TAG_METHOD = 'M',  /* method class: "G" for GET and HEAD */
    KEY_TAG_HOST = 'H',    /* key_norm_host */
    KEY_TAG_PATH = 'P',    /* key_norm_path */
    KEY_TAG_QUERY = 'Q',   /* key_norm_query: "" or "?..." */
    KEY_TAG_CHANNEL = 'C', /* channel name, as configured */
    KEY_TAG_EXTRA = 'X',   /* a part added by a Lua hook */
    KEY_TAG_VARY = 'V',    /* "name:value" or "name" when absent (key_add_vary) */
};

/* Longest part payload: the length prefix is two bytes, big-endian. */
#define KEY_PART_MAX 0xffff
/* Bytes a part takes besides its payload (tag plus length). */
#define KEY_PART_OVERHEAD 3
/* Query parameters that survive the rules, per query (key_norm_query). */
#define KEY_QUERY_MAX_PARAMS 128
/* Distinct primary language tags in one Accept-Language value (key_add_vary). */
#define KEY_LANG_MAX 16

/* Which query parameters are part of the key (a route's `cache.query`). Entries are
 * NUL-terminated names compared bytewise (names are case-sensitive) with the
 * parameter name after percent-encoding normalisation, so write them in normal
 * form ("utm_source", not "utm%5Fsource"). An entry ending in '*' matches every
 * name that starts with what precedes it ("utm_*"; "*" alone matches all).
 *
 * keep == NULL: no allow-list. keep != NULL: only names matching an entry survive;
 * with nkeep == 0 that is none, so the query is ignored. The drop list applies as
 * well: a name that survives keep and matches drop is removed (keep "utm_*" with
 * drop "utm_id" keeps every utm_ parameter but utm_id). */
struct key_query_rules {
    const char *const *keep;
    size_t nkeep;
    const char *const *drop;
    size_t ndrop;
};

/* Builds one key in caller storage (usually embedded in the request). Declared
 * here only so that it can live there: the fields are private to key.c. */
struct key_builder {
    unsigned char *buf;
    size_t cap;
    size_t len;
    int err; /* first error; once set, every later call returns it */
};

/* Starts an empty key in buf[0..cap). buf stays owned by the caller and must
 * outlive the builder and the key bytes' use. Never fails. */
void key_init(struct key_builder *kb, void *buf, size_t cap);

/* Continues a key whose first len bytes are already in buf (a key built earlier,
 * cut back to a prefix: the primary key before its Vary parts, say). len must be a
 * part boundary of a key this module wrote; len > cap gives KEY_E_OVERFLOW on the
 * next call. Never fails. */
void key_reopen(struct key_builder *kb, void *buf, size_t cap, size_t len);

/* Appends one part: the tag byte, len as two big-endian bytes, then data[0..len).
 * The prefix keeps parts from running into each other (host "a" with path "/bc"
 * differs from host "ab" with path "/c"). Returns 0, KEY_E_OVERFLOW when the part
 * does not fit or len > KEY_PART_MAX, or the builder's earlier error. A failed call
 * leaves the key as it was, and the error sticks: key_finish returns it. */
int key_add_part(struct key_builder *kb, unsigned char tag, const void *data, size_t len);

/* Appends the method class: GET and HEAD share "G" (a HEAD is answered from the
 * GET's object). Other methods, compared case-sensitively (RFC 9110 9.1), give
 * KEY_E_METHOD: they are not cached. */
int key_add_method(struct key_builder *kb, const char *method, size_t len);

/* Appends the host (the Host field or :authority) normalised by key_norm_host. */
int key_add_host(struct key_builder *kb, const char *host, size_t len, int https);

/* Appends the request path (without the query) normalised by key_norm_path. */
int key_add_path(struct key_builder *kb, const char *path, size_t len);

/* Appends the query (with or without its leading '?') normalised by key_norm_query.
 * rules may be NULL: every parameter is kept. */
int key_add_query(struct key_builder *kb, const char *q, size_t len,
                  const struct key_query_rules *rules);

/* Appends the value of a request header that the stored object's Vary names
 * (RFC 9111 4.1), as "name:value" with the name lower-cased. value == NULL means
 * the header is absent, which differs from an empty one; several field lines must
 * be joined with ", " first (RFC 9110 5.3). Values are normalised:
 *   Accept-Encoding: the acceptable codings among br, gzip and identity, always in
 *     that order ("br,gzip,identity"): a q-value of 0 excludes a coding, "*" stands
 *     for the codings not listed, x-gzip is gzip, identity is acceptable unless
 *     excluded (RFC 9110 12.5.3). Client preference among acceptable codings is not
 *     kept: the server picks, so it would only split the cache.
 *   Accept-Language: the distinct primary tags with q > 0, lower-cased, by
 *     decreasing q, ties in the client's order ("en-US,fr;q=0.5" gives "en,fr").
 *   any other field: leading and trailing whitespace removed, inner runs of spaces
 *     and tabs folded to one space.
 * Returns 0, KEY_E_BAD_NAME, KEY_E_TOO_MANY (more than KEY_LANG_MAX languages),
 * KEY_E_OVERFLOW or the builder's earlier error. */
int key_add_vary(struct key_builder *kb, const char *name, size_t name_len, const char *value,
                 size_t value_len);

/* Computes the XXH3-128 hash of the key bytes: *hash_lo and *hash_hi get its low
 * and high 64 bits, *len the key length (the bytes are buf[0..*len) of key_init).
 * Returns 0, or the first error of the build, in which case the outputs are left
 * untouched and the request bypasses the cache. The builder stays usable: add the
 * Vary parts after finishing the primary key and finish again for the variant key,
 * so recommended order is method, host, path, query, channel, extra parts, vary. */
int key_finish(struct key_builder *kb, uint64_t *hash_lo, uint64_t *hash_hi, size_t *len);

/* Normalises a host: ASCII lower-cased (RFC 3986 6.2.2.1), the default port removed
 * (":80" when https is 0, ":443" otherwise, and an empty port, RFC 3986 6.2.3);
 * other ports are kept as written. Writes out[0..*outlen). Returns 0 or
 * KEY_E_OVERFLOW. in and out must not overlap. */
int key_norm_host(const char *in, size_t n, int https, char *out, size_t cap, size_t *outlen);

/* Normalises a path (RFC 3986 6.2.2):
 *   - percent-encoding: %XX of an unreserved character (ALPHA DIGIT - . _ ~) is
 *     decoded, the hex digits of other escapes upper-cased (6.2.2.1, 6.2.2.2), and
 *     bytes that may not appear raw in a URI (controls, space, "<>\"#[]\\^`{|}",
 *     DEL, non-ASCII) are encoded as %XX;
 *   - runs of '/' become one '/' (as nginx merge_slashes; done before dot
 *     segments, so "/a//../b" is "/b");
 *   - "." and ".." segments are removed (5.2.4), also when written "%2E"; ".." at
 *     the root stays at the root.
 * An empty path is "/". Writes out[0..*outlen); cap must also hold the form before
 * dot segments are removed ("/x/../abc" needs 9 bytes). Returns 0, KEY_E_BAD_ESCAPE, KEY_E_BAD_PATH
 * or KEY_E_OVERFLOW; out is undefined on error. in and out must not overlap. */
int key_norm_path(const char *in, size_t n, char *out, size_t cap, size_t *outlen);

/* Normalises a query, given with or without its leading '?':
 *   - parameters are split on '&' only (';' is data); empty ones ("a=1&&b=2", "=")
 *     are dropped, and "a" is the same as "a=" (written "a=");
 *   - names and values get the percent-encoding normalisation of key_norm_path;
 *     '+' is kept as is (it is not "%20" to every application);
 *   - rules (may be NULL) keep or drop parameters by normalised name;
 *   - parameters are sorted bytewise by normalised name, stably: parameters that
 *     share a name keep their order, since applications read the first, the last
 *     or all of them in order (as WHATWG URLSearchParams.sort);
 *   - the result is "?" followed by the parameters joined with '&', or empty (no
 *     '?' at all) when no parameter is left.
 * Writes out[0..*outlen). Returns 0, KEY_E_BAD_ESCAPE (anywhere in the query, even in
 * a dropped parameter), KEY_E_TOO_MANY (more than KEY_QUERY_MAX_PARAMS kept) or
 * KEY_E_OVERFLOW. in and out must not overlap. */
int key_norm_query(const char *q, size_t n, const struct key_query_rules *rules, char *out,
                   size_t cap, size_t *outlen);

/* A static text for a key_err. */
const char *key_strerror(int err);

#endif
