/* SPDX-License-Identifier: Apache-2.0
 *
 * h1: strict HTTP/1.1 message parsing (RFC 9112).
 *
 * The head parsers are stateless: they are handed everything received so far and
 * either find a complete head (H1_OK), ask for more (H1_NEED_MORE) or reject the
 * message with a negative h1_err. Any split of the input gives the same result
 * because the head is re-scanned from its first byte; the cost is bounded by the
 * configured header limit. The chunked decoder is a true incremental state machine.
 *
 * Parsed strings point into the caller's buffer; nothing is allocated.
 * Thread: any; the functions keep no global state.
 */
#ifndef TESSERA_H1_H
#define TESSERA_H1_H

#include <stddef.h>
#include <stdint.h>

#define H1_MAX_HEADERS_CAP 256 /* hard ceiling of struct h1_msg.headers */

enum h1_err {
    H1_OK = 0,
    H1_NEED_MORE = 1,                 /* not an error: the head is not complete yet */
    H1_E_BAD_REQUEST_LINE = -1,       /* malformed request-line (400) */
    H1_E_BAD_METHOD = -2,             /* method is not a token (400) */
    H1_E_BAD_TARGET = -3,             /* request-target has invalid bytes (400) */
    H1_E_BAD_VERSION = -4,            /* not HTTP/1.x (400) */
    H1_E_VERSION_UNSUPPORTED = -5,    /* well formed HTTP/2+ on an h1 line (505) */
    H1_E_URI_TOO_LONG = -6,           /* request-target over limit (414) */
    H1_E_HEADERS_TOO_LARGE = -7,      /* head over limit (431) */
    H1_E_TOO_MANY_HEADERS = -8,       /* header count over limit (431) */
    H1_E_BAD_HEADER_NAME = -9,        /* empty name or not a token (400) */
    H1_E_SPACE_BEFORE_COLON = -10,    /* "Name :" (400, RFC 9112 5.1) */
    H1_E_OBS_FOLD = -11,              /* line folding (400, RFC 9112 5.2) */
    H1_E_BARE_CR = -12,               /* CR not followed by LF (400, RFC 9112 2.2) */
    H1_E_BAD_HEADER_VALUE = -13,      /* control character in a field value (400) */
    H1_E_CL_AND_TE = -14,             /* Content-Length with Transfer-Encoding (400) */
    H1_E_BAD_CONTENT_LENGTH = -15,    /* invalid or differing Content-Length (400) */
    H1_E_BAD_TRANSFER_ENCODING = -16, /* TE other than a final "chunked" (400/501) */
    H1_E_BAD_CHUNK = -17,             /* invalid chunk size, extension or terminator */
    H1_E_MISSING_HOST = -18,          /* no Host in 1.1, several Hosts, or an invalid one (400) */
    H1_E_BAD_STATUS_LINE = -19,       /* malformed status-line (response parsing) */
    H1_E_CHUNK_TOO_LARGE = -20,       /* chunk size does not fit in 63 bits */
};

struct h1_limits {
    size_t max_head;    /* bytes of request/status line plus all header lines */
    size_t max_uri;     /* bytes of the request-target */
    size_t max_headers; /* number of header fields (<= H1_MAX_HEADERS_CAP) */
};

struct h1_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing whitespace removed */
    size_t value_len;
};

/* Framing of the body that follows the head. */
enum h1_body {
    H1_BODY_NONE = 0,    /* no body (no CL/TE, or CL: 0, or a response that has none) */
    H1_BODY_LENGTH,      /* content_length bytes */
    H1_BODY_CHUNKED,     /* Transfer-Encoding: chunked */
    H1_BODY_UNTIL_CLOSE, /* responses only: read until the connection closes */
};

struct h1_msg {
    /* request */
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    /* response */
    int status;
    const char *reason;
    size_t reason_len;

    int minor_version; /* 0 or 1 */
    size_t head_len;   /* bytes of the head including the final empty line */

    struct h1_header headers[H1_MAX_HEADERS_CAP];
    size_t num_headers;

    enum h1_body body;
    uint64_t content_length;      /* valid when body == H1_BODY_LENGTH */
    unsigned keep_alive : 1;      /* per version and Connection header */
    unsigned expect_continue : 1; /* "Expect: 100-continue" was sent */
    unsigned upgrade : 1;         /* a Connection: upgrade / Upgrade header is present */
    const char *host;             /* Host field value, or NULL */
    size_t host_len;
};

/* Parses a request head from buf[0..len). On H1_OK fills *msg (strings point into
 * buf) and msg->head_len. Returns H1_NEED_MORE when the head is incomplete and still
 * within the limits, or a negative h1_err. Checks every rejection listed in enum
 * h1_err, and applies RFC 9112 6.3 to decide msg->body. */
int h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim, struct h1_msg *msg);

/* Parses a response head. `head_request` is non-zero when the request was HEAD, so
 * the response has no body whatever its headers say; 1xx, 204 and 304 never have
 * one either (RFC 9112 6.3). Without CL or chunked, msg->body is UNTIL_CLOSE. */
int h1_parse_response(const char *buf, size_t len, const struct h1_limits *lim, int head_request,
                      struct h1_msg *msg);

/* Case-insensitive search for a header; returns its index or -1. */
int h1_header_find(const struct h1_msg *msg, const char *name, size_t start);

/* Non-zero when name[0..len) is, case-insensitively, one of the hop-by-hop fields
 * (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade, Proxy-Authenticate, Proxy-Authorization) or is listed in msg's
 * Connection header. */
int h1_header_is_hop(const struct h1_msg *msg, const char *name, size_t len);

/* Incremental chunked-body decoder (RFC 9112 7.1). Zero-initialise, or call
 * h1_chunked_init. */
struct h1_chunked {
    int state;
    uint64_t remaining; /* data bytes left in the current chunk */
    size_t line_len;    /* bytes of the current size/trailer line seen so far */
    size_t max_line;    /* cap on chunk-size/extension/trailer lines; 0 = 4096 */
};

void h1_chunked_init(struct h1_chunked *c);

/* Feeds in[0..len). Stops at the first of: a run of body data, the end of the body,
 * or the end of the input. *consumed is how many bytes of `in` were used. When a run
 * of data is found, *data_off and *data_len give its place in `in` (it is part of
 * the consumed bytes); otherwise *data_len is 0. Returns H1_OK once the last chunk
 * and trailer section are consumed (bytes after that belong to the next message),
 * H1_NEED_MORE while the body goes on, or a negative h1_err. */
int h1_chunked_feed(struct h1_chunked *c, const char *in, size_t len, size_t *consumed,
                    size_t *data_off, size_t *data_len);

struct evbuffer;

/* Runs h1_chunked_feed over everything `in` holds, calling on_data for each run
 * of body data (pointing into `in`) and draining what was consumed. Returns
 * H1_OK once the body ended (bytes after it stay in `in`), H1_NEED_MORE when
 * `in` is used up, a negative h1_err, or the first non-zero value on_data
 * returned (then nothing more is consumed). */
int h1_chunked_drain(struct h1_chunked *c, struct evbuffer *in,
                     int (*on_data)(void *arg, const char *p, size_t n), void *arg);

/* Non-zero for errors after which the connection cannot be reused (all of them in
 * HTTP/1.1: the framing is lost). Kept for symmetry with the h2 module. */
int h1_is_fatal(int err);

/* Text for an h1_err, e.g. "Content-Length together with Transfer-Encoding". */
const char *h1_strerror(int err);

/* The HTTP status a server answers a request error with (400, 414, 431, 501, 505). */
int h1_err_status(int err);

#endif
