/* SPDX-License-Identifier: Apache-2.0
 *
 * tpl_lines: the compiler's second pass (tpl_int.h), the spec's standalone lines.
 * A line that holds only whitespace and tags that print nothing themselves
 * (sections, inverted sections, closes, comments, delimiter changes, partials,
 * parents, blocks) is removed from the output: its leading whitespace and its
 * line ending ("\n" or "\r\n", or the end of the source) go; for a partial or
 * parent the leading whitespace becomes the indentation of every line it
 * renders.
 *
 * How many tags: one, as the spec says, except that parent tags do not count.
 * The inheritance cases ("Standalone parent", "Standalone block", "Block
 * reindentation" in ~inheritance.json) stand `{{<parent}}{{/parent}}`,
 * `{{<parent}}{{$block}}` and `{{/block}}{{/parent}}` alone on their lines, while
 * `{{$block}}{{/block}}` is inline (its line ending stays).
 *
 * Text tokens are trimmed in place; tags on standalone lines are marked, the
 * first with the line's indentation, all with where the next line starts (a
 * block's indentation is that of the line after its tag, tpl_compile.c).
 */
#include "tpl_int.h"

#include <string.h>

struct line {
    uint32_t first; /* the token where the line starts */
    uint32_t start; /* the offset where it starts */
    int blank;      /* no text but whitespace, no tag that prints */
    unsigned tags, others, parents;
};

static int prints_nothing(const struct tpl_tok *k)
{
    return k->kind != TPL_TK_VAR && k->kind != TPL_TK_RAW;
}

static int is_parent_tag(const struct tpl_tok *k)
{
    return k->kind == TPL_TK_PARENT || (k->kind == TPL_TK_CLOSE && k->closes == TPL_TK_PARENT);
}

/* s[0..n) is spaces and tabs; at a line's end a '\r' may close it. */
static int blank(const char *s, size_t n, int line_end)
{
    size_t i;

    if (line_end && n > 0 && s[n - 1] == '\r')
        n--;
    for (i = 0; i < n; i++) {
        if (!tpl__is_ws(s[i]))
            return 0;
    }
    return 1;
}

/* The line ln ends in token `last` (c->ntoks at the end of the source); the next
 * one starts at offset `after`. */
static void finish(struct tpl_compiler *c, const struct line *ln, uint32_t last, uint32_t after)
{
    uint32_t i, first_tag = TPL_NONE;

    if (!ln->blank || ln->tags == 0)
        return;
    if (!(ln->others == 1 || (ln->others == 0 && ln->parents > 0)))
        return;
    for (i = ln->first; i < c->ntoks && i <= last; i++) {
        struct tpl_tok *k = &c->toks[i];

        if (k->kind != TPL_TK_TEXT) {
            if (first_tag == TPL_NONE) {
                first_tag = i;
                k->ind = ln->start;
                k->ind_len = k->start - ln->start;
            }
            k->standalone = 1;
            k->line_end = after;
        } else if (i == ln->first) {
            k->end = ln->start > k->start ? ln->start : k->start;
        } else if (i == last) {
            k->start = after;
        } else {
            k->end = k->start;
        }
    }
}

void tpl__lines(struct tpl_compiler *c)
{
    struct line ln = {0, 0, 1, 0, 0, 0};
    const char *nl;
    uint32_t i, p, q;

    for (i = 0; i < c->ntoks; i++) {
        const struct tpl_tok *k = &c->toks[i];

        if (k->kind != TPL_TK_TEXT) {
            ln.tags++;
            if (!prints_nothing(k))
                ln.blank = 0;
            else if (is_parent_tag(k))
                ln.parents++;
            else
                ln.others++;
            continue;
        }
        p = k->start;
        while ((nl = memchr(c->src + p, '\n', k->end - p)) != NULL) {
            q = (uint32_t)(nl - c->src);
            if (!blank(c->src + p, q - p, 1))
                ln.blank = 0;
            finish(c, &ln, i, q + 1);
            ln = (struct line){i, q + 1, 1, 0, 0, 0};
            p = q + 1;
        }
        if (!blank(c->src + p, k->end - p, 0))
            ln.blank = 0;
    }
    finish(c, &ln, c->ntoks, c->len);
}
