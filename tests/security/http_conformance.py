"""Issue 12, item 10 (HTTP): RFC 9112 framing, Host and Expect on a real tickd, over raw sockets.

Before the fix, `Transfer-Encoding: xchunked` (or `chunked, identity`) was ignored: the request
was answered 200 and what a proxy would have taken for its body was run as a second request
(request smuggling). HTTP/1.1 without Host was answered 200, and `Expect: 100-continue` waited
for a body the client holds back until the deadline. Now: 400 (or 417, 501) with a text saying
what was wrong, the connection closed, and 100 Continue before the body."""
import socket

from tickd_rig import rig
from tickd_rig.util import check

TIMEOUT = 5  # per read; the old server stalled 10 s on Expect


def connect(t):
    s = socket.create_connection(("127.0.0.1", t.port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def read_response(s, buf):
    """(status, headers, body, rest of buf), or None when the connection ends first."""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None
        if not chunk:
            return None
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return status, headers, buf[:length].decode("utf-8", "replace"), buf[length:]


def responses(s):
    """Every response the server sends until it closes the connection (or stops talking)."""
    out, buf = [], b""
    while True:
        r = read_response(s, buf)
        if r is None:
            return out
        out.append(r[:3])
        buf = r[3]


def closed(s):
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test(r):
    t = r.start_tickd()
    # Smuggling: the second request hides where a proxy would see the first one's body.
    smuggled = b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
    for framing in (b"Transfer-Encoding: xchunked\r\n", b"Transfer-Encoding: chunked, identity\r\n",
                    b"Transfer-Encoding: xchunked\r\nContent-Length: %d\r\n" % len(smuggled),
                    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"):
        with connect(t) as s:
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + smuggled)
            got = responses(s)
            check(len(got) == 1 and got[0][0] == 400 and "Transfer-Encoding" in got[0][2]
                  and got[0][1].get("connection") == "close",
                  "%r: one 400 naming Transfer-Encoding, then the connection closed" % framing,
                  [(st, b) for st, _, b in got])

    # Host.
    for request, what in ((b"GET /healthz HTTP/1.1\r\n\r\n", "without a Host header"),
                          (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "more than one Host")):
        with connect(t) as s:
            s.sendall(request)
            got = responses(s)
            check(len(got) == 1 and got[0][0] == 400 and what in got[0][2],
                  "400 saying '%s', then closed" % what, [(st, b) for st, _, b in got])

    # Expect: 100-continue on the API, body held back until the 100 arrives.
    with connect(t) as s:
        s.sendall(b"POST /v1/regions/nope/trigger HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 2\r\n\r\n")
        first = read_response(s, b"")
        check(first is not None and first[0] == 100, "100 Continue before the body is sent",
              first and first[:3])
        s.sendall(b"{}")
        final = read_response(s, first[3])
        check(final is not None and final[0] >= 200, "a final answer once the body came",
              final and final[:3])
    # An expectation nobody can meet.
    with connect(t) as s:
        s.sendall(b"POST /v1/regions HTTP/1.1\r\nHost: x\r\nExpect: fast\r\nContent-Length: 2\r\n\r\n{}")
        got = responses(s)
        check(len(got) == 1 and got[0][0] == 417 and "100-continue" in got[0][2],
              "417 naming what is supported, then closed", [(st, b) for st, _, b in got])

    # Still serving, and nothing smuggled reached a handler.
    status, body, _ = t.get("/healthz")
    check(status == 200, "/healthz still answers", (status, body))
    check(t.alive(), "tickd still running", t.proc.returncode)


rig.main(test)
