/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_escape: the render output (tpl_int.h) and the escaping modes of tpl.h.
 *
 * Output is staged in a buffer of TPL_OUT_CHUNK bytes inside the render state
 * and appended to the evbuffer a chunk at a time; writes larger than a chunk go
 * straight in. The cap counts every byte accepted: a write that would cross it
 * fails whole with TPL_E_OUTPUT, so the output never exceeds it.
 *
 * Escaping copies runs of bytes that need nothing in one write and writes each
 * replacement between them. HTML replaces & < > " ' (the spec's HTML cases need
 * the first four; ' closes single-quoted attributes). JSON escapes what RFC 8259
 * section 7 requires inside a string: '"', '\' and the bytes below 0x20, the
 * latter as \u00XX; JSON data is valid UTF-8 already (jansson checks it).
 */
#include "tpl_int.h"

#include <event2/buffer.h>

int tpl__out_flush(struct tpl_out *o)
{
    if (o->len == 0)
        return 0;
    if (evbuffer_add(o->ev, o->buf, o->len) != 0)
        return TPL_E_NOMEM;
    o->len = 0;
    return 0;
}

int tpl__out_slow(struct tpl_out *o, const char *p, size_t n)
{
    int rc;

    if (n > o->cap - o->total)
        return TPL_E_OUTPUT;
    if (n > TPL_OUT_CHUNK - o->len && (rc = tpl__out_flush(o)) != 0)
        return rc;
    if (n >= TPL_OUT_CHUNK) {
        if (evbuffer_add(o->ev, p, n) != 0)
            return TPL_E_NOMEM;
    } else {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    }
    o->total += n;
    return 0;
}

struct rep {
    uint8_t len;
    char text[7];
};

static const struct rep html_rep[256] = {
    ['&'] = {5, "&amp;"},  ['<'] = {4, "&lt;"},   ['>'] = {4, "&gt;"},
    ['"'] = {6, "&quot;"}, ['\''] = {5, "&#39;"},
};

static int escape_html(struct tpl_out *o, const char *p, size_t n)
{
    size_t i, run = 0;
    int rc;

    for (i = 0; i < n; i++) {
        const struct rep *r = &html_rep[(uint8_t)p[i]];

        if (r->len == 0)
            continue;
        if ((rc = tpl__out(o, p + run, i - run)) != 0 || (rc = tpl__out(o, r->text, r->len)) != 0)
            return rc;
        run = i + 1;
    }
    return tpl__out(o, p + run, n - run);
}

/* JSON string content, each piece written escaped again for `outer` (a JSON
 * value interpolated into an HTML template is HTML-escaped on top). */
int tpl__out_json_string(struct tpl_out *o, enum tpl_escape outer, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    char rep[6];
    size_t rep_len;
    int rc;

    for (i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)p[i];

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        if (ch == '"' || ch == '\\') {
            rep[0] = '\\';
            rep[1] = (char)ch;
            rep_len = 2;
        } else {
            memcpy(rep, "\\u00", 4);
            rep[4] = hex[ch >> 4];
            rep[5] = hex[ch & 15];
            rep_len = 6;
        }
        if ((rc = tpl__out_escaped(o, outer, p + run, i - run)) != 0 ||
            (rc = tpl__out_escaped(o, outer, rep, rep_len)) != 0)
            return rc;
        run = i + 1;
    }
    return tpl__out_escaped(o, outer, p + run, n - run);
}

int tpl__out_escaped(struct tpl_out *o, enum tpl_escape mode, const char *p, size_t n)
{
    switch (mode) {
    case TPL_ESCAPE_HTML: return escape_html(o, p, n);
    case TPL_ESCAPE_JSON: return tpl__out_json_string(o, TPL_ESCAPE_NONE, p, n);
    case TPL_ESCAPE_NONE: break;
    }
    return tpl__out(o, p, n);
}
