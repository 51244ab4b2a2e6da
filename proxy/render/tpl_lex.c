/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_lex: the compiler's first pass (tpl_int.h). Splits a template's source into
 * text runs and tags, applies set-delimiter tags as it meets them (they change
 * how the rest of this source splits, never a partial's), checks tag names, and
 * matches each close tag with its open tag on a stack bounded by the set's
 * max_nesting. Errors point at the offending tag. Each delimiter change is
 * recorded (struct tpl_delim) for lambda sections, whose text compiles with the
 * delimiters of their tag; a lambda's text may start with other delimiters than
 * {{ }} (tpl_compiler.start).
 *
 * Tag grammar, with the current delimiters O and C ("{{" and "}}" at first):
 *   O name C   O{ name }C   O& name C   O# O^ O/ O> O< O$ name C
 *   O! anything but C C   O= new-O whitespace new-C =C
 * Names are trimmed and may not hold whitespace; partial and parent names may
 * start with '*' (a dynamic name, the spec's ~dynamic-names).
 */
#include "tpl_int.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

struct lexer {
    struct tpl_compiler *c;
    char otag[TPL_MAX_DELIM], ctag[TPL_MAX_DELIM];
    size_t olen, clen;
    uint32_t *stack; /* open tags, as token indices */
    unsigned depth;
};

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static struct tpl_tok *add_tok(struct tpl_compiler *c, int kind, uint32_t start, uint32_t end)
{
    struct tpl_tok *k;

    if (c->ntoks == c->toks_cap) {
        c->toks_cap = c->toks_cap ? c->toks_cap * 2 : 64;
        c->toks = xrealloc(c->toks, c->toks_cap * sizeof(*c->toks));
    }
    k = &c->toks[c->ntoks++];
    memset(k, 0, sizeof(*k));
    k->kind = (uint8_t)kind;
    k->start = start;
    k->end = end;
    k->match = TPL_NONE;
    return k;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case TPL_TK_SECTION: return "section";
    case TPL_TK_INVERTED: return "inverted section";
    case TPL_TK_PARENT: return "parent";
    case TPL_TK_BLOCK: return "block";
    }
    return "tag";
}

/* Records the delimiters of lx as those in effect from offset pos on. */
static void add_delim(struct lexer *lx, uint32_t pos)
{
    struct tpl_compiler *c = lx->c;
    struct tpl_delim *d;

    if (c->ndelims == c->delims_cap) {
        c->delims_cap = c->delims_cap ? c->delims_cap * 2 : 4;
        c->delims = xrealloc(c->delims, c->delims_cap * sizeof(*c->delims));
    }
    d = &c->delims[c->ndelims++];
    memset(d, 0, sizeof(*d));
    d->pos = pos;
    d->olen = (uint8_t)lx->olen;
    d->clen = (uint8_t)lx->clen;
    memcpy(d->otag, lx->otag, lx->olen);
    memcpy(d->ctag, lx->ctag, lx->clen);
}

/* {{=<% %>=}}: content [q, e) holds the two new delimiters. */
static int set_delims(struct lexer *lx, uint32_t at, uint32_t q, uint32_t e)
{
    const char *s = lx->c->src;
    uint32_t a, b, a_end, b_end;

    for (a = q; a < e && is_space(s[a]); a++)
        ;
    for (a_end = a; a_end < e && !is_space(s[a_end]); a_end++)
        ;
    for (b = a_end; b < e && is_space(s[b]); b++)
        ;
    for (b_end = b; b_end < e && !is_space(s[b_end]); b_end++)
        ;
    for (q = b_end; q < e && is_space(s[q]); q++)
        ;
    if (a == a_end || b == b_end || q != e || b == a_end)
        return tpl__error(lx->c->err, lx->c->t, at, TPL_E_SYNTAX,
                          "bad delimiter change: expected two delimiters");
    if (a_end - a > TPL_MAX_DELIM || b_end - b > TPL_MAX_DELIM)
        return tpl__error(lx->c->err, lx->c->t, at, TPL_E_SYNTAX,
                          "bad delimiter change: delimiters are at most %d bytes", TPL_MAX_DELIM);
    lx->olen = a_end - a;
    memcpy(lx->otag, s + a, lx->olen);
    lx->clen = b_end - b;
    memcpy(lx->ctag, s + b, lx->clen);
    return 0;
}

/* The trimmed name of a tag: [q, e) without surrounding whitespace. */
static int tag_name(struct lexer *lx, struct tpl_tok *k, uint32_t q, uint32_t e)
{
    const char *s = lx->c->src;
    uint32_t i;

    while (q < e && is_space(s[q]))
        q++;
    while (e > q && is_space(s[e - 1]))
        e--;
    if ((k->kind == TPL_TK_PARTIAL || k->kind == TPL_TK_PARENT) && q < e && s[q] == '*') {
        k->dynamic = 1;
        for (q++; q < e && is_space(s[q]); q++)
            ;
    }
    if (q == e)
        return tpl__error(lx->c->err, lx->c->t, k->start, TPL_E_SYNTAX, "empty tag name");
    for (i = q; i < e; i++) {
        if (is_space(s[i]))
            return tpl__error(lx->c->err, lx->c->t, k->start, TPL_E_SYNTAX,
                              "bad tag name \"%.*s\": names hold no whitespace",
                              (int)(e - q > 40 ? 40 : e - q), s + q);
    }
    k->name = q;
    k->name_len = e - q;
    return 0;
}

/* Matches close tag k with the innermost open tag. */
static int close_tag(struct lexer *lx, struct tpl_tok *k)
{
    struct tpl_compiler *c = lx->c;
    const char *s = c->src;
    struct tpl_tok *open;
    uint32_t n = k->name, len = k->name_len;

    if (lx->depth == 0)
        return tpl__error(c->err, c->t, k->start, TPL_E_SYNTAX,
                          "closing tag \"%.*s\" without an open section",
                          (int)(len > 40 ? 40 : len), s + n);
    open = &c->toks[lx->stack[lx->depth - 1]];
    if (open->dynamic && len > 0 && s[n] == '*') {
        for (n++, len--; len > 0 && is_space(s[n]); n++, len--)
            ;
        k->dynamic = 1;
    }
    if (open->dynamic != k->dynamic || open->name_len != len ||
        memcmp(s + open->name, s + n, len) != 0) {
        unsigned line, col;
        tpl__line_col(c->t, open->start, &line, &col);
        return tpl__error(c->err, c->t, k->start, TPL_E_SYNTAX,
                          "closing tag \"%.*s\" does not match %s \"%.*s\" opened at %u:%u",
                          (int)(k->name_len > 40 ? 40 : k->name_len), s + k->name,
                          kind_name(open->kind), (int)(open->name_len > 40 ? 40 : open->name_len),
                          s + open->name, line, col);
    }
    k->closes = open->kind;
    k->match = lx->stack[lx->depth - 1];
    open->match = (uint32_t)(k - c->toks);
    lx->depth--;
    return 0;
}

static int tag_kind(char ch, int *kind)
{
    switch (ch) {
    case '#': *kind = TPL_TK_SECTION; return 1;
    case '^': *kind = TPL_TK_INVERTED; return 1;
    case '/': *kind = TPL_TK_CLOSE; return 1;
    case '>': *kind = TPL_TK_PARTIAL; return 1;
    case '<': *kind = TPL_TK_PARENT; return 1;
    case '$': *kind = TPL_TK_BLOCK; return 1;
    case '!': *kind = TPL_TK_COMMENT; return 1;
    case '=': *kind = TPL_TK_DELIM; return 1;
    case '&': *kind = TPL_TK_RAW; return 1;
    case '{': *kind = TPL_TK_RAW; return 1;
    }
    *kind = TPL_TK_VAR;
    return 0;
}

/* Reads the tag whose opening delimiter is at `at`; *next is set past it. */
static int lex_tag(struct lexer *lx, uint32_t at, uint32_t *next)
{
    struct tpl_compiler *c = lx->c;
    uint32_t q = at + (uint32_t)lx->olen, e;
    char close[TPL_MAX_DELIM + 1];
    size_t close_len = 0;
    const char *hit = NULL;
    struct tpl_tok *k;
    int kind = TPL_TK_VAR, rc;

    if (q < c->len && tag_kind(c->src[q], &kind)) {
        if (c->src[q] == '{' || c->src[q] == '=')
            close[close_len++] = c->src[q] == '{' ? '}' : '=';
        q++;
    }
    memcpy(close + close_len, lx->ctag, lx->clen);
    close_len += lx->clen;
    if (q <= c->len)
        hit = memmem(c->src + q, c->len - q, close, close_len);
    if (hit == NULL)
        return tpl__error(c->err, c->t, at, TPL_E_SYNTAX, "unclosed tag: no \"%.*s\" after it",
                          (int)close_len, close);
    e = (uint32_t)(hit - c->src);
    *next = e + (uint32_t)close_len;
    k = add_tok(c, kind, at, *next);
    if (kind == TPL_TK_COMMENT)
        return 0;
    if (kind == TPL_TK_DELIM) {
        if ((rc = set_delims(lx, at, q, e)) == 0)
            add_delim(lx, *next);
        return rc;
    }
    if ((rc = tag_name(lx, k, q, e)) != 0)
        return rc;
    if (kind == TPL_TK_CLOSE)
        return close_tag(lx, k);
    if (kind == TPL_TK_SECTION || kind == TPL_TK_INVERTED || kind == TPL_TK_PARENT ||
        kind == TPL_TK_BLOCK) {
        if (lx->depth >= c->max_nesting)
            return tpl__error(c->err, c->t, at, TPL_E_LIMIT, "nesting deeper than %u levels",
                              c->max_nesting);
        lx->stack[lx->depth++] = (uint32_t)(k - c->toks);
    }
    return 0;
}

int tpl__lex(struct tpl_compiler *c)
{
    struct lexer lx = {.c = c, .otag = "{{", .ctag = "}}", .olen = 2, .clen = 2};
    uint32_t pos = 0, at;
    const char *hit;
    int rc = 0;

    if (c->start != NULL) {
        lx.olen = c->start->olen;
        lx.clen = c->start->clen;
        memcpy(lx.otag, c->start->otag, lx.olen);
        memcpy(lx.ctag, c->start->ctag, lx.clen);
        add_delim(&lx, 0);
    }
    lx.stack = xmalloc(c->max_nesting * sizeof(*lx.stack));
    while (pos < c->len) {
        hit = memmem(c->src + pos, c->len - pos, lx.otag, lx.olen);
        at = hit != NULL ? (uint32_t)(hit - c->src) : c->len;
        if (at > pos)
            add_tok(c, TPL_TK_TEXT, pos, at);
        if (hit == NULL)
            break;
        if ((rc = lex_tag(&lx, at, &pos)) != 0)
            goto out;
    }
    if (lx.depth > 0) {
        const struct tpl_tok *open = &c->toks[lx.stack[lx.depth - 1]];
        rc = tpl__error(c->err, c->t, open->start, TPL_E_SYNTAX, "unclosed %s \"%.*s\"",
                        kind_name(open->kind), (int)(open->name_len > 40 ? 40 : open->name_len),
                        c->src + open->name);
    }
out:
    free(lx.stack);
    return rc;
}
