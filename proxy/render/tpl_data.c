/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_data: what rendering asks of the JSON data (tpl_int.h): name resolution on
 * the context stack (the spec's interpolation.json overview, steps 1 to 5),
 * truthiness, and values as text.
 *
 * Resolution walks the frames from the innermost; the root frame comes last, and
 * that is where a pending fragment is asked about (tpl_render_opts.is_pending).
 * Later parts of a dotted name resolve only in the value the earlier ones found
 * ("Dotted Names - Context Precedence"); a part of decimal digits also indexes
 * an array ({{images.0.url}}). Data is only read: no reference counts change,
 * so any number of threads may render the same data.
 */
#include "tpl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64 /* arrays and objects written as JSON, nested */

static const json_t *child(const json_t *v, const char *s, size_t n)
{
    size_t i, index = 0;

    if (json_is_object(v))
        return json_object_getn(v, s, n);
    if (!json_is_array(v) || n == 0 || n > 9)
        return NULL;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NULL;
        index = index * 10 + (size_t)(s[i] - '0');
    }
    return json_array_get(v, index);
}

int tpl__lookup(const struct tpl_render_opts *o, const struct tpl *t, const struct tpl_part *parts,
                unsigned n, const struct tpl_frame *ctx, const json_t **out)
{
    const char *name;
    const json_t *v = NULL;
    const struct tpl_frame *f;
    unsigned k;

    *out = NULL;
    if (n == 0) {
        *out = ctx->v;
        return 0;
    }
    name = t->src + parts[0].off;
    for (f = ctx; f != NULL; f = f->up) {
        if (f->up == NULL && o->is_pending != NULL &&
            o->is_pending(o->pending_arg, name, parts[0].len))
            return TPL_PENDING;
        if (json_is_object(f->v) && (v = json_object_getn(f->v, name, parts[0].len)) != NULL)
            break;
    }
    for (k = 1; v != NULL && k < n; k++)
        v = child(v, t->src + parts[k].off, parts[k].len);
    *out = v;
    return 0;
}

int tpl__truthy(const json_t *v)
{
    if (v == NULL)
        return 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: return 1;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_TRUE: return 1;
    case JSON_FALSE:
    case JSON_NULL: break;
    }
    return 0;
}

/* Decimal digits of v, right-aligned to end; returns where they start. */
static char *digits(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

static int format_integer(char *buf, json_int_t v)
{
    char tmp[24],
        *p = digits(tmp + sizeof(tmp), v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v);
    int n = 0;

    if (v < 0)
        buf[n++] = '-';
    memcpy(buf + n, p, (size_t)(tmp + sizeof(tmp) - p));
    return n + (int)(tmp + sizeof(tmp) - p);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as d: 1.21 is "1.21"
 * ("Basic Decimal Interpolation"), not 1.2099999999999999. Prices and the like,
 * at most 4 decimals between 1e-4 and 1e11, take a fast path that prints the
 * same digits: if d is the double nearest to r / 10^k, %.15g prints r / 10^k
 * (r has at most 15 digits), and the smallest such k has no trailing zero. */
static int format_real(char *buf, size_t size, double d)
{
    static const double pow10[] = {1, 10, 100, 1000, 10000};
    double a = d < 0 ? -d : d, r;
    char tmp[32], *p, *end = tmp + sizeof(tmp);
    int prec, k, n = 0;

    if (a >= 1e-4 && a < 1e11) {
        for (k = 0; k <= 4; k++) {
            r = (double)(long long)(a * pow10[k] + 0.5);
            if (r / pow10[k] != a)
                continue;
            p = digits(end, (unsigned long long)r);
            while (end - p <= k)
                *--p = '0';
            if (d < 0)
                buf[n++] = '-';
            memcpy(buf + n, p, (size_t)(end - p - k));
            n += (int)(end - p - k);
            if (k > 0) {
                buf[n++] = '.';
                memcpy(buf + n, end - k, (size_t)k);
                n += k;
            }
            return n;
        }
    }
    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return n;
}

static int write_json(struct tpl_out *o, enum tpl_escape mode, const json_t *v, unsigned depth);

static int write_string(struct tpl_out *o, enum tpl_escape mode, const char *s, size_t n)
{
    int rc;

    if ((rc = tpl__out_escaped(o, mode, "\"", 1)) != 0 ||
        (rc = tpl__out_json_string(o, mode, s, n)) != 0)
        return rc;
    return tpl__out_escaped(o, mode, "\"", 1);
}

static int write_object(struct tpl_out *o, enum tpl_escape mode, const json_t *v, unsigned depth)
{
    json_t *obj = (json_t *)v; /* the iterator calls take no const; nothing is changed */
    void *it;
    int rc = tpl__out(o, "{", 1), first = 1;

    for (it = json_object_iter(obj); it != NULL && rc == 0; it = json_object_iter_next(obj, it)) {
        if (!first && (rc = tpl__out(o, ",", 1)) != 0)
            break;
        first = 0;
        if ((rc = write_string(o, mode, json_object_iter_key(it), json_object_iter_key_len(it))) ==
                0 &&
            (rc = tpl__out(o, ":", 1)) == 0)
            rc = write_json(o, mode, json_object_iter_value(it), depth + 1);
    }
    return rc != 0 ? rc : tpl__out(o, "}", 1);
}

static int write_json(struct tpl_out *o, enum tpl_escape mode, const json_t *v, unsigned depth)
{
    size_t i;
    int rc;

    if (depth > JSON_MAX_DEPTH)
        return TPL_E_DEPTH;
    if (json_is_string(v))
        return write_string(o, mode, json_string_value(v), json_string_length(v));
    if (json_is_object(v))
        return write_object(o, mode, v, depth);
    if (!json_is_array(v))
        return json_is_null(v) ? tpl__out(o, "null", 4) : tpl__write_value(o, mode, v);
    if ((rc = tpl__out(o, "[", 1)) != 0)
        return rc;
    for (i = 0; i < json_array_size(v); i++) {
        if ((i > 0 && (rc = tpl__out(o, ",", 1)) != 0) ||
            (rc = write_json(o, mode, json_array_get(v, i), depth + 1)) != 0)
            return rc;
    }
    return tpl__out(o, "]", 1);
}

int tpl__write_value(struct tpl_out *o, enum tpl_escape mode, const json_t *v)
{
    char buf[40];
    int n;

    if (v == NULL)
        return 0;
    switch (json_typeof(v)) {
    case JSON_STRING: return tpl__out_escaped(o, mode, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = format_integer(buf, json_integer_value(v));
        return tpl__out(o, buf, (size_t)n);
    case JSON_REAL:
        n = format_real(buf, sizeof(buf), json_real_value(v));
        return tpl__out(o, buf, (size_t)n);
    case JSON_TRUE: return tpl__out(o, "true", 4);
    case JSON_FALSE: return tpl__out(o, "false", 5);
    case JSON_NULL: return 0;
    case JSON_OBJECT:
    case JSON_ARRAY: return write_json(o, mode, v, 0);
    }
    return 0;
}
