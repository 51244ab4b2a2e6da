#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# mkcorpus: writes the seed inputs of fuzz_tpl into corpus/: every third template
# of the official Mustache spec (../shared/conformance/mustache next to the repo,
# lambdas excepted) and a few templates of our own that use fuzz_tpl.c's fixed
# partials, errors and options. Each seed is fuzz_tpl.c's option byte and the
# template. Deterministic: re-running rewrites the same files.
import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
SPEC = os.path.join(HERE, "..", "..", "..", "..", "shared", "conformance", "mustache")

HTML, JSON, NONE = 0, 1, 2
MISSING_EMPTY, PENDING, SMALL, NEST6 = 0x04, 0x08, 0x10, 0x20

OWN = {
    "own-recursive-partial": (HTML, "<ul>{{>p1}}</ul>\n"),
    "own-parent-blocks": (HTML, "{{<p2}}\n  {{$title}}\n    <h1>{{name}}</h1>\n  {{/title}}\n{{/p2}}\n"),
    "own-dynamic": (HTML, "{{#list}}{{>*dyn}}{{/list}} {{>*name}}"),
    "own-json": (JSON, "{\"name\": \"{{name}}\", \"s\": \"{{s}}\", \"obj\": {{{obj}}}, \"n\": {{n}}}"),
    "own-text": (NONE, "{{#list}}{{.}},{{/list}}\n{{obj.a.b}} {{list.2.name}} {{r}} {{t}} {{z}}"),
    "own-pending": (HTML | PENDING, "<nav>{{#list}}{{.}}{{/list}}</nav>{{#pend}}{{x}}{{/pend}}"),
    "own-small-limits": (HTML | SMALL, "{{#kids}}{{>p1}}{{>p1}}{{>p1}}{{/kids}}" * 8),
    "own-nesting": (HTML | NEST6, "{{#a}}{{#b}}{{#c}}{{#d}}{{#e}}{{#f}}{{#g}}x{{/g}}{{/f}}{{/e}}{{/d}}{{/c}}{{/b}}{{/a}}"),
    "own-missing-partial": (HTML, "a\n  {{>nope}}\n"),
    "own-missing-empty": (HTML | MISSING_EMPTY, "a\n  {{>nope}}\n{{<nope}}{{$x}}y{{/x}}{{/nope}}"),
    "own-unclosed": (HTML, "{{#list}}\n{{^empty}}\n{{/list}}"),
    "own-delims": (HTML, "{{=<% %>=}}<%name%> <%{name}%> <%={{ }}=%>{{&name}}"),
    "own-crlf-standalone": (HTML, "a\r\n  {{#t}}\r\n  {{>p1}}\r\n  {{/t}}\r\nb"),
    "own-comment-tags": (HTML, "{{! {{#x}} }}{{!\n}}\n  {{! standalone }}\n"),
    "own-self-recursion": (HTML, "x{{>main}}"),
    "own-exponential": (HTML, "{{#list}}{{#list}}{{#list}}{{#list}}{{>p1}}{{>p1}}{{/list}}{{/list}}{{/list}}{{/list}}"),
}


def write(name, flags, text):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([flags]) + text.encode("utf-8"))


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for path in sorted(glob.glob(os.path.join(SPEC, "*.json"))):
        base = os.path.basename(path)
        if base == "~lambdas.json":
            continue
        with open(path, encoding="utf-8") as f:
            tests = json.load(f)["tests"]
        for i, case in enumerate(tests):
            if i % 3 != 0:
                continue
            slug = re.sub(r"[^a-z0-9]+", "-", case["name"].lower()).strip("-")
            write("spec-%s-%s" % (base.strip("~").split(".")[0], slug), HTML, case["template"])
            n += 1
    for name, (flags, text) in sorted(OWN.items()):
        write(name, flags, text)
        n += 1
    print("mkcorpus: %d seeds in %s" % (n, OUT))


if __name__ == "__main__":
    main()
