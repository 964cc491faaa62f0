"""Helpers for the handler tests (tests/handlers) on top of tickd_rig.rig: the secrets that must
never show, a file server, files to upload, and an audit of status changes. The S3 peers are in
tickd_rig.s3.

Each test is `python3 test.py PATH_TO_TICKD` (suite 'handlers'); it skips (77) without
TICKD_TEST_DATABASE_URL, like the e2e tests.
"""
import json
import os
import threading
from http.server import ThreadingHTTPServer

from tickd_rig.util import check

# Secrets that must never show up in logs, /metrics or /status.
SECRET = "tickd/test+secret=key"  # the s3_peer's secret: it must sign, and never be shown
TOKEN = "source-token-WOMBAT-77"


def serve(r, handler, root):
    """Serves `root` on a free loopback port with `handler` (a BaseHTTPRequestHandler class that
    reads self.server.root) until the test ends; returns the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.root = root
    threading.Thread(target=server.serve_forever, daemon=True).start()
    r.cleanups.append(server.shutdown)
    return "http://127.0.0.1:%d" % server.server_address[1]


def reply(handler, status, data=b""):
    """Answers a BaseHTTPRequestHandler's request with `status` and `data` as the body."""
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def make_file(r, name, content):
    path = os.path.join(r.tmp, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def audit_completions(r, table="upload_jobs", done="COMPLETED"):
    """Records every change of a row to `done` in <table>_audit, to prove 'exactly once'."""
    r.sql("""
      CREATE TABLE {t}_audit (job_id bigint, lease_owner text, at timestamptz DEFAULT clock_timestamp());
      CREATE FUNCTION {t}_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO {t}_audit (job_id, lease_owner) VALUES (NEW.id, OLD.lease_owner);
        RETURN NULL;
      END $$;
      CREATE TRIGGER {t}_audit AFTER UPDATE ON {t} FOR EACH ROW
        WHEN (NEW.status = '{d}' AND OLD.status IS DISTINCT FROM '{d}') EXECUTE FUNCTION {t}_audit();
    """.format(t=table, d=done))


def statuses(r, table="upload_jobs"):
    return dict(r.sql("SELECT status, count(*) FROM %s GROUP BY status" % table))


def details(r, region_id, handler):
    """The job_run details of `handler`, summed over the region's finished runs."""
    total = {}
    for (d,) in r.sql("SELECT details FROM job_run WHERE region_id = %s AND status <> 'running'", (region_id,)):
        d = d if isinstance(d, dict) else json.loads(d)
        h = d.get(handler) or d.get("handlers", {}).get(handler) or {}
        for k, v in h.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
    return total


def assert_no_secrets(t, *secrets):
    """Neither the log nor /metrics nor /status of tickd `t` shows any of `secrets`."""
    texts = {"log": t.log()}
    if t.alive():
        texts["/metrics"] = t.metrics_text()
        texts["/status"] = t.get("/status")[1]
    for where, text in texts.items():
        for s in secrets:
            check(s not in text, "%r absent from %s" % (s, where), "it appears")
