#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# mkcorpus: writes the seed inputs of fuzz_cc into corpus/. Each seed is the 12-byte
# prefix fuzz_cc.c describes (status index, method, rules, clock mode, int64) and
# "name:value" lines; a line starting with '>' is a request field. Run from anywhere;
# the output is deterministic, so re-running it only rewrites the same files.
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# Indexes into fuzz_cc.c's tables.
ST = {200: 0, 203: 1, 204: 2, 206: 3, 300: 4, 301: 5, 302: 6, 303: 7, 304: 8, 307: 9,
      308: 10, 404: 11, 405: 12, 410: 13, 414: 14, 418: 15, 500: 16, 501: 17, 503: 18}
GET, HEAD, POST = 0, 1, 2
DATE = "Date: Sun, 06 Nov 1994 08:49:37 GMT"


def seed(name, lines, status=200, method=GET, rules=0, mode=0, raw=784111777,
         request_delay=False):
    head = bytes([ST[status], method | (0x80 if request_delay else 0), rules, mode])
    head += struct.pack("<q", raw)
    body = "\n".join(lines).encode("latin-1")
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(head + body)


def main():
    os.makedirs(OUT, exist_ok=True)
    seed("cc-max-age", [DATE, "Cache-Control: max-age=60, public"])
    seed("cc-s-maxage-swr", [DATE, "Cache-Control: s-maxage=1, stale-while-revalidate=59, "
                                   "stale-if-error=600"])
    seed("cc-quoted-list", [DATE, 'Cache-Control: no-cache="Set-Cookie, X-A", max-age="30"',
                            'Cache-Control: private="a\\"b", must-revalidate'])
    seed("cc-invalid", [DATE, "Cache-Control: max-age=soon, max-age =5, =x, no-store=\"",
                        "Cache-Control: max-age=99999999999999999999"])
    seed("cdn-targeted", [DATE, "CDN-Cache-Control: max-age=600, s-maxage=700;p=1, "
                                "stale-if-error=30, private=?0, no-cache=(\"a\" \"b\")",
                          "Cache-Control: no-store"])
    seed("cdn-bad", [DATE, "CDN-Cache-Control: Max-Age=60,", "Cache-Control: max-age=100"])
    seed("cdn-types", [DATE, "CDN-Cache-Control: a=1.5, b=:aGk=:, c=tok/x:1, d=\"s\\\\\", "
                             "e=?1, max-age=-3"])
    seed("surrogate", [DATE, "Surrogate-Control: max-age=3600, stale-while-revalidate=60",
                       "Cache-Control: private, max-age=0"])
    seed("expires", [DATE, "Expires: Sun, 06 Nov 1994 08:50:37 GMT", "Expires: 0"])
    seed("expires-rfc850-asctime", ["Date: Sunday, 06-Nov-94 08:49:37 GMT",
                                    "Expires: Sun Nov  6 08:59:37 1994"])
    seed("heuristic-404", [DATE, "Last-Modified: Sat, 06 Nov 1993 08:49:37 GMT"], status=404)
    seed("heuristic-302-public", [DATE, "Cache-Control: public",
                                  "Last-Modified: Sun, 06 Nov 1994 06:49:37 GMT"], status=302)
    seed("age", [DATE, "Age: 10", "Cache-Control: max-age=60"], request_delay=True, mode=4)
    seed("vary", [DATE, "Cache-Control: max-age=60", "Vary: Accept-Encoding, accept-language",
                  "Vary: ,, Cookie ,", "Vary: *"])
    seed("vary-invalid", [DATE, "Cache-Control: max-age=60", "Vary: Accept Encoding"])
    seed("auth-public", [DATE, "Cache-Control: public, max-age=60",
                         ">Authorization: Basic dXNlcjpwYXNz"])
    seed("set-cookie-rule", [DATE, "Cache-Control: max-age=60", "Set-Cookie: a=1"], rules=1 | 8)
    seed("ignore-origin", [DATE, "Cache-Control: no-store", "Last-Modified: Sun, 06 Nov 1994 "
                           "06:49:37 GMT"], rules=4 | 8 | 0x30)
    seed("conditional", [DATE, 'ETag: W/"v1"', "Last-Modified: Sun, 06 Nov 1994 06:49:37 GMT",
                         '>If-None-Match: "x", W/"v1"',
                         ">If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"], method=HEAD)
    seed("request-directives", [DATE, "Cache-Control: max-age=60", ">Pragma: no-cache",
                                ">Cache-Control: max-stale, min-fresh=5, only-if-cached, "
                                "no-store"])
    seed("must-understand", [DATE, "Cache-Control: max-age=60, must-understand, no-store"],
         status=418)
    seed("post-invalidates", [DATE, "Cache-Control: max-age=60"], method=POST)
    seed("raw-clock", [DATE, "Cache-Control: max-age=60"], mode=1,
         raw=-0x7fffffffffffffff - 1)
    seed("date-edges", ["Date: Fri, 31 Dec 9999 23:59:60 GMT",
                        "Last-Modified: Mon, 01 Jan 0001 00:00:00 GMT"])


if __name__ == "__main__":
    main()
