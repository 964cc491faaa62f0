"""The small helpers every suite shares: skipping, ports, libpq URIs, polling with a deadline,
HTTP GET, the Prometheus text format, percentiles. Nothing here starts a process."""
import os
import re
import socket
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

# The exit status meson reads as "skipped".
SKIP = 77


class Skip(Exception):
    """Raised by a test to be reported as skipped (exit 77), with the reason as its message."""


def run_main(body, on_failure=None, cleanup=None):
    """Runs body() and exits as meson expects: 0 and PASS, 1 and FAIL (after the traceback and
    on_failure()), or 77 when it raised Skip (after printing the reason). cleanup() runs in
    every case, before the exit."""
    ok = skipped = False
    try:
        body()
        ok = True
    except Skip as e:
        print("SKIP: %s" % e)
        skipped = True
    except BaseException:  # noqa: BLE001 -- reported, then exit 1
        traceback.print_exc(file=sys.stdout)
        if on_failure:
            on_failure()
    finally:
        if cleanup:
            cleanup()
    if skipped:
        sys.exit(SKIP)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


# ---- the test database ---------------------------------------------------------------------

def test_database_url(require_uri=True):
    """TICKD_TEST_DATABASE_URL; raises Skip when it is unset (or, with `require_uri`, when it is
    a key=value conninfo rather than a libpq URI)."""
    url = os.environ.get("TICKD_TEST_DATABASE_URL")
    if not url:
        raise Skip("TICKD_TEST_DATABASE_URL is not set")
    if require_uri and not url.startswith(("postgres://", "postgresql://")):
        raise Skip("TICKD_TEST_DATABASE_URL must be a libpq URI for these tests, got %r" % url)
    return url


def with_options(url, options):
    """`url` with libpq `options` added, in the URI or the key=value form."""
    if url.startswith(("postgres://", "postgresql://")):
        sep = "&" if "?" in url else "?"
        return url + sep + "options=" + urllib.parse.quote(options, safe="")
    return url + " options='" + options.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pg_host_port(url):
    """(host, port) of a libpq URI (defaults: 127.0.0.1, 5432)."""
    p = urllib.parse.urlsplit(url)
    return p.hostname or "127.0.0.1", p.port or 5432


def replace_host_port(url, host, port):
    p = urllib.parse.urlsplit(url)
    userinfo = ""
    if p.username:
        userinfo = urllib.parse.quote(urllib.parse.unquote(p.username), safe="")
        if p.password is not None:
            userinfo += ":" + urllib.parse.quote(urllib.parse.unquote(p.password), safe="")
        userinfo += "@"
    return urllib.parse.urlunsplit((p.scheme, "%s%s:%d" % (userinfo, host, port), p.path, p.query, p.fragment))


# ---- ports, waiting, checking ------------------------------------------------------------------

def free_port():
    """A loopback TCP port that was free a moment ago (a process started on it may still lose
    it to another: callers that can, retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` seconds pass:
    then fails with `what` and the last value seen (or the last exception)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 -- reported below if it persists
            last = "%s: %s" % (type(e).__name__, e)
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s; last seen: %r" % (timeout, what, last))
        time.sleep(interval)


def sleep_until(unix_s):
    """Sleeps until the wall clock reads `unix_s` (returns at once when it is past)."""
    while True:
        d = unix_s - time.time()
        if d <= 0:
            return
        time.sleep(min(d, 0.5))


def check(cond, expected, seen):
    if not cond:
        raise AssertionError("expected %s; seen %s" % (expected, seen))


def percentile(values, p):
    """The p-th percentile (0-100) of `values`, interpolated linearly; None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# ---- HTTP and the Prometheus text format ---------------------------------------------------------

def http_get(port, path, timeout=5):
    """(status, body text, headers) of GET http://127.0.0.1:port/path; never raises on 4xx/5xx."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, ((label, value), ...sorted)): float} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError("unparsable metrics line: %r" % line)
        labels = tuple(sorted(_LABEL.findall(m.group(3) or "")))
        v = m.group(4)
        out[(m.group(1), labels)] = float(v.replace("+Inf", "inf").replace("-Inf", "-inf"))
    return out


def metric(samples, name, **labels):
    """The value of one series, or None when absent."""
    return samples.get((name, tuple(sorted(labels.items()))))
