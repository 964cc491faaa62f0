"""Issue 12, item 5: password fragments in libpq's errors. URLs that a masker by URL shape got
wrong went to the log through libpq's own messages: `postgres://u:p@ssSECRETTAIL@host/db`
logged `could not translate host name "ssSECRETTAIL@127.0.0.1"`, a raw `%` in the password
`invalid percent-encoded token: "rd%@..."`, `postgres://u:abc?SECRET4@...` was logged whole and
`password='it''s SECRET7'` as `password=***'s SECRET7'`.

Each of those DATABASE_URLs, pointed at the test server: `tickd migrate` (text and JSON logs)
exits 1 saying it could not connect, and `tickd run` keeps retrying with tickd_db_up 0 and
/readyz 503; neither output (nor /metrics, /status) holds any fragment of the password. Before secrets were hidden by
value (the code before f93160d) the first and the second leaked through the libpq message."""
import os
import subprocess
import time

from tickd_rig import rig
from tickd_rig.util import check, free_port, pg_host_port, wait_for


def test(r):
    host, port = pg_host_port(r.base)
    at = "%s:%d" % (host, port)
    cases = [  # (DATABASE_URL, fragments of its password that must never be printed)
        ("postgres://u:p@ssSECRETTAIL@%s/db" % at, ["ssSECRETTAIL", "SECRETTAIL"]),
        ("postgres://u:pw%%zzSECRETPCT@%s/db" % at, ["zzSECRETPCT", "SECRETPCT"]),
        # Raw '%' and '@' together: libpq takes the password up to the first '@' and quotes it.
        ("postgres://u:pa%%ss@wo%%rd%%@%s/db" % at, ["pa%ss", "wo%rd%"]),
        ("postgres://u:abc?SECRET4@%s/db" % at, ["abc?SECRET4", "SECRET4"]),
        ("host=%s port=%d user=u password='it''s SECRET7' dbname=db" % (host, port), ["s SECRET7", "SECRET7"]),
    ]
    runs = []
    for i, (url, secrets) in enumerate(cases):
        for fmt in ("text", "json"):
            env = r.env_for(url, LOG_FORMAT=fmt)
            m = subprocess.run([r.tickd, "migrate"], env=env, capture_output=True, text=True, timeout=30)
            out = m.stdout + m.stderr
            check(m.returncode == 1 and "tickd migrate failed: connecting to" in out,
                  "migrate with %r (%s): exit 1, saying it could not connect" % (url, fmt), (m.returncode, out))
            leaked = [s for s in secrets if s in out]
            check(not leaked, "migrate with %r (%s) prints no part of the password" % (url, fmt), out)
        http = free_port()
        env = r.env_for(url, TICKD_HTTP_ADDR="127.0.0.1:%d" % http, TICKD_REPLICA_ID="%s-url%d" % (r.schema, i))
        t = rig.Tickd(r, "url%d" % i, env, http, os.path.join(r.tmp, "tickd-url%d.log" % i))
        r.procs.append(t)
        runs.append((t, url, secrets))
    time.sleep(2.5)  # a few retries each (250 ms, 500 ms, 1 s...)
    for t, url, secrets in runs:
        check(t.alive(), "tickd run with %r keeps retrying" % url, t.log())
        wait_for(lambda: t.metric("tickd_db_up") == 0 and t.get("/readyz")[0] == 503, 5,
                 "tickd run with %r: tickd_db_up 0, /readyz 503" % url)
        log = t.log()
        seen = log + t.metrics_text() + t.get("/status")[1]
        check("database unreachable" in log, "tickd run with %r says why" % url, log)
        leaked = [s for s in secrets if s in seen]
        check(not leaked, "tickd run with %r: no part of the password in its log, /metrics or /status" % url, seen)


rig.main(test, migrate=False)
