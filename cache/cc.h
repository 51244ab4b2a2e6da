/* SPDX-License-Identifier: Apache-2.0
 *
 * cc: HTTP caching semantics for responses from origins (RFC 9111, with the
 * targeted fields of RFC 9213, Surrogate-Control, and RFC 5861 stale directives).
 *
 * Everything here is a pure function of its arguments: no allocation, no global
 * state, no clock (TTL code takes `now`, seconds since the epoch). Header fields are
 * passed as arrays of struct cc_field so that cache/ stays independent of the proxy's
 * message structs; the caller owns those arrays and the bytes they point to, and
 * every pointer this module hands back points into them (or is a static string,
 * for reasons and error texts). Arguments are never NULL unless a function says
 * so. This holds for every
 * function below: thread: any; none calls back into the caller or re-enters it.
 * Limitations (issue 4): no-cache/private field lists are not honoured per field,
 * 206 is never stored, If-Match/If-Unmodified-Since are not evaluated.
 *
 * The small structs below are plain values with public layouts (an exception to
 * STYLE "Public struct layouts"): callers build them on the stack per response, and
 * the policy is the module's whole answer, so hiding it would only add accessors.
 */
#ifndef TESSERA_CC_H
#define TESSERA_CC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cc_err {
    CC_OK = 0,
    CC_E_SYNTAX = -1, /* malformed input; see each function for what was still used */
};

/* Values of the delta-seconds members of struct cc_directives. */
#define CC_UNSET (-1)   /* directive absent */
#define CC_INVALID (-2) /* directive present with a missing or malformed argument */
#define CC_ANY (-3)     /* max-stale without an argument: any staleness is accepted */
/* RFC 9111 1.2.2: a delta-seconds value that does not fit is taken as 2^31. */
#define CC_DELTA_MAX ((int64_t)2147483648LL)
/* Heuristic freshness (RFC 9111 4.2.2): 10% of Date - Last-Modified, at most this. */
#define CC_HEURISTIC_MAX 86400
/* Bytes cc_format_http_date writes, including the terminating NUL. */
#define CC_HTTP_DATE_SIZE 30

/* One header field line. Names compare case-insensitively; values may carry
 * leading and trailing whitespace, which the parsers skip. */
struct cc_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* What the cache knows about a response from the origin. */
struct cc_response {
    int status;
    const struct cc_field *fields;
    size_t nfields;
    /* When the request that led to this response was sent upstream (RFC 9111
     * 4.2.3 request_time). 0 means unknown: the response delay is taken as 0. */
    int64_t request_time;
};

/* The client request (for the policy: method, Authorization, request directives). */
struct cc_request {
    const char *method; /* case-sensitive (RFC 9110 9.1) */
    size_t method_len;
    const struct cc_field *fields;
    size_t nfields;
};

/*
 * Cache directives, from Cache-Control (request or response), from a targeted field
 * (CDN-Cache-Control) or from Surrogate-Control. Delta-seconds members hold
 * CC_UNSET, CC_INVALID, CC_ANY (max_stale only) or 0..CC_DELTA_MAX.
 */
struct cc_directives {
    int64_t max_age;
    int64_t s_maxage;
    int64_t stale_while_revalidate; /* RFC 5861 3 */
    int64_t stale_if_error;         /* RFC 5861 4 */
    int64_t max_stale;              /* request */
    int64_t min_fresh;              /* request */
    bool no_store;
    bool no_cache;
    bool no_cache_fields; /* no-cache="field-list" form was seen (no_cache is set too) */
    bool is_private;
    bool private_fields; /* private="field-list" form was seen (is_private is set too) */
    bool is_public;
    bool must_revalidate;
    bool proxy_revalidate;
    bool must_understand; /* RFC 9111 5.2.2.3 */
    bool immutable;       /* RFC 8246 */
    bool no_transform;
    bool only_if_cached; /* request */
};

/* Route overrides of the origin's caching instructions. Zero-initialised rules with
 * ttl_override = -1 change nothing; cc_rules_init sets exactly that. */
struct cc_rules {
    int64_t ttl_override;             /* < 0: none; else the freshness lifetime */
    bool ignore_origin_cache_control; /* ignore CC, CDN-CC, Surrogate-Control, Expires
                                         (Vary, Set-Cookie, Authorization still apply) */
    bool allow_set_cookie;            /* store responses that carry Set-Cookie */
    bool allow_authorization;         /* store responses to requests with Authorization */
};

/* Where the freshness lifetime came from (precedence order, RFC 9111 4.2.1). */
enum cc_ttl_source {
    CC_TTL_NONE = 0,  /* no freshness information: ttl is 0 */
    CC_TTL_RULE,      /* cc_rules.ttl_override */
    CC_TTL_CDN,       /* CDN-Cache-Control s-maxage or max-age (RFC 9213) */
    CC_TTL_SURROGATE, /* Surrogate-Control max-age */
    CC_TTL_S_MAXAGE,  /* Cache-Control s-maxage */
    CC_TTL_MAX_AGE,   /* Cache-Control max-age */
    CC_TTL_EXPIRES,   /* Expires - Date */
    CC_TTL_HEURISTIC, /* 10% of Date - Last-Modified */
};

/* Which field's directives decided the policy. */
enum cc_directive_source {
    CC_DIR_CACHE_CONTROL = 0, /* Cache-Control and Expires (or none at all) */
    CC_DIR_CDN,               /* CDN-Cache-Control; Cache-Control and Expires ignored */
    CC_DIR_SURROGATE,         /* Surrogate-Control; Cache-Control and Expires ignored */
    CC_DIR_NONE,              /* cc_rules.ignore_origin_cache_control */
};

/* What the cache decides for one response. */
struct cc_policy {
    bool storable;
    const char *reason; /* static string when !storable, else NULL */
    int64_t ttl;        /* freshness lifetime, 0..CC_DELTA_MAX */
    int64_t age;        /* corrected initial age at response_time (RFC 9111 4.2.3) */
    int64_t date;       /* Date value used (response_time when Date is absent or invalid) */
    int64_t response_time;
    int64_t swr; /* stale-while-revalidate seconds, 0..CC_DELTA_MAX */
    int64_t sie; /* stale-if-error seconds, 0..CC_DELTA_MAX */
    enum cc_ttl_source ttl_source;
    enum cc_directive_source directives;
    bool must_revalidate; /* no stale use beyond swr/sie (must-/proxy-revalidate, s-maxage) */
    bool no_cache;        /* may be stored, but every use must be revalidated */
    bool immutable;
    bool has_validator; /* ETag, or a valid Last-Modified */
    bool vary_star;     /* Vary contains "*" (then !storable) */
    const char *vary;   /* the first non-empty Vary line, or NULL */
    size_t vary_len;
    unsigned vary_lines; /* non-empty Vary lines; iterate all of them when > 1 */
};

/* ---- fields ---------------------------------------------------------------- */

/*
 * Finds the next field named `name` (NUL-terminated, case-insensitive) at index
 * *idx or later.
 * Returns it and sets *idx past it, or returns NULL at the end. Start with *idx = 0.
 */
const struct cc_field *cc_field_find(const struct cc_field *fields, size_t nfields,
                                     const char *name, size_t *idx);

/* Case-insensitive comparison of two field names (or tokens). Returns 1 if equal. */
int cc_name_eq(const char *a, size_t alen, const char *b, size_t blen);

/* ---- parsers --------------------------------------------------------------- */

/* Sets every delta member to CC_UNSET and every flag to false. */
void cc_directives_init(struct cc_directives *out);

/*
 * Parses one Cache-Control (or Pragma, or Surrogate-Control) field line and merges
 * it into *out, which the caller initialised with cc_directives_init; call it once
 * per field line, in order, so that repeated fields combine.
 *
 * Syntax is RFC 9111 5.2 / RFC 9110 5.6: a list of token [ "=" ( token /
 * quoted-string ) ], names case-insensitive, commas inside quoted strings kept.
 * Choices (RFC 9111 4.2.1 leaves some open):
 *   - a repeated delta-seconds directive keeps its first occurrence;
 *   - a missing or malformed delta-seconds argument gives CC_INVALID, which
 *     cc_policy_for treats as "stale" for max-age and s-maxage (RFC 9111 4.2.1
 *     encourages this) and as absent for the other directives;
 *   - values over 2^31 become CC_DELTA_MAX (RFC 9111 1.2.2);
 *   - the quoted form "60" is accepted for delta-seconds (RFC 9111 5.2);
 *   - arguments of argument-less directives are ignored; no-cache and private with
 *     a field list count as the unqualified forms (a shared cache that does not
 *     strip the listed fields must act so);
 *   - a malformed element is skipped up to the next comma, except that a
 *     recognised restrictive name in it (no-store, private, ...) still applies.
 * Unknown directives are ignored (RFC 9111 5.2.3).
 * Returns CC_OK, or CC_E_SYNTAX when some element was malformed (the rest applied).
 */
int cc_parse_cache_control(const char *v, size_t n, struct cc_directives *out);

/*
 * Parses one line of a targeted field (CDN-Cache-Control, RFC 9213 2.2): an RFC 8941
 * Dictionary. On success merges into *out (a repeated key: the last one wins, as in
 * a Dictionary) and returns CC_OK; on a syntax error leaves *out untouched and
 * returns CC_E_SYNTAX, and the caller should ignore the whole field. Directives with
 * values of the wrong type (max-age=1.5, max-age="5") are ignored, except that
 * restrictive flags (no-store, no-cache, private, must-revalidate, proxy-revalidate)
 * apply unless given as the Boolean false ?0.
 */
int cc_parse_targeted(const char *v, size_t n, struct cc_directives *out);

/*
 * Parses an HTTP-date (RFC 9110 5.6.7): IMF-fixdate, obsolete RFC 850 and asctime
 * formats, surrounding whitespace ignored, names case-sensitive as the grammar says.
 * A two-digit RFC 850 year is read in the fixed window 1970..2069 (the RFC's "more
 * than 50 years ahead means the past" needs a clock; both agree on every date within
 * 25 years of a clock in 1995..2044).
 * Returns 0 and sets *t (seconds since the epoch), or -1 (CC_E_SYNTAX) and leaves
 * *t unchanged.
 */
int cc_parse_http_date(const char *v, size_t n, int64_t *t);

/*
 * Writes t as an IMF-fixdate into buf (CC_HTTP_DATE_SIZE bytes, NUL-terminated).
 * Returns 0, or -1 when t is outside years 1..9999 (buf then holds "").
 */
int cc_format_http_date(int64_t t, char buf[CC_HTTP_DATE_SIZE]);

/*
 * Iterates the field names of one Vary field line (RFC 9110 12.5.5). *pos is the
 * caller's cursor: start at 0. Returns 1 and sets *name and *name_len to the next
 * member (trimmed, pointing into v; "*" is returned like a name), 0 at the end, or
 * -1 (CC_E_SYNTAX) for a member that is not a token. Empty members are skipped.
 * Compare the names with cc_name_eq.
 */
int cc_vary_each(const char *v, size_t n, size_t *pos, const char **name, size_t *name_len);

/* ---- the policy ------------------------------------------------------------- */

/* Sets *rules to "no override": ttl_override -1, every flag false. */
void cc_rules_init(struct cc_rules *rules);

/*
 * Decides whether and for how long the response to req may be stored by a shared
 * cache, at `now` = the time the response was received (RFC 9111 4.2.3
 * response_time). rules may be NULL (no overrides). Always fills *out.
 *
 * Directives: a valid, non-empty CDN-Cache-Control wins, then a Surrogate-Control
 * with a valid max-age or no-store (max-age, no-store, stale-while-revalidate and
 * stale-if-error are read from it, nothing else); either makes Cache-Control and
 * Expires ignored (RFC 9213 2.1). Otherwise Cache-Control and Expires apply.
 * Freshness: s-maxage, then max-age of the chosen set, then Expires - Date; without
 * any, the heuristic (10% of Date - Last-Modified, at most CC_HEURISTIC_MAX) for
 * heuristically cacheable statuses or `public` responses (RFC 9111 4.2.2).
 *
 * Not storable (reason): method other than GET/HEAD ("method"); 1xx, 206 (ranges
 * are not cached), 304, or must-understand with a status this cache does not know
 * ("status"); request no-store ("request-no-store"); no-store ("no-store"); private
 * ("private"); a request with Authorization unless the deciding directives have
 * public, s-maxage or must-revalidate (RFC 9111 3.5) or the rule allows it
 * ("authorization"); Set-Cookie unless the rule allows it, a Fastly/Varnish-style
 * default so one client's cookie is never served to another ("set-cookie");
 * Vary "*" ("vary-star") or a Vary member that is not a token ("vary-invalid"); a
 * status that is not heuristically cacheable without explicit freshness or public
 * ("uncacheable-status").
 *
 * HEAD: a storable policy for a HEAD response means it may freshen a stored GET
 * response (RFC 9111 4.3.5); it has no body, so callers never create an entry from
 * it, and HEAD requests are answered from GET entries.
 * A storable policy with ttl 0 and no validator is legal but useless to store.
 */
void cc_policy_for(const struct cc_response *resp, const struct cc_request *req, int64_t now,
                   const struct cc_rules *rules, struct cc_policy *out);

/*
 * RFC 9111 4.2.3 corrected_initial_age: max(apparent_age, age_value + response_delay)
 * where apparent_age = max(0, response_time - date_value) and response_delay =
 * response_time - request_time (0 if negative). age_value is the Age header (0 if
 * absent). Saturates; the result is in 0..CC_DELTA_MAX.
 */
int64_t cc_initial_age(int64_t age_value, int64_t date_value, int64_t request_time,
                       int64_t response_time);

/* RFC 9111 4.2.3 current_age = corrected initial age + resident time, at now. */
int64_t cc_current_age(const struct cc_policy *p, int64_t now);

/*
 * Seconds the stored response stays fresh at now: ttl - current_age. Negative once
 * stale; never positive when p->no_cache (every use must be revalidated).
 */
int64_t cc_ttl_left(const struct cc_policy *p, int64_t now);

/* ---- request side and helpers --------------------------------------------------- */

/* Parses every Cache-Control line of the request into *out (initialised here). */
void cc_request_directives(const struct cc_request *req, struct cc_directives *out);

/*
 * Returns 1 when the client asks for revalidation: Cache-Control: no-cache, or,
 * when the request has no Cache-Control at all, Pragma: no-cache (RFC 9111 5.4).
 * Whether the proxy honours it is the caller's (configurable) decision.
 */
int cc_request_no_cache(const struct cc_request *req);

/*
 * Evaluates If-None-Match and If-Modified-Since of a GET or HEAD request against a
 * stored response with the given ETag and Last-Modified values (either may be NULL)
 * (RFC 9110 13.1.2, 13.1.3, 13.2.2). If-None-Match, when present, decides alone:
 * "*" or any weakly matching tag gives 1; a malformed list matches nothing. Else
 * If-Modified-Since gives 1 when Last-Modified is not later than it; it is ignored
 * when it is not one valid HTTP-date or the method is not GET/HEAD.
 * If-Match and If-Unmodified-Since are not evaluated here.
 * Returns 1 when a 304 Not Modified should be sent, else 0.
 */
int cc_not_modified(const struct cc_request *req, const char *etag, size_t etag_len,
                    const char *last_modified, size_t last_modified_len);

/* RFC 9110 13.1.1 weak comparison of two entity-tags. Returns 1 if they match. */
int cc_etag_weak_eq(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Returns 1 for methods that are not safe (RFC 9110 9.2.1: everything but GET,
 * HEAD, OPTIONS and TRACE, including unknown methods), else 0.
 */
int cc_is_unsafe_method(const char *method, size_t len);

/*
 * Returns 1 when the response invalidates the stored responses for the target URI:
 * an unsafe method answered with a non-error (2xx or 3xx) status (RFC 9111 4.4).
 */
int cc_response_invalidates(const char *method, size_t len, int status);

/*
 * Returns 1 for response fields the cache does not forward to clients because they
 * were addressed to it: CDN-Cache-Control (RFC 9213 allows removal by a cache that
 * uses it) and Surrogate-Control (addressed to surrogates only). Else 0.
 */
int cc_strip_field(const char *name, size_t len);

/* Text for a cc_err value (static). */
const char *cc_strerror(int err);

#endif
