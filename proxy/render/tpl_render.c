/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_render: runs a program (tpl_int.h) against JSON data into an evbuffer.
 *
 * All render state lives on the calling thread's stack: the context stack, the
 * indentation and the inheritance scopes are lists whose nodes are locals of the
 * recursive calls, and the output is staged in struct render. The program and
 * the data are only read, which is what makes one program safe to render from
 * many threads at once. Recursion (sections, partials, parents, blocks) is
 * bounded by max_depth, and each level is one call of run() plus a helper, a
 * few hundred bytes of stack; the ops run are counted against max_steps.
 *
 * Inheritance: a parent call pushes a scope naming its override blocks; a block
 * renders the override of the outermost scope that has one ("Multi-level
 * inheritance", "Recursion" in ~inheritance.json), else its default content.
 *
 * Lambdas (tpl.h, ~lambdas.json): the text a lambda returns is compiled into a
 * program of its own (tpl_int.h), run one level deeper with the current context
 * stack, and freed, every time the tag is met ("Multiple Calls"); a lambda that
 * returns its own tag thus stops at max_depth, and its output and ops count as
 * any other. Text without an opening delimiter is written as it is. For an
 * escaped interpolation the program's output goes to a side buffer first and is
 * escaped as a whole ("Escaping": the spec's "rendered, then interpolated"):
 * the staged output is flushed and the output's evbuffer swapped, so the cap
 * still counts from the tag's offset. Errors inside a lambda's text are told at
 * the outermost lambda tag of a real template (struct render's site).
 */
#include "tpl_int.h"

#include "util.h"

#include <event2/buffer.h>

struct indent {
    const char *s;
    uint32_t n;
    const struct indent *up; /* the indentation this one adds to */
};

struct scope {
    const struct tpl *t; /* the template holding the parent op */
    uint32_t op;
    const struct scope *outer;
};

/* Where a range of ops runs. */
struct exec {
    const struct tpl *t;
    const struct tpl_frame *ctx;
    const struct indent *ind;
    const struct scope *scope;
    /* An override starts on its block's line, whose start is already written:
     * while the output total still equals this mark, line starts are not
     * indented again (SIZE_MAX: never). */
    size_t skip_mark;
};

struct render {
    const struct tpl_render_opts *o;
    unsigned depth, max_depth;
    unsigned long steps, max_steps;
    struct tpl_error *err;
    int described; /* err already says where */
    /* The lambda tag, in a set's template, whose text is being rendered: where
     * errors inside lambda texts are told. */
    const struct tpl *site_t;
    uint32_t site_pos;
    struct tpl_out out;
};

/* lambda(): the value is data, not a lambda (neither 0, TPL_PENDING nor an
 * error). */
#define NOT_LAMBDA 2

static int run(struct render *r, const struct exec *ex, uint32_t from, uint32_t to);
static int lambda(struct render *r, const struct exec *ex, const struct tpl_op *op, const json_t *v,
                  enum tpl_escape mode);

static int write_indent(struct render *r, const struct indent *ind)
{
    int rc;

    if (ind == NULL)
        return 0;
    if ((rc = write_indent(r, ind->up)) != 0)
        return rc;
    return tpl__out(&r->out, ind->s, ind->n);
}

/* A text op; under an indentation, each line it starts after a newline is
 * indented. */
static int text(struct render *r, const struct exec *ex, const struct tpl_op *op)
{
    const char *p = ex->t->src + op->pos, *end = p + op->len, *nl;
    int rc;

    if (ex->ind == NULL)
        return tpl__out(&r->out, p, op->len);
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL && nl + 1 < end) {
        if ((rc = tpl__out(&r->out, p, (size_t)(nl + 1 - p))) != 0 ||
            (rc = write_indent(r, ex->ind)) != 0)
            return rc;
        p = nl + 1;
    }
    return tpl__out(&r->out, p, (size_t)(end - p));
}

static int lookup(struct render *r, const struct exec *ex, const struct tpl_op *op,
                  const json_t **v)
{
    return tpl__lookup(r->o, ex->t, ex->t->parts + op->name, op->nparts, ex->ctx, v);
}

static int interpolate(struct render *r, const struct exec *ex, const struct tpl_op *op)
{
    enum tpl_escape mode = op->kind == TPL_OP_VAR ? ex->t->escape : TPL_ESCAPE_NONE;
    const json_t *v;
    int rc;

    if ((rc = lookup(r, ex, op, &v)) != 0)
        return rc;
    if (r->o->lambda != NULL && json_is_object(v) &&
        (rc = lambda(r, ex, op, v, mode)) != NOT_LAMBDA)
        return rc;
    return tpl__write_value(&r->out, mode, v);
}

/* Runs [from, to) one level deeper, with ctx as the context stack. */
static int nested(struct render *r, const struct exec *ex, const struct tpl_frame *ctx,
                  uint32_t from, uint32_t to)
{
    struct exec sub = *ex;
    int rc;

    if (r->depth >= r->max_depth)
        return TPL_E_DEPTH;
    if (++r->steps > r->max_steps)
        return TPL_E_STEPS;
    sub.ctx = ctx;
    r->depth++;
    rc = run(r, &sub, from, to);
    r->depth--;
    return rc;
}

/* The delimiters in effect at offset pos of t's source; NULL: {{ }}. */
static const struct tpl_delim *delims_at(const struct tpl *t, uint32_t pos)
{
    const struct tpl_delim *d = NULL;
    uint32_t i;

    for (i = 0; i < t->ndelims && t->delims[i].pos <= pos; i++)
        d = &t->delims[i];
    return d;
}

/* Runs a lambda's program with sub, writing its output escaped for mode as a
 * whole: rendered into `side` (empty), then escaped into the output. */
static int run_escaped(struct render *r, const struct exec *sub, struct evbuffer *side,
                       enum tpl_escape mode)
{
    struct evbuffer *ev = r->out.ev;
    size_t mark = r->out.total, n;
    const char *p;
    int rc, flushed;

    if ((rc = tpl__out_flush(&r->out)) != 0)
        return rc;
    r->out.ev = side;
    rc = nested(r, sub, sub->ctx, 0, sub->t->nops);
    flushed = tpl__out_flush(&r->out);
    /* on error, what stayed staged belongs to side: drop it */
    r->out.ev = ev;
    r->out.len = 0;
    r->out.total = mark;
    if (rc != 0 || (rc = flushed) != 0)
        return rc;
    n = evbuffer_get_length(side);
    p = n > 0 ? (const char *)evbuffer_pullup(side, -1) : "";
    return p == NULL ? TPL_E_NOMEM : tpl__out_escaped(&r->out, mode, p, n);
}

/* Renders text, which the lambda of op returned, as a template (tpl.h): with
 * {{ }} for an interpolation, the delimiters of the tag for a section. */
static int expand(struct render *r, const struct exec *ex, const struct tpl_op *op,
                  struct evbuffer *text, enum tpl_escape mode)
{
    const struct tpl_delim *start = op->kind == TPL_OP_SECTION ? delims_at(ex->t, op->pos) : NULL;
    const struct tpl *site_t = r->site_t;
    uint32_t site_pos = r->site_pos;
    size_t n = evbuffer_get_length(text);
    char file[] = "lambda text";
    struct tpl_error cerr = {0, ""};
    struct tpl prog;
    struct exec sub;
    const char *p;
    int rc;

    if (!tpl__is_lambda(ex->t)) {
        r->site_t = ex->t;
        r->site_pos = op->pos;
    }
    if (n > TPL_MAX_SOURCE) {
        r->described = 1;
        rc = tpl__error(r->err, r->site_t, r->site_pos, TPL_E_LAMBDA,
                        "lambda text larger than %u bytes", TPL_MAX_SOURCE);
        goto out;
    }
    p = n > 0 ? (const char *)evbuffer_pullup(text, -1) : "";
    if (p == NULL) {
        rc = TPL_E_NOMEM;
        goto out;
    }
    /* no tag: the program would be this text; under an indentation the
     * program's text ops indent it (a section) */
    if (memmem(p, n, start != NULL ? start->otag : "{{", start != NULL ? start->olen : 2) == NULL &&
        (op->kind != TPL_OP_SECTION || ex->ind == NULL)) {
        rc = tpl__out_escaped(&r->out, mode, p, n);
        goto out;
    }
    memset(&prog, 0, sizeof(prog));
    prog.magic = TPL_MAGIC;
    prog.index = TPL_NONE;
    prog.set = ex->t->set;
    prog.name = file;
    prog.name_len = sizeof(file) - 1;
    prog.file = file;
    prog.escape = ex->t->escape;
    prog.src = xmalloc(n + 1);
    evbuffer_remove(text, prog.src, n);
    prog.src[n] = '\0';
    prog.src_len = (uint32_t)n;
    if ((rc = tpl__compile(prog.set, &prog, start, &cerr)) != 0) {
        r->described = 1;
        rc = tpl__error(r->err, r->site_t, r->site_pos, TPL_E_LAMBDA, "%s", cerr.msg);
        tpl__free_program(&prog);
        goto out;
    }
    prog.compiled = 1;
    /* a section's text renders in its place, as its body would; an
     * interpolation's is a value: no indentation */
    if (op->kind == TPL_OP_SECTION)
        sub = *ex;
    else
        sub = (struct exec){NULL, ex->ctx, NULL, ex->scope, SIZE_MAX};
    sub.t = &prog;
    if (mode == TPL_ESCAPE_NONE)
        rc = nested(r, &sub, ex->ctx, 0, prog.nops);
    else
        rc = run_escaped(r, &sub, text, mode);
    tpl__free_program(&prog);
out:
    r->site_t = site_t;
    r->site_pos = site_pos;
    return rc;
}

/* Offers v, an object met by op, to the lambda callback (tpl.h). Returns
 * NOT_LAMBDA when it is data, 0 when it was a lambda and its text is rendered,
 * TPL_PENDING, or an error. */
static int lambda(struct render *r, const struct exec *ex, const struct tpl_op *op, const json_t *v,
                  enum tpl_escape mode)
{
    int is_section = op->kind == TPL_OP_SECTION;
    struct evbuffer *text = evbuffer_new();
    int rc;

    if (text == NULL)
        return TPL_E_NOMEM;
    rc = r->o->lambda(r->o->lambda_arg, v, is_section ? ex->t->src + op->ind : NULL,
                      is_section ? op->len : 0, text);
    if (rc > 0)
        rc = expand(r, ex, op, text, mode);
    else
        rc = rc < 0 ? TPL_E_LAMBDA : NOT_LAMBDA;
    evbuffer_free(text);
    return rc;
}

static int section(struct render *r, const struct exec *ex, uint32_t i)
{
    const struct tpl_op *op = &ex->t->ops[i];
    struct tpl_frame frame = {NULL, ex->ctx};
    const json_t *v;
    size_t k, n;
    int rc;

    if ((rc = lookup(r, ex, op, &v)) != 0)
        return rc;
    if (op->kind == TPL_OP_INVERTED)
        return tpl__truthy(v) ? 0 : nested(r, ex, ex->ctx, i + 1, op->end);
    if (!tpl__truthy(v))
        return 0;
    if (r->o->lambda != NULL && json_is_object(v) &&
        (rc = lambda(r, ex, op, v, TPL_ESCAPE_NONE)) != NOT_LAMBDA)
        return rc;
    if (!json_is_array(v)) {
        frame.v = v;
        return nested(r, ex, &frame, i + 1, op->end);
    }
    n = json_array_size(v);
    for (k = 0; k < n && rc == 0; k++) {
        frame.v = json_array_get(v, k);
        rc = nested(r, ex, &frame, i + 1, op->end);
    }
    return rc;
}

/* The template a partial or parent op names, or NULL (a dynamic name that
 * resolves to no template in the set renders nothing). */
static int target(struct render *r, const struct exec *ex, const struct tpl_op *op,
                  const struct tpl **out)
{
    const json_t *v;
    int rc;

    *out = NULL;
    if (!(op->flags & TPL_OPF_DYNAMIC)) {
        *out = op->name != TPL_NONE ? ex->t->set->tpls[op->name] : NULL;
        return 0;
    }
    if ((rc = lookup(r, ex, op, &v)) != 0 || !json_is_string(v))
        return rc;
    *out = tpl__set_find(ex->t->set, json_string_value(v), json_string_length(v));
    return 0;
}

/* {{>name}} and {{<name}}...{{/name}}. */
static int include(struct render *r, const struct exec *ex, uint32_t i)
{
    const struct tpl_op *op = &ex->t->ops[i];
    struct exec sub = {NULL, ex->ctx, NULL, ex->scope, ex->skip_mark};
    struct indent ind = {ex->t->src + op->ind, op->len, ex->ind};
    struct scope scope = {ex->t, i, ex->scope};
    int rc;

    if ((rc = target(r, ex, op, &sub.t)) != 0 || sub.t == NULL)
        return rc;
    if (op->flags & TPL_OPF_STANDALONE)
        sub.ind = op->len > 0 ? &ind : ex->ind;
    if (op->kind == TPL_OP_PARENT)
        sub.scope = &scope;
    return nested(r, &sub, ex->ctx, 0, sub.t->nops);
}

/* The override of block name for the outermost scope giving one. */
static int find_override(const struct scope *s, const char *name, uint32_t len,
                         const struct tpl **ot, uint32_t *oi)
{
    const struct tpl_part *part;
    uint32_t j, end;
    int found = 0;

    for (; s != NULL; s = s->outer) {
        end = s->t->ops[s->op].end;
        for (j = s->op + 1; j < end; j = s->t->ops[j].end) {
            part = &s->t->parts[s->t->ops[j].name];
            if (part->len == len && memcmp(s->t->src + part->off, name, len) == 0) {
                *ot = s->t;
                *oi = j;
                found = 1;
                break;
            }
        }
    }
    return found;
}

/* {{$name}}: the override, moved to this block's indentation, or the default. */
static int block(struct render *r, const struct exec *ex, uint32_t i)
{
    const struct tpl_op *op = &ex->t->ops[i];
    const struct tpl_part *name = &ex->t->parts[op->name];
    struct indent ind = {ex->t->src + op->ind, op->len, ex->ind};
    struct exec sub = *ex;
    const struct tpl *ot;
    uint32_t oi;
    int rc;

    if (!find_override(ex->scope, ex->t->src + name->off, name->len, &ot, &oi))
        return nested(r, ex, ex->ctx, i + 1, op->end);
    if (ot->ops[oi].end == oi + 1)
        return 0;
    sub.t = ot;
    if (op->len > 0)
        sub.ind = &ind;
    if ((op->flags & TPL_OPF_SITE_LINE) && (rc = write_indent(r, sub.ind)) != 0)
        return rc;
    sub.skip_mark = r->out.total;
    return nested(r, &sub, ex->ctx, oi + 1, ot->ops[oi].end);
}

static void describe(struct render *r, const struct tpl *t, uint32_t pos, int rc)
{
    const char *in = "";

    r->described = 1;
    if (tpl__is_lambda(t)) {
        t = r->site_t;
        pos = r->site_pos;
        in = " (in a lambda's text)";
    }
    switch (rc) {
    case TPL_E_DEPTH:
        tpl__error(r->err, t, pos, rc, "render nesting deeper than %u levels%s", r->max_depth, in);
        break;
    case TPL_E_STEPS:
        tpl__error(r->err, t, pos, rc, "render ran more than %lu ops%s", r->max_steps, in);
        break;
    case TPL_E_OUTPUT:
        tpl__error(r->err, t, pos, rc, "output larger than %zu bytes%s", r->out.cap, in);
        break;
    default: tpl__error(r->err, t, pos, rc, "%s%s", tpl_strerror(rc), in); break;
    }
}

static int run(struct render *r, const struct exec *ex, uint32_t from, uint32_t to)
{
    const struct tpl *t = ex->t;
    uint32_t i = from;
    int rc = 0;

    while (i < to) {
        const struct tpl_op *op = &t->ops[i];

        if (++r->steps > r->max_steps) {
            rc = TPL_E_STEPS;
            break;
        }
        if ((op->flags & TPL_OPF_BOL) && ex->ind != NULL && r->out.total != ex->skip_mark &&
            (rc = write_indent(r, ex->ind)) != 0)
            break;
        switch (op->kind) {
        case TPL_OP_TEXT: rc = text(r, ex, op); break;
        case TPL_OP_VAR:
        case TPL_OP_RAW: rc = interpolate(r, ex, op); break;
        case TPL_OP_SECTION:
        case TPL_OP_INVERTED: rc = section(r, ex, i); break;
        case TPL_OP_PARTIAL:
        case TPL_OP_PARENT: rc = include(r, ex, i); break;
        case TPL_OP_BLOCK: rc = block(r, ex, i); break;
        default: TPL_ASSERT(!"unknown op"); break;
        }
        if (rc != 0)
            break;
        i = op->end;
    }
    if (rc < 0 && !r->described)
        describe(r, t, t->ops[i].pos, rc);
    return rc;
}

int tpl_render(const struct tpl *t, const json_t *data, const struct tpl_render_opts *opts,
               struct evbuffer *out, struct tpl_error *err)
{
    static const struct tpl_render_opts defaults;
    struct tpl_frame root = {data, NULL};
    struct exec ex = {t, &root, NULL, NULL, SIZE_MAX};
    struct render r;
    int rc, flushed;

    TPL_ASSERT(t != NULL && t->magic == TPL_MAGIC && t->compiled && out != NULL);
    r.o = opts != NULL ? opts : &defaults;
    r.depth = 0;
    r.max_depth = r.o->max_depth ? r.o->max_depth : TPL_DEFAULT_MAX_DEPTH;
    r.steps = 0;
    r.max_steps = r.o->max_steps ? r.o->max_steps : TPL_DEFAULT_MAX_STEPS;
    r.err = err;
    r.described = 0;
    r.site_t = t;
    r.site_pos = TPL_NONE;
    r.out.ev = out;
    r.out.len = 0;
    r.out.total = 0;
    r.out.cap = r.o->max_output ? r.o->max_output : TPL_DEFAULT_MAX_OUTPUT;
    rc = run(&r, &ex, 0, t->nops);
    flushed = tpl__out_flush(&r.out);
    if (rc == 0 && flushed != 0)
        rc = tpl__error(err, t, TPL_NONE, flushed, "%s", tpl_strerror(flushed));
    if (rc >= 0 && err != NULL) {
        err->code = rc;
        err->msg[0] = '\0';
    }
    return rc;
}
