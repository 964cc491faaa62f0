"""Notifications against a real webhook receiver, with three replicas running: a failing region
produces exactly one `failed` notification per failed tick instant (whichever replica ran it),
delivered after the receiver's first two refusals, its HMAC signature verified, and one
`recovered` when the region passes again; ping_url gets /start and /fail, then the plain URL;
the outbox and the metrics agree; NOTIFY_SECRET never shows in logs."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tickd_rig import rig
from tickd_rig.util import check, metric, wait_for

SECRET = "notify-secret-KOALA-41"


def expect(cond, what, seen=None):
    check(cond, what, seen)


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _record(self, body):
        srv = self.server
        with srv.lock:
            srv.requests.append({"method": self.command, "path": self.path,
                                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            if self.path.startswith("/hook"):
                srv.hook_calls += 1
                return srv.hook_calls
        return 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = self._record(body)
        # The first two deliveries are refused.
        status = 500 if self.path.startswith("/hook") and n <= 2 else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self._record(b"")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve(r):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.lock = threading.Lock()
    server.requests = []
    server.hook_calls = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    r.cleanups.append(server.shutdown)
    return server, "http://127.0.0.1:%d" % server.server_address[1]


def test(r):
    server, base = serve(r)
    r.sql("CREATE TABLE gate (fail boolean NOT NULL)")
    r.sql("INSERT INTO gate VALUES (true)")
    # Fails while gate.fail (a literal 1/0 would be folded when planned, and always fail).
    sql = "SELECT 1 / (CASE WHEN fail THEN 0 ELSE 1 END) FROM gate"
    # Every 3 s: one failing instant is enough; the test then lets it pass.
    region = r.add_region("flaky", "*/3 * * * * *", tick_sql=sql)
    r.sql("UPDATE region_index SET ping_url = %s WHERE id = %s", [base + "/ping/flaky", region])
    quiet = r.add_region("quiet", "* * * * * *", tick_sql=sql)
    r.sql("UPDATE region_index SET notify_on = '{}' WHERE id = %s", [quiet])
    env = dict(NOTIFY_URL=base + "/hook", NOTIFY_SECRET=SECRET)
    replicas = [r.start_tickd(name, **env) for name in ("a", "b", "c")]

    # One failed tick of `flaky`, then it passes.
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND status = 'failed'",
                                 [region]) >= 1, 10, "a failed tick of flaky")
    r.sql("UPDATE gate SET fail = false")
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run j WHERE region_id = %s AND status = 'ok' AND "
                                 "scheduled_for > (SELECT max(scheduled_for) FROM job_run WHERE region_id = %s "
                                 "AND status = 'failed')", [region, region]) >= 1, 10, "an ok tick after it")
    failed_instants = [row[0] for row in r.sql(
        "SELECT scheduled_for FROM job_run WHERE region_id = %s AND status = 'failed'", [region])]

    # The outbox: one `failed` row per failed instant, one `recovered`; nothing for `quiet`.
    def delivered():
        rows = r.sql("SELECT event, state FROM tickd_notification WHERE region_id = %s", [region])
        return rows if rows and all(s == "delivered" for _, s in rows) and \
            any(e == "recovered" for e, _ in rows) else None
    rows = wait_for(delivered, 30, "every notification of flaky delivered")
    events = sorted(e for e, _ in rows)
    expect(events.count("failed") == len(failed_instants), "one failed notification per failed instant",
          (events, failed_instants))
    expect(events.count("recovered") == 1, "exactly one recovered", events)
    expect(r.sql_value("SELECT count(*) FROM tickd_notification WHERE region_id = %s", [quiet]) == 0,
          "notify_on '{}' adds no events")
    attempts = r.sql_value("SELECT attempts FROM tickd_notification WHERE region_id = %s AND event = 'failed' "
                           "ORDER BY id LIMIT 1", [region])
    expect(attempts == 3, "the first notification was delivered on its third attempt", attempts)

    # What the receiver got: signed bodies with the contract's fields.
    with server.lock:
        posts = [q for q in server.requests if q["method"] == "POST"]
        pings = [q["path"] for q in server.requests if q["path"].startswith("/ping/")]
    for q in posts:
        want = "sha256=" + hmac.new(SECRET.encode(), q["body"], hashlib.sha256).hexdigest()
        expect(hmac.compare_digest(q["headers"].get("x-tickd-signature", ""), want), "signature verifies", q)
    ok_posts = [json.loads(q["body"]) for q in posts[2:]]
    delivered_events = sorted(p["event"] for p in ok_posts)
    expect(delivered_events.count("recovered") == 1, "recovered delivered once", delivered_events)
    failed_body = next(p for p in ok_posts if p["event"] == "failed")
    expect(failed_body["region"]["code"] == "flaky" and failed_body["status"] == "failed"
          and "division by zero" in (failed_body["error"] or "") and failed_body["run_id"]
          and failed_body["replica_id"] and failed_body["scheduled_for"].endswith("Z") and failed_body["at"],
          "a failed body holds the contract's fields", failed_body)
    expect(all(q["headers"].get("x-tickd-event") == json.loads(q["body"])["event"] for q in posts),
          "X-Tickd-Event names the event")
    expect("/ping/flaky/start" in pings and "/ping/flaky/fail" in pings and "/ping/flaky" in pings,
          "ping_url got /start, /fail and the plain URL", pings)

    # Metrics summed over the replicas: 2 failed attempts, the rest delivered.
    def summed(result):
        return sum(metric(t.metrics(), "tickd_notifications_total", result=result, event=e) or 0
                   for t in replicas for e in ("failed", "recovered"))
    expect(summed("failed") == 2, "two failed deliveries counted", summed("failed"))
    expect(summed("delivered") == len(rows), "each delivery counted once", (summed("delivered"), len(rows)))
    for t in replicas:
        expect(metric(t.metrics(), "tickd_notification_outbox_depth") is not None, "outbox depth exported")
        expect(SECRET not in t.log(), "NOTIFY_SECRET is not in the log of " + t.name)


rig.main(test)
