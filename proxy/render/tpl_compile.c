/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_compile: turns a template's tokens into its program (tpl_int.h), the third
 * pass after tpl_lex.c and tpl_lines.c, and drives the three.
 *
 * Line starts. A partial rendered standalone gets its indentation in front of
 * every line, as if its source had been indented line by line before compiling
 * (the spec's model). The program marks, instead, the op that begins each line
 * with TPL_OPF_BOL; a text op writes the indentation itself after each newline
 * it holds. A line that begins with a close tag gets an empty text op, inside
 * the body it closes, to carry the mark.
 *
 * Parents and blocks (~inheritance). Inside {{<parent}}...{{/parent}} only
 * blocks count, as overrides (TPL_OPF_ARG); any other text and tags there are
 * checked but compiled to nothing. The spec moves an override's lines to where
 * the parent's block is: an override whose open tag stands alone loses the
 * indentation of its first line from each line (done here, by splitting text
 * ops), and the block it replaces adds its own, the indentation of the line
 * after its open tag when that tag stands alone, else the whitespace before the
 * tag (tpl_render.c).
 */
#include "tpl_int.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

enum { MODE_NORMAL, MODE_ARGS, MODE_IGNORED };

struct level {
    int mode;
    uint32_t op;    /* the op whose body this is, TPL_NONE when ignored */
    uint32_t strip; /* leading whitespace removed from each line here */
};

struct emitter {
    struct tpl_compiler *c;
    struct level *lv;
    unsigned top;
    int bol; /* a line started at a token that printed nothing */
};

static uint32_t add_op(struct tpl_compiler *c, int kind, uint32_t pos)
{
    struct tpl_op *op;

    if (c->nops == c->ops_cap) {
        c->ops_cap = c->ops_cap ? c->ops_cap * 2 : 32;
        c->ops = xrealloc(c->ops, c->ops_cap * sizeof(*c->ops));
    }
    op = &c->ops[c->nops];
    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    op->pos = pos;
    op->end = c->nops + 1;
    return c->nops++;
}

static void add_part(struct tpl_compiler *c, uint32_t off, uint32_t len)
{
    if (c->nparts == c->parts_cap) {
        c->parts_cap = c->parts_cap ? c->parts_cap * 2 : 32;
        c->parts = xrealloc(c->parts, c->parts_cap * sizeof(*c->parts));
    }
    c->parts[c->nparts].off = off;
    c->parts[c->nparts].len = len;
    c->nparts++;
}

/* Sets op's name from tag k: split at dots unless `whole`; "." has no part. */
static int set_name(struct tpl_compiler *c, uint32_t op, const struct tpl_tok *k, int whole)
{
    const char *s = c->src;
    uint32_t i, start = k->name, end = k->name + k->name_len, n = 0;

    c->ops[op].name = c->nparts;
    if (whole || (k->name_len == 1 && s[start] == '.')) {
        if (whole)
            add_part(c, start, k->name_len);
        c->ops[op].nparts = whole ? 1 : 0;
        return 0;
    }
    for (i = start; i <= end; i++) {
        if (i < end && s[i] != '.')
            continue;
        if (i == start || ++n > TPL_MAX_PARTS)
            return tpl__error(c->err, c->t, k->start, TPL_E_SYNTAX, "bad name \"%.*s\": %s",
                              (int)(k->name_len > 40 ? 40 : k->name_len), s + k->name,
                              i == start ? "empty part" : "too many parts");
        add_part(c, start, i - start);
        start = i + 1;
    }
    c->ops[op].nparts = (uint16_t)n;
    return 0;
}

/* A lambda's text is written where its tag was, mid-line as far as indentation
 * goes: its start is no line start. */
static int at_line_start(const struct tpl_compiler *c, uint32_t pos)
{
    return pos == 0 ? !tpl__is_lambda(c->t) : c->src[pos - 1] == '\n';
}

static uint32_t ws_run(const struct tpl_compiler *c, uint32_t pos)
{
    uint32_t p = pos;

    while (p < c->len && tpl__is_ws(c->src[p]))
        p++;
    return p - pos;
}

static void set_indent(struct tpl_op *op, uint32_t off, uint32_t len, uint32_t strip)
{
    uint32_t skip = strip < len ? strip : len;

    op->ind = off + skip;
    op->len = len - skip;
}

/* Text [p, e) in ops; with strip, lines lose up to strip leading blanks. Returns
 * whether the text ended in a stripped line start (the next op begins it). */
static int emit_text(struct tpl_compiler *c, uint32_t p, uint32_t e, int bol, uint32_t strip)
{
    const char *nl;
    uint32_t op, q, n, stop;

    if (strip == 0) {
        op = add_op(c, TPL_OP_TEXT, p);
        c->ops[op].len = e - p;
        c->ops[op].flags = bol ? TPL_OPF_BOL : 0;
        return 0;
    }
    while (p < e) {
        if (bol) {
            for (q = p, n = 0; q < e && n < strip && tpl__is_ws(c->src[q]); q++, n++)
                ;
            if (q == e)
                return 1;
            p = q;
        }
        nl = memchr(c->src + p, '\n', e - p);
        stop = nl != NULL ? (uint32_t)(nl - c->src) + 1 : e;
        op = add_op(c, TPL_OP_TEXT, p);
        c->ops[op].len = stop - p;
        c->ops[op].flags = bol ? TPL_OPF_BOL : 0;
        bol = nl != NULL;
        p = stop;
    }
    return 0;
}

static int push(struct emitter *e, int mode, uint32_t op, uint32_t strip)
{
    /* tpl_lex.c bounds the nesting: the stack has room */
    TPL_ASSERT(e->top < e->c->max_nesting);
    e->top++;
    e->lv[e->top].mode = mode;
    e->lv[e->top].op = op;
    e->lv[e->top].strip = strip;
    return 0;
}

static int close_tag(struct emitter *e, const struct tpl_tok *k, int bol)
{
    struct tpl_compiler *c = e->c;
    const struct level *lv = &e->lv[e->top];
    uint32_t op;

    if (lv->mode == MODE_NORMAL && bol && !k->standalone) {
        op = add_op(c, TPL_OP_TEXT, k->start);
        c->ops[op].flags = TPL_OPF_BOL;
    }
    if (lv->op != TPL_NONE)
        c->ops[lv->op].end = c->nops;
    e->top--;
    return 0;
}

/* A static partial or parent in a lambda's text: compiled at render time, when
 * the set is read-only (tpl.h), so it takes the set's template or nothing. */
static int lambda_target(struct tpl_compiler *c, uint32_t op, const struct tpl_tok *k)
{
    const struct tpl *t = tpl__set_find(c->set, c->src + k->name, k->name_len);

    if (t != NULL && t->compiled) {
        c->ops[op].name = t->index;
        return 0;
    }
    c->ops[op].name = TPL_NONE;
    if (c->set->opts.flags & TPL_SET_MISSING_PARTIAL_EMPTY)
        return 0;
    return tpl__error(c->err, c->t, k->start, TPL_E_NOT_FOUND, "partial \"%.*s\" is not in the set",
                      (int)(k->name_len > 40 ? 40 : k->name_len), c->src + k->name);
}

/* Partials and parents: a target template, or a name looked up at render. */
static int emit_include(struct emitter *e, const struct tpl_tok *k, int kind, int bol)
{
    struct tpl_compiler *c = e->c;
    uint32_t op = add_op(c, kind, k->start), strip = e->lv[e->top].strip;
    int rc = 0;

    if (k->dynamic) {
        c->ops[op].flags |= TPL_OPF_DYNAMIC;
        rc = set_name(c, op, k, 0);
    } else if (tpl__is_lambda(c->t)) {
        rc = lambda_target(c, op, k);
    } else {
        c->ops[op].name =
            tpl__set_ref(c->set, c->src + k->name, k->name_len, c->t->index, k->start);
    }
    if (k->standalone) {
        c->ops[op].flags |= TPL_OPF_STANDALONE;
        set_indent(&c->ops[op], k->ind, k->ind_len, strip);
    } else if (bol) {
        c->ops[op].flags |= TPL_OPF_BOL;
    }
    if (rc == 0 && kind == TPL_OP_PARENT)
        rc = push(e, MODE_ARGS, op, strip);
    return rc;
}

/* A block where a template takes an override (a site), with its default. */
static int emit_site(struct emitter *e, const struct tpl_tok *k, int bol)
{
    struct tpl_compiler *c = e->c;
    uint32_t op = add_op(c, TPL_OP_BLOCK, k->start), strip = e->lv[e->top].strip, p;
    int rc = set_name(c, op, k, 1);

    if (k->standalone) {
        c->ops[op].flags |= TPL_OPF_SITE_LINE;
        set_indent(&c->ops[op], k->line_end, ws_run(c, k->line_end), strip);
    } else {
        for (p = k->start; p > 0 && tpl__is_ws(c->src[p - 1]); p--)
            ;
        if (at_line_start(c, p))
            set_indent(&c->ops[op], p, k->start - p, strip);
        if (bol)
            c->ops[op].flags |= TPL_OPF_BOL;
    }
    return rc != 0 ? rc : push(e, MODE_NORMAL, op, strip);
}

/* A block inside a parent: an override. */
static int emit_arg(struct emitter *e, const struct tpl_tok *k)
{
    struct tpl_compiler *c = e->c;
    uint32_t op = add_op(c, TPL_OP_BLOCK, k->start);
    uint32_t strip = k->standalone ? ws_run(c, k->line_end) : e->lv[e->top].strip;
    int rc = set_name(c, op, k, 1);

    c->ops[op].flags = TPL_OPF_ARG;
    return rc != 0 ? rc : push(e, MODE_NORMAL, op, strip);
}

static int emit_tag(struct emitter *e, const struct tpl_tok *k, int bol)
{
    struct tpl_compiler *c = e->c;
    uint32_t op, strip = e->lv[e->top].strip;
    int rc;

    switch (k->kind) {
    case TPL_TK_COMMENT:
    case TPL_TK_DELIM: e->bol = bol; return 0;
    case TPL_TK_PARTIAL: return emit_include(e, k, TPL_OP_PARTIAL, bol);
    case TPL_TK_PARENT: return emit_include(e, k, TPL_OP_PARENT, bol);
    case TPL_TK_BLOCK: return emit_site(e, k, bol);
    }
    op = add_op(c,
                k->kind == TPL_TK_VAR       ? TPL_OP_VAR
                : k->kind == TPL_TK_RAW     ? TPL_OP_RAW
                : k->kind == TPL_TK_SECTION ? TPL_OP_SECTION
                                            : TPL_OP_INVERTED,
                k->start);
    if (bol)
        c->ops[op].flags |= TPL_OPF_BOL;
    if ((rc = set_name(c, op, k, 0)) != 0)
        return rc;
    if (k->kind == TPL_TK_VAR || k->kind == TPL_TK_RAW)
        return 0;
    c->ops[op].ind = k->end;
    c->ops[op].len = c->toks[k->match].start - k->end;
    return push(e, MODE_NORMAL, op, strip);
}

static int emit_tok(struct emitter *e, const struct tpl_tok *k)
{
    const struct level *lv = &e->lv[e->top];
    int bol = e->bol || at_line_start(e->c, k->start);

    e->bol = 0;
    if (k->kind == TPL_TK_TEXT) {
        if (k->start == k->end)
            e->bol = bol;
        else if (lv->mode == MODE_NORMAL)
            e->bol = emit_text(e->c, k->start, k->end, bol, lv->strip);
        return 0;
    }
    if (k->kind == TPL_TK_CLOSE)
        return close_tag(e, k, bol);
    if (lv->mode == MODE_ARGS && k->kind == TPL_TK_BLOCK)
        return emit_arg(e, k);
    if (lv->mode != MODE_NORMAL) {
        if (k->kind == TPL_TK_SECTION || k->kind == TPL_TK_INVERTED || k->kind == TPL_TK_PARENT ||
            k->kind == TPL_TK_BLOCK)
            return push(e, MODE_IGNORED, TPL_NONE, lv->strip);
        return 0;
    }
    return emit_tag(e, k, bol && !k->standalone);
}

int tpl__compile(struct tpl_set *set, struct tpl *t, const struct tpl_delim *start,
                 struct tpl_error *err)
{
    struct tpl_compiler c = {.set = set,
                             .t = t,
                             .src = t->src,
                             .len = t->src_len,
                             .err = err,
                             .max_nesting = set->opts.max_nesting,
                             .start = start};
    struct emitter e = {.c = &c};
    uint32_t i;
    int rc;

    if ((rc = tpl__lex(&c)) != 0)
        goto out;
    tpl__lines(&c);
    e.lv = xcalloc(c.max_nesting + 1, sizeof(*e.lv));
    e.lv[0].mode = MODE_NORMAL;
    e.lv[0].op = TPL_NONE;
    for (i = 0; i < c.ntoks && rc == 0; i++)
        rc = emit_tok(&e, &c.toks[i]);
    TPL_ASSERT(rc != 0 || e.top == 0); /* tpl_lex.c matched every open tag */
    free(e.lv);
    if (rc != 0)
        goto out;
    t->ops = c.ops;
    t->nops = c.nops;
    t->parts = c.parts;
    t->nparts = c.nparts;
    t->delims = c.delims;
    t->ndelims = c.ndelims;
    c.ops = NULL;
    c.parts = NULL;
    c.delims = NULL;
out:
    free(c.delims);
    free(c.toks);
    free(c.ops);
    free(c.parts);
    return rc;
}
