#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Writes the seed corpus of fuzz_h2 into tests/fuzz/h2/corpus/: HTTP/2 frames as a
# client sends them after the connection preface (fuzz_h2 adds the preface). Header
# blocks are HPACK without Huffman coding and without the dynamic table, so that
# the seeds stay readable in a hex dump and the fuzzer's mutations of a field stay
# local. Run it again after changing a seed; the files are committed.
#
#   tests/fuzz/h2/mkcorpus.py
import os
import struct

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype, flags, stream, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream) + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def string(s):
    # HPACK string literal, no Huffman; lengths below 127 only.
    b = s.encode() if isinstance(s, str) else s
    assert len(b) < 127
    return bytes([len(b)]) + b


def literal(name, value):
    # Literal header field without indexing, new name (RFC 7541 6.2.2).
    return b"\x00" + string(name) + string(value)


def literal_long(name, value):
    # The same with a value of 127 bytes or more (7-bit prefix integer).
    b = value.encode()
    n = len(b) - 127
    enc = bytearray([0x7F])
    while n >= 128:
        enc.append((n % 128) | 0x80)
        n //= 128
    enc.append(n)
    return b"\x00" + string(name) + bytes(enc) + b


def request(method="GET", path="/", authority="localhost", extra=()):
    block = b""
    static_methods = {"GET": b"\x82", "POST": b"\x83"}
    block += static_methods.get(method) or (b"\x02" + string(method))  # :method, name index 2
    block += b"\x86"  # :scheme http
    block += b"\x84" if path == "/" else b"\x04" + string(path)  # :path, name index 4
    if authority is not None:
        block += b"\x01" + string(authority)  # :authority, name index 1
    for name, value in extra:
        block += literal(name, value)
    return block


def headers(stream, block, end_stream=True, end_headers=True):
    flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, stream, block)


def data(stream, payload, end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


def rst(stream, code):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def window_update(stream, inc):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", inc))


S0 = settings()  # every client starts with its SETTINGS (RFC 9113 3.4)

SEEDS = {
    "settings-params": settings((1, 4096), (2, 0), (3, 100), (4, 65535), (5, 16384), (6, 8192))
    + settings(ack=True),
    "get-root": S0 + headers(1, request()),
    "get-up-refused": S0 + headers(1, request(path="/up/x")),
    "three-streams": S0 + headers(1, request(path="/a?q=1")) + headers(3, request(path="/up/b"))
    + headers(5, request(method="HEAD", path="/o/h")),
    "local-answers": S0 + headers(1, request(method="OPTIONS", path="*"))
    + headers(3, request(method="TRACE"))
    + headers(5, b"\x02" + string("CONNECT") + b"\x01" + string("example.com:443")),
    "absolute-form": S0 + headers(1, request(path="http://user@example.com/up/x"))
    + headers(3, request(path="https://example.com?q")) + headers(5, request(path="/o/bad")),
    "headers-continuation": S0
    + headers(1, request(path="/o/c", extra=[("user-agent", "fuzz"), ("via", "1.1 edge")]),
              end_headers=False)
    + frame(CONTINUATION, END_HEADERS, 1, literal("referer", "http://r/") + literal("x-a", "b")),
    "post-data-cl": S0
    + headers(1, request(method="POST", path="/o/p", extra=[("content-length", "5")]), end_stream=False)
    + data(1, b"hello", end_stream=True),
    "post-data-chunked": S0
    + headers(1, request(method="POST", path="/up/c"), end_stream=False)
    + data(1, b"one") + data(1, b"two") + data(1, b"", end_stream=True),
    "post-404-data": S0
    + headers(1, request(method="POST", path="/nope", extra=[("content-length", "3")]), end_stream=False)
    + data(1, b"abc", end_stream=True),
    "post-too-large": S0
    + headers(1, request(method="POST", path="/up/big", extra=[("content-length", "1000000")]),
              end_stream=False)
    + data(1, b"x" * 64),
    "trailers": S0
    + headers(1, request(method="POST", path="/o/chunked", extra=[("te", "trailers")]),
              end_stream=False)
    + data(1, b"body") + headers(1, literal("x-trailer", "1")),
    "rst-stream": S0
    + headers(1, request(method="POST", path="/up/r"), end_stream=False) + rst(1, 8),
    "rapid-reset": S0
    + b"".join(headers(i, request(path="/%s/%d" % ("o" if i % 3 else "up", i))) + rst(i, 8)
              for i in range(1, 60, 2)),
    "ping": S0 + frame(PING, 0, 0, b"12345678") + frame(PING, ACK, 0, b"abcdefgh"),
    "window-update": S0 + window_update(0, 65536) + headers(1, request(path="/o/big"))
    + window_update(1, 1000) + rst(1, 8),
    "zero-window": settings((4, 0)) + headers(1, request()) + headers(3, request(path="/o/big"))
    + window_update(1, 5) + window_update(0, 100),
    "goaway": S0 + headers(1, request(path="/o/close")) + frame(GOAWAY, 0, 0, struct.pack(">II", 1, 0) + b"bye"),
    "priority": S0 + frame(PRIORITY, 0, 3, struct.pack(">IB", 1, 15))
    + frame(HEADERS, END_STREAM | END_HEADERS | PRIO, 1,
            struct.pack(">IB", 0, 200) + request(path="/o/204"))
    + frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 5, b"\x03" + request(path="/o/1xx") + b"\0\0\0"),
    "too-many-headers": S0
    + headers(1, request(extra=[("x-h%d" % i, "v") for i in range(20)])),
    "header-too-large": S0 + headers(1, request(extra=[]) + literal_long("x-big", "a" * 1100)),
    "no-method": S0 + headers(1, b"\x86\x84\x01" + string("localhost")),
    "bad-settings-length": S0 + frame(SETTINGS, 0, 0, b"\0\x04\0\0\0"),
    "bad-even-stream": S0 + headers(2, request()),
    "bad-data-stream0": S0 + data(0, b"x"),
    "bad-hpack-index": S0 + headers(1, b"\xff\xff\xff\xff\x0f"),
    "bad-window-overflow": S0 + window_update(0, 0x7FFFFFFF) + window_update(0, 0x7FFFFFFF),
    "bad-fields": S0 + headers(1, request(extra=[("X-Upper", "v")]))
    + headers(3, request(extra=[("connection", "keep-alive")])) + headers(5, request()),
    "unknown-frame-type": S0 + frame(0xFA, 0xFF, 0, b"ext") + headers(1, request()),
    "truncated": S0 + headers(1, request())[:12],
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "corpus")
    os.makedirs(out, exist_ok=True)
    for name, blob in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)
    print("mkcorpus: %d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
