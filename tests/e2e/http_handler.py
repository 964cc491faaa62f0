"""The `http` handler against a real HTTP peer (a threaded http.server in this test, on a random
loopback port, that records every request) and one tickd, real PostgreSQL. Every run here is a
manual one (`tickd region trigger --wait`): the regions' cron never fires during the test.

- conditional: the second tick of /etag sends If-None-Match "v1" and records not_modified (304);
  http_state keeps the URL template and the ETag;
- retry: 429 with Retry-After 2 then 200 ends `ok` at attempt 2, the second request at least 2 s
  after the first (max_attempts 3, retry_backoff_ms 100: the peer's wait wins);
- permanent: 404 ends `failed` at attempt 1 although max_attempts is 3 (one request); a 302 not
  followed too; 500 is retried until max_attempts;
- timeouts: /hang (10 s) under the column's timeout_ms 1000, and under the region's timeout_ms
  1000, ends `failed`, timed out, within seconds;
- redirects: followed when asked; a redirect to a host outside HTTP_ALLOWED_HOSTS is refused
  without calling it; a column naming such a host makes the region invalid in /status;
- templates and secrets: the peer receives the region code, id, attempt, instant and the env
  secret (header and URL query); the secret, raw or percent-encoded, is in no job_run column, no
  http_state row, not in tickd's log, not in /v1 runs or /status, even when the peer echoes it
  back in a failure's body.
"""
import http.server
import json
import socketserver
import threading
import time
import urllib.parse
import urllib.request
import subprocess
from datetime import datetime

from tickd_rig import rig
from tickd_rig.util import check, wait_for

YEARLY = "0 0 1 1 *"  # never fires during the test
SECRET = "tok-S3cr3t/v@lue+42"
SECRET_ENCODED = urllib.parse.quote(SECRET, safe="")


class Peer:
    """A local HTTP server that records every request and answers by path."""

    def __init__(self):
        self.requests = []  # (monotonic time, method, path, headers dict (lower-case), body)
        self.lock = threading.Lock()
        self.counts = {}
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                path = urllib.parse.urlsplit(self.path).path
                headers = {k.lower(): v for k, v in self.headers.items()}
                with peer.lock:
                    peer.requests.append((time.monotonic(), self.command, self.path, headers, body))
                    peer.counts[path] = peer.counts.get(path, 0) + 1
                    n = peer.counts[path]
                if path == "/etag":
                    if headers.get("if-none-match") == '"v1"':
                        self._answer(304, headers={"ETag": '"v1"'})
                    else:
                        self._answer(200, b"hello", {"ETag": '"v1"', "Last-Modified": "Sun, 06 Dec 2026 07:00:00 GMT"})
                elif path == "/429-then-200":
                    if n == 1:
                        self._answer(429, b"slow down", {"Retry-After": "2"})
                    else:
                        self._answer(200, b"ok")
                elif path == "/404":
                    self._answer(404, b"no such thing")
                elif path == "/500":
                    self._answer(500, b"boom")
                elif path == "/hang":
                    time.sleep(10)
                    try:
                        self._answer(200, b"late")
                    except OSError:
                        pass
                elif path == "/redirect":
                    self._answer(302, headers={"Location": "/etag"})
                elif path == "/redirect-away":
                    self._answer(302, headers={"Location": "http://localhost:%d/etag" % peer.port})
                elif path == "/post":
                    self._answer(200, b"thanks")
                elif path == "/echo-404":
                    # A peer that echoes what it was sent: the secret comes back in the body.
                    echo = "refused %s with %s" % (self.path, headers.get("authorization"))
                    self._answer(404, echo.encode())
                else:
                    self._answer(400, b"unknown path")

            do_GET = do_POST = do_PUT = do_HEAD = _handle

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def to(self, path):
        with self.lock:
            return [q for q in self.requests if urllib.parse.urlsplit(q[2]).path == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def trigger(r, code, timeout=60):
    env = r.env_for(r.url)
    p = subprocess.run([r.tickd, "region", "trigger", code, "--wait", "--by", "http-test"], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def last_run(r, region_id):
    rows = r.sql("SELECT status, attempt, error, details, scheduled_for, "
                 "extract(epoch FROM finished_at - started_at)::float8 "
                 "FROM job_run WHERE region_id = %s ORDER BY id DESC LIMIT 1", [region_id])
    return rows[0] if rows else None


def http_details(row):
    return (row[3] or {}).get("http", {})


def region(r, code, column, **cols):
    return r.add_region(code, YEARLY, handlers=["http"], http=json.dumps(column), **cols)


def test(r):
    peer = Peer()
    r.cleanups.append(peer.close)
    etag = region(r, "etag", {"url": peer.url("/etag")})
    flaky = region(r, "flaky", {"url": peer.url("/429-then-200")}, max_attempts=3, retry_backoff_ms=100)
    gone = region(r, "gone", {"url": peer.url("/404")}, max_attempts=3, retry_backoff_ms=100)
    fine404 = region(r, "fine-404", {"url": peer.url("/404"), "ok_statuses": [404]})
    broken = region(r, "broken", {"url": peer.url("/500")}, max_attempts=2, retry_backoff_ms=100)
    hang_own = region(r, "hang-own", {"url": peer.url("/hang"), "timeout_ms": 1000})
    hang_region = region(r, "hang-region", {"url": peer.url("/hang")}, timeout_ms=1000)
    redirect = region(r, "redirect", {"url": peer.url("/redirect")}, max_attempts=3, retry_backoff_ms=100)
    follow = region(r, "follow", {"url": peer.url("/redirect"), "follow_redirects": True,
                                  "conditional": False})
    away = region(r, "away", {"url": peer.url("/redirect-away"), "follow_redirects": True},
                  max_attempts=3, retry_backoff_ms=100)
    post = region(r, "poster", {
        "url": peer.url("/post?token={{env.HTTP_TEST_SECRET}}&code={{region.code}}"),
        "method": "POST",
        "headers": {"Authorization": "Bearer {{env.HTTP_TEST_SECRET}}", "X-Region": "{{region.code}}",
                    "X-Attempt": "{{attempt}}", "Content-Type": "application/json"},
        "body": '{"region": "{{region.code}}", "id": {{region.id}}, "at": "{{scheduled_for}}"}'})
    echo = region(r, "echo", {"url": peer.url("/echo-404?token={{env.HTTP_TEST_SECRET}}"),
                              "headers": {"Authorization": "Bearer {{env.HTTP_TEST_SECRET}}"}})
    # Invalid: a host outside HTTP_ALLOWED_HOSTS, an env name outside HTTP_ENV_ALLOW.
    region(r, "elsewhere", {"url": "http://localhost:%d/etag" % peer.port})
    region(r, "nosecret", {"url": peer.url("/etag"), "headers": {"X": "{{env.HOME}}"}})
    region(r, "unknownfield", {"url": peer.url("/etag"), "verb": "GET"})

    t = r.start_tickd("a", HTTP_ALLOWED_HOSTS="127.0.0.1", HTTP_ENV_ALLOW="HTTP_TEST_SECRET",
                      HTTP_TEST_SECRET=SECRET, TICKD_API_TOKEN="api-token-for-tests")

    # --- invalid regions, with their reasons in /status ---
    invalid = wait_for(lambda: (lambda i: i if len(i) >= 3 else None)(t.status_invalid()), 10,
                       "three invalid regions in /status")
    check("host 'localhost' is not in HTTP_ALLOWED_HOSTS" in json.dumps(invalid.get("elsewhere")),
          "a host outside HTTP_ALLOWED_HOSTS makes the region invalid, saying why", invalid.get("elsewhere"))
    check("HOME is not listed in HTTP_ENV_ALLOW" in json.dumps(invalid.get("nosecret")),
          "an env name outside HTTP_ENV_ALLOW makes the region invalid", invalid.get("nosecret"))
    check("unknown field 'verb'" in json.dumps(invalid.get("unknownfield")),
          "an unknown field makes the region invalid", invalid.get("unknownfield"))
    check("etag" in t.status_regions() and "etag" not in invalid, "a good region is valid", list(invalid))

    # --- conditional: 200 with ETag, then If-None-Match and 304 ---
    rc, out, err = trigger(r, "etag")
    check(rc == 0, "etag tick 1 ends ok", (rc, out, err))
    row = last_run(r, etag)
    check(http_details(row).get("status") == 200 and http_details(row).get("not_modified") is False
          and http_details(row).get("bytes") == 5 and "seconds" in http_details(row),
          "tick 1: details.http has status 200, bytes 5, not_modified false, seconds", row[3])
    state = r.sql("SELECT url, etag, last_modified FROM http_state WHERE region_id = %s", [etag])
    check(state == [(peer.url("/etag"), '"v1"', "Sun, 06 Dec 2026 07:00:00 GMT")],
          "http_state keeps the URL template and the validators", state)
    rc, out, err = trigger(r, "etag")
    check(rc == 0, "etag tick 2 ends ok", (rc, out, err))
    reqs = peer.to("/etag")
    check(len(reqs) == 2 and "if-none-match" not in reqs[0][3], "the first request is unconditional",
          [q[3] for q in reqs])
    check(reqs[1][3].get("if-none-match") == '"v1"'
          and reqs[1][3].get("if-modified-since") == "Sun, 06 Dec 2026 07:00:00 GMT",
          "the second sends If-None-Match and If-Modified-Since", reqs[1][3])
    row = last_run(r, etag)
    check(row[0] == "ok" and http_details(row).get("status") == 304 and http_details(row).get("not_modified") is True,
          "tick 2 records not_modified (304) and ends ok", (row[0], row[3]))

    # --- 429 + Retry-After 2, then 200: ok at attempt 2, after the peer's wait ---
    rc, out, err = trigger(r, "flaky")
    row = last_run(r, flaky)
    check(rc == 0 and row[0] == "ok" and row[1] == 2, "429 then 200 ends ok at attempt 2", (rc, row[:3], out, err))
    reqs = peer.to("/429-then-200")
    check(len(reqs) == 2 and reqs[1][0] - reqs[0][0] >= 1.95,
          "the retry waited for Retry-After (2 s), not the 100 ms backoff",
          [round(q[0] - reqs[0][0], 3) for q in reqs])
    earlier = (row[3] or {}).get("attempts", [])
    check(len(earlier) == 1 and "HTTP 429 Too Many Requests" in earlier[0].get("error", ""),
          "details.attempts keeps the 429", earlier)

    # --- 404: failed at attempt 1 although max_attempts is 3; ok when listed in ok_statuses ---
    rc, out, err = trigger(r, "gone")
    row = last_run(r, gone)
    check(rc != 0 and row[0] == "failed" and row[1] == 1 and "HTTP 404 Not Found" in (row[2] or ""),
          "404 ends failed at attempt 1, 'HTTP 404 Not Found'", row[:3])
    check(http_details(row).get("status") == 404 and http_details(row).get("body") == "no such thing",
          "a failure keeps the status and the body's head", row[3])
    time.sleep(0.5)
    check(len(peer.to("/404")) == 1, "404 was asked once: no retry", len(peer.to("/404")))
    rc, out, err = trigger(r, "fine-404")
    row = last_run(r, fine404)
    check(rc == 0 and row[0] == "ok" and "body" not in http_details(row),
          "404 in ok_statuses ends ok, no body kept", (row[0], row[3]))

    # --- 500: retried until max_attempts ---
    rc, out, err = trigger(r, "broken")
    row = last_run(r, broken)
    check(row[0] == "failed" and row[1] == 2 and "HTTP 500 Internal Server Error" in (row[2] or ""),
          "500 is retried and ends failed at attempt 2 of 2", row[:3])
    check(len(peer.to("/500")) == 2, "500 was asked twice", len(peer.to("/500")))

    # --- timeouts ---
    for code, rid in (("hang-own", hang_own), ("hang-region", hang_region)):
        t0 = time.monotonic()
        rc, out, err = trigger(r, code)
        took = time.monotonic() - t0
        row = last_run(r, rid)
        check(row[0] == "failed" and "timed out" in (row[2] or ""), "%s ends failed, timed out" % code, row[:3])
        check(row[5] < 3.0 and took < 8, "%s ends within seconds, not after the peer's 10 s" % code, (row[5], took))

    # --- redirects ---
    rc, out, err = trigger(r, "redirect")
    row = last_run(r, redirect)
    check(row[0] == "failed" and row[1] == 1 and "HTTP 302 Found" in (row[2] or ""),
          "a 302 not followed ends failed at attempt 1", row[:3])
    before = len(peer.to("/etag"))
    rc, out, err = trigger(r, "follow")
    row = last_run(r, follow)
    check(rc == 0 and row[0] == "ok" and http_details(row).get("status") == 200 and len(peer.to("/etag")) == before + 1,
          "follow_redirects lands on /etag and ends ok", (row[:3], row[3]))
    rc, out, err = trigger(r, "away")
    row = last_run(r, away)
    check(row[0] == "failed" and row[1] == 1 and "not in HTTP_ALLOWED_HOSTS" in (row[2] or ""),
          "a redirect to a host outside HTTP_ALLOWED_HOSTS fails at attempt 1", row[:3])
    check(len(peer.to("/etag")) == before + 1, "the refused host was not called", len(peer.to("/etag")))

    # --- templates and secrets ---
    rc, out, err = trigger(r, "poster")
    row = last_run(r, post)
    check(rc == 0 and row[0] == "ok", "the POST ends ok", (rc, row[:3], out, err))
    (_, method, path, headers, body), = peer.to("/post")
    check(method == "POST", "the peer got a POST", method)
    check(headers.get("authorization") == "Bearer " + SECRET, "the env secret reached the peer in a header",
          headers.get("authorization"))
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    check(query.get("token") == [SECRET] and query.get("code") == ["poster"] and SECRET_ENCODED in path,
          "the URL carries the secret and code, percent-encoded", path)
    check(headers.get("x-region") == "poster" and headers.get("x-attempt") == "1",
          "region code and attempt in headers", headers)
    sent = json.loads(body)
    scheduled = row[4]
    check(sent["region"] == "poster" and sent["id"] == post
          and datetime.fromisoformat(sent["at"].replace("Z", "+00:00")) == scheduled,
          "the body has region code, id and the run's scheduled_for (RFC 3339)", (sent, scheduled))

    rc, out, err = trigger(r, "echo")
    row = last_run(r, echo)
    kept = http_details(row).get("body", "")
    check(row[0] == "failed" and "refused" in kept and "***" in kept,
          "the echoed body is kept with the secret scrubbed", kept)

    # The secret, raw or percent-encoded, is nowhere tickd writes or shows.
    def leaks(text):
        return SECRET in text or SECRET_ENCODED in text or "S3cr3t" in text
    dump = json.dumps(r.sql("SELECT j::text FROM job_run j"))
    check(not leaks(dump), "no job_run column holds the secret", dump[:2000])
    dump = json.dumps(r.sql("SELECT s::text FROM http_state s"))
    check(not leaks(dump), "no http_state row holds the secret", dump)
    for code in ("poster", "echo"):
        status, body, _ = t.get("/v1/regions/%s/runs" % code)
        check(status == 200 and code in body, "/v1 runs of %s answers" % code, (status, body[:200]))
        check(not leaks(body), "/v1 runs of %s hides the secret" % code, body[:2000])
    status, body, _ = t.get("/v1/runs")
    check(status == 200 and not leaks(body), "/v1/runs hides the secret", (status, body[:2000]))
    check(not leaks(json.dumps(t.status())), "/status hides the secret", "")
    check(not leaks(t.log()), "tickd's log never shows the secret",
          [line for line in t.log().splitlines() if leaks(line)][:5])


rig.main(test)
