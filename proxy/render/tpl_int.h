/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_int: the template engine's own types, shared by its files and by nothing
 * else.
 *
 * A compiled template (a program) is its source text, kept whole as the one text
 * block every offset points into, a flat array of ops and a flat array of name
 * parts. Ops come in source order; an op with a body (section, inverted section,
 * parent, block) is followed by the ops of its body and records in `end` the
 * index just past them, so the body of op i is [i + 1, ops[i].end). Text ops and
 * names are (offset, length) slices of the source: compiling never copies text.
 * Dotted names are split at compile time into parts[name .. name + nparts).
 *
 * A lambda's text (tpl.h, tpl_lambda_cb) compiles at render time into a program
 * of its own, on the rendering thread's stack, that belongs to no set: its index
 * is TPL_NONE (tpl__is_lambda), it references the set's templates without ever
 * adding to the set, and it is freed as soon as it has run (tpl_render.c).
 *
 * Compiling runs three passes over the source (tpl_compile.c):
 *   tpl_lex.c    tokens: text runs and tags, delimiter changes applied, open and
 *                close tags matched;
 *   tpl_lines.c  the spec's standalone lines: trims their whitespace and newline
 *                and records their indentation;
 *   tpl_compile.c  ops, with line starts marked for partial indentation.
 */
#ifndef TESSERA_TPL_INT_H
#define TESSERA_TPL_INT_H

#include "tpl.h"

#include <stdint.h>
#include <string.h>

#define TPL_MAGIC 0x74706c70u      /* "tplp" */
#define TPL_SET_MAGIC 0x74706c73u  /* "tpls" */
#define TPL_MAX_SOURCE (64u << 20) /* bytes of one template: offsets are 32-bit */
#define TPL_MAX_DELIM 16           /* bytes of a custom delimiter */
#define TPL_MAX_PARTS 255          /* parts of a dotted name */
#define TPL_NONE UINT32_MAX

/* Invariants and API misuse: compiled in whatever NDEBUG says (STYLE.md). */
#define TPL_ASSERT(c) ((c) ? (void)0 : tpl__assert_fail(#c, __FILE__, __LINE__))
__attribute__((noreturn)) void tpl__assert_fail(const char *expr, const char *file, int line);

enum tpl_op_kind {
    TPL_OP_TEXT,     /* pos, len: text */
    TPL_OP_VAR,      /* name: escaped interpolation */
    TPL_OP_RAW,      /* name: {{{name}}}, {{&name}} */
    TPL_OP_SECTION,  /* name, end; ind, len: the raw body text (for lambdas) */
    TPL_OP_INVERTED, /* name, end */
    TPL_OP_PARTIAL,  /* name: target template index (TPL_NONE: nothing, in a lambda's
                      * text), or name parts when DYNAMIC */
    TPL_OP_PARENT,   /* as PARTIAL, end: its body holds only ARG blocks */
    TPL_OP_BLOCK,    /* name (one part), end: default content or, with ARG, override */
};

#define TPL_OPF_BOL 0x01        /* starts a line: write the indentation first */
#define TPL_OPF_STANDALONE 0x02 /* partial, parent: indent by [ind, ind + len) */
#define TPL_OPF_DYNAMIC 0x04    /* partial, parent: the name is a data name */
#define TPL_OPF_ARG 0x08        /* block: an override given to a parent */
#define TPL_OPF_SITE_LINE 0x10  /* block: its open tag stands alone on its line */

struct tpl_op {
    uint8_t kind;
    uint8_t flags;
    uint16_t nparts; /* name parts; 0 for the implicit iterator "." */
    uint32_t pos;    /* text: its offset; tags: the offset of the tag (messages) */
    uint32_t len;    /* text: its length; otherwise the length at ind */
    uint32_t ind;    /* partial, parent, block: indentation offset; section: body */
    uint32_t name;   /* first name part, or target template index */
    uint32_t end;    /* ops with a body: index past the body */
};

struct tpl_part {
    uint32_t off, len;
};

/* The delimiters in effect from offset pos of a source on: tpl_lex.c records one
 * per delimiter change, and one at 0 when a lambda's text starts with those of
 * its section; none means {{ }} throughout. A lambda section's text compiles
 * with the delimiters in effect at its tag (tpl_render.c). */
struct tpl_delim {
    uint32_t pos;
    uint8_t olen, clen;
    char otag[TPL_MAX_DELIM], ctag[TPL_MAX_DELIM];
};

struct tpl {
    unsigned magic;
    uint32_t index; /* in set->tpls; TPL_NONE: a lambda's text */
    struct tpl_set *set;
    char *name;
    size_t name_len;
    char *file;
    enum tpl_escape escape;
    char *src; /* the text block */
    uint32_t src_len;
    struct tpl_op *ops;
    uint32_t nops;
    struct tpl_part *parts;
    uint32_t nparts;
    struct tpl_delim *delims; /* in source order; NULL when ndelims is 0 */
    uint32_t ndelims;
    int compiled;
    uint32_t ref_by, ref_pos; /* first referencing template and tag, for messages */
};

struct tpl_set {
    unsigned magic;
    struct tpl_set_opts opts;
    struct tpl **tpls;
    uint32_t ntpls, cap;
    uint32_t *table; /* open addressing: index + 1, 0 when empty */
    uint32_t table_cap;
};

static inline int tpl__is_lambda(const struct tpl *t)
{
    return t->index == TPL_NONE;
}

/* tpl_set.c */

/* Frees what compiling t allocated (source, ops, parts, delimiters), not t. */
void tpl__free_program(struct tpl *t);

/* The index of the template called name in set, adding a not yet compiled entry
 * (referenced by template `by` at `pos`) when there is none. */
uint32_t tpl__set_ref(struct tpl_set *set, const char *name, size_t len, uint32_t by, uint32_t pos);
const struct tpl *tpl__set_find(const struct tpl_set *set, const char *name, size_t len);

/* The 1-based line and column (in bytes) of offset pos in t's source. */
void tpl__line_col(const struct tpl *t, uint32_t pos, unsigned *line, unsigned *col);
/* Fills err with "file:line:col: " and the message, for t's source at pos; with
 * pos TPL_NONE, "file: " only. Returns code. */
int tpl__error(struct tpl_error *err, const struct tpl *t, uint32_t pos, int code, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

/* tpl_compile.c: compiles t->src into t->ops, t->parts and t->delims, lexing
 * from the delimiters `start` (NULL: {{ }}). For a lambda's text
 * (tpl__is_lambda) static partials and parents resolve to the set's templates as
 * they are, read only: one the set lacks renders nothing with
 * TPL_SET_MISSING_PARTIAL_EMPTY, else is TPL_E_NOT_FOUND. */
int tpl__compile(struct tpl_set *set, struct tpl *t, const struct tpl_delim *start,
                 struct tpl_error *err);

/* The compiler's passes and their shared state. */
enum tpl_tok_kind {
    TPL_TK_TEXT,
    TPL_TK_VAR,
    TPL_TK_RAW,
    TPL_TK_SECTION,
    TPL_TK_INVERTED,
    TPL_TK_CLOSE,
    TPL_TK_PARTIAL,
    TPL_TK_PARENT,
    TPL_TK_BLOCK,
    TPL_TK_COMMENT,
    TPL_TK_DELIM,
};

struct tpl_tok {
    uint8_t kind;
    uint8_t dynamic;         /* partial, parent (and their close): the name began with '*' */
    uint8_t closes;          /* close: the kind of the tag it closes */
    uint8_t standalone;      /* alone on its line (tpl_lines.c) */
    uint32_t start, end;     /* text: its bytes; tags: the whole tag */
    uint32_t name, name_len; /* tags: the trimmed name, without '*' */
    uint32_t match;          /* open and close tags: the other one */
    uint32_t ind, ind_len;   /* standalone: the line's indentation */
    uint32_t line_end;       /* standalone: where the next line starts */
};

struct tpl_compiler {
    struct tpl_set *set;
    struct tpl *t;
    const char *src;
    uint32_t len;
    struct tpl_error *err;
    unsigned max_nesting;
    const struct tpl_delim *start; /* NULL: {{ }} */
    struct tpl_delim *delims;
    uint32_t ndelims, delims_cap;
    struct tpl_tok *toks;
    uint32_t ntoks, toks_cap;
    struct tpl_op *ops;
    uint32_t nops, ops_cap;
    struct tpl_part *parts;
    uint32_t nparts, parts_cap;
};

int tpl__lex(struct tpl_compiler *c);    /* tpl_lex.c */
void tpl__lines(struct tpl_compiler *c); /* tpl_lines.c */

static inline int tpl__is_ws(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* tpl_escape.c: the render output, staged in chunks and capped. */
#define TPL_OUT_CHUNK 8192

struct tpl_out {
    struct evbuffer *ev;
    size_t len;   /* staged in buf */
    size_t total; /* accepted so far, staged or not */
    size_t cap;
    char buf[TPL_OUT_CHUNK];
};

int tpl__out_slow(struct tpl_out *o, const char *p, size_t n);
int tpl__out_flush(struct tpl_out *o);
/* Writes p[0..n) escaped for mode. */
int tpl__out_escaped(struct tpl_out *o, enum tpl_escape mode, const char *p, size_t n);
/* Writes p[0..n) as JSON string content (no quotes), then escaped for outer. */
int tpl__out_json_string(struct tpl_out *o, enum tpl_escape outer, const char *p, size_t n);

static inline int tpl__out(struct tpl_out *o, const char *p, size_t n)
{
    if (n <= TPL_OUT_CHUNK - o->len && n <= o->cap - o->total) {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
        o->total += n;
        return 0;
    }
    return tpl__out_slow(o, p, n);
}

/* tpl_data.c: the data side of rendering. */

/* A context stack frame, innermost first; the last one holds the root. */
struct tpl_frame {
    const json_t *v;
    const struct tpl_frame *up;
};

/* Resolves the dotted name parts[0..n) of t against ctx (n == 0: the top
 * frame). Returns 0 with *out the value or NULL, or TPL_PENDING. */
int tpl__lookup(const struct tpl_render_opts *o, const struct tpl *t, const struct tpl_part *parts,
                unsigned n, const struct tpl_frame *ctx, const json_t **out);
/* The spec's "truthy", as JavaScript's: false, null, 0, "" and [] are falsey. */
int tpl__truthy(const json_t *v);
/* Writes v as text, escaped for mode: strings as they are, numbers in their
 * shortest exact form, true/false, null as nothing, arrays and objects as
 * compact JSON. */
int tpl__write_value(struct tpl_out *o, enum tpl_escape mode, const json_t *v);

#endif
