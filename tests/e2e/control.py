"""Control: `tickd region ...` and the /v1 API against three real replicas.

- `trigger --wait` runs exactly once across the set: twenty in a row give twenty rows and
  twenty tick_sql effects, each ok, `manual`, requested by its --by;
- a request whose replica is killed (SIGKILL) while running it is run by another: one row,
  ended ok, and its SQL took effect once;
- pause / resume through the CLI and the API, with the contract's exit codes and statuses,
  and the audit trail naming each actor (CLI --by, the API's caller, the database user);
- cancel of a `pg_sleep(30)` tick ends it `cancelled` within a second, its statement gone
  from pg_stat_activity;
- backfill of a day of an hourly region gives 24 rows, oldest first, and a second backfill 0;
- bad input: each a one-line error with exit 2 (or 1 for the region's state) and nothing
  written; every write without the token is 403, with a wrong one 401; with
  TICKD_API_AUTH=all reads and /status need it too, /metrics and /readyz never.
"""
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request

from tickd_rig import rig
from tickd_rig.util import check, wait_for

TOKEN = "s3cret-token-for-tests"
ENV = dict(TICKD_API_TOKEN=TOKEN)
YEARLY = "0 0 1 1 *"  # never fires during the test: every run here is asked for


def cli(r, *args, timeout=60):
    env = r.env_for(r.url)
    p = subprocess.run([r.tickd, *args], env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def api(t, method, path, body=None, token=TOKEN):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (t.port, path), data=data, method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def runs(r, region_id, trigger=None):
    q = "SELECT id, status, trigger, requested_by, attempt, replica_id, error FROM job_run WHERE region_id = %s"
    params = [region_id]
    if trigger:
        q += " AND trigger = %s"
        params.append(trigger)
    return r.sql(q + " ORDER BY scheduled_for", params)


def sleeping(r):
    """This test's replicas' statements in pg_sleep (tick_sql runs as EXECUTE of a prepared
    statement, so its text is not in pg_stat_activity)."""
    return r.sql_value("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                       "AND wait_event = 'PgSleep' AND application_name LIKE %s", [r.schema + "-%"])


def test(r):
    r.sql("CREATE TABLE hits (region_id bigint, scheduled_for timestamptz, UNIQUE (region_id, scheduled_for))")
    hit = "INSERT INTO hits VALUES ($1, $2)"
    manual = r.add_region("manual", YEARLY, tick_sql=hit)
    # Inactive: a manual run works on it, and its takeover cannot lean on the schedule.
    victim = r.add_region("victim", YEARLY, tick_sql="INSERT INTO hits SELECT $1, $2 FROM pg_sleep(1.5)",
                          active=False)
    sleeper = r.add_region("sleeper", YEARLY, tick_sql="SELECT pg_sleep(30)", timeout_ms=60000)
    hourly = r.add_region("hourly", "0 * * * *", tick_sql=hit)
    every_second = r.add_region("busy", "* * * * * *", active=False)
    a = r.start_tickd("a", **ENV)
    b = r.start_tickd("b", **ENV)
    c = r.start_tickd("c", **ENV)
    replicas = {x.replica_id: x for x in (a, b, c)}

    # --- trigger --wait, twenty times: exactly once each ---
    for i in range(20):
        rc, out, err = cli(r, "region", "trigger", "manual", "--wait", "--by", "tester-%d" % i)
        check(rc == 0 and " ok " in " %s " % out, "trigger --wait %d: exit 0 and the run ok" % i, (rc, out, err))
    rows = runs(r, manual)
    check(len(rows) == 20, "twenty triggers: twenty job_run rows", len(rows))
    check(all(x[1] == "ok" and x[2] == "manual" for x in rows), "each ok and manual", rows)
    check(sorted(x[3] for x in rows) == sorted("tester-%d" % i for i in range(20)),
          "each requested by its --by", [x[3] for x in rows])
    check(r.sql_value("SELECT count(*) FROM hits WHERE region_id = %s", [manual]) == 20,
          "twenty tick_sql effects: none twice, none lost",
          r.sql_value("SELECT count(*) FROM hits WHERE region_id = %s", [manual]))

    # --- the replica running a request is killed: another runs it ---
    rc, out, err = cli(r, "region", "trigger", "victim", "--by", "killer")
    check(rc == 0, "trigger victim: exit 0", (rc, out, err))
    wait_for(lambda: runs(r, victim), 5, "the victim's request started")
    holder = runs(r, victim)[0][5]
    replicas[holder].kill()
    wait_for(lambda: runs(r, victim)[0][1] != "running", 15, "the killed replica's run ended elsewhere")
    rows = runs(r, victim)
    check(len(rows) == 1 and rows[0][1] == "ok" and rows[0][4] == 2 and rows[0][5] != holder,
          "one row, ok, on attempt 2 by another replica", rows)
    check(r.sql_value("SELECT count(*) FROM hits h JOIN job_run j ON j.region_id = h.region_id "
                      "AND j.scheduled_for = h.scheduled_for WHERE h.region_id = %s", [victim]) == 1,
          "its SQL took effect once, with the run's own scheduled_for as $2 on the re-run",
          r.sql("SELECT * FROM hits WHERE region_id = %s", [victim]))
    live = [x for x in (a, b, c) if x.replica_id != holder]
    t = live[0]

    # --- pause and resume: CLI and API ---
    rc, out, err = cli(r, "region", "pause", "hourly", "--reason", "maintenance", "--by", "ops-cli")
    check(rc == 0 and "paused" in out, "CLI pause: exit 0", (rc, out, err))
    rc, out, err = cli(r, "region", "pause", "hourly")
    check(rc == 1 and "paused already" in err and "hourly" in err and err.count("\n") == 1,
          "pausing a paused region: exit 1, one line naming it", (rc, err))
    wait_for(lambda: t.status_regions()["hourly"]["paused"], 1.5, "the replicas show it paused within the second")
    status, body = api(t, "POST", "/v1/regions/hourly/resume", {"by": "ops-api"})
    check(status == 200, "API resume: 200", (status, body))
    status, body = api(t, "POST", "/v1/regions/hourly/resume")
    check(status == 409 and "not paused" in body["error"], "API resume of a running region: 409", (status, body))
    status, body = api(t, "POST", "/v1/regions/hourly/pause", {"reason": "x"}, token=None)
    check(status == 403, "a write without the token: 403", (status, body))
    status, body = api(t, "POST", "/v1/regions/hourly/pause", {"reason": "x"}, token="wrong")
    check(status == 401, "a write with a wrong token: 401", (status, body))
    check(r.sql_value("SELECT paused_at IS NULL FROM region_index WHERE id = %s", [hourly]),
          "refused writes changed nothing", None)
    status, body = api(t, "POST", "/v1/regions/nope/pause", {})
    check(status == 404 and "nope" in body["error"], "an unknown region: 404 naming it", (status, body))
    status, body = api(t, "POST", "/v1/regions/hourly/pause", {"reason": 5})
    check(status == 400, "a bad field: 400", (status, body))
    r.sql("UPDATE region_index SET name = 'Hourly' WHERE id = %s", [hourly])
    audit = r.sql("SELECT op, actor FROM region_audit WHERE region_id = %s ORDER BY id", [hourly])
    ops = [(op, actor) for op, actor in audit if op != "INSERT"]
    check(ops[0] == ("pause", "ops-cli"), "audit: the CLI's pause with its --by", audit)
    check(ops[1][0] == "resume" and ops[1][1].startswith("ops-api (api@127.0.0.1"),
          "audit: the API's resume with its caller", audit)
    check(ops[2][0] == "UPDATE" and ops[2][1].startswith("postgres"), "audit: the SQL edit with the database user",
          audit)
    check(len(ops) == 3, "audit: nothing for the refused writes", audit)

    # --- cancel a pg_sleep(30) tick ---
    status, body = api(t, "POST", "/v1/regions/sleeper/trigger", {"by": "canceller"})
    check(status == 202, "API trigger: 202", (status, body))
    wait_for(lambda: sleeping(r) == 1, 5, "the sleeper's statement runs")
    status, body = api(t, "POST", "/v1/regions/sleeper/trigger", {})
    check(status == 409 and "still running" in body["error"], "a trigger while it runs (overlap skip): 409",
          (status, body))
    started = time.monotonic()
    status, body = api(t, "POST", "/v1/regions/sleeper/cancel", {"by": "ops"})
    check(status == 202, "API cancel: 202", (status, body))
    wait_for(lambda: runs(r, sleeper)[0][1] == "cancelled", 1.0, "the tick ends cancelled within a second")
    took = time.monotonic() - started
    row = runs(r, sleeper)[0]
    check("cancelled by ops" in (row[6] or ""), "its error says who cancelled it", row)
    check(sleeping(r) == 0, "its statement is gone from the server (%.2f s)" % took, None)
    rc, out, err = cli(r, "region", "cancel", "sleeper")
    check(rc == 1 and "no running tick" in err, "cancel with nothing running: exit 1", (rc, err))

    # --- backfill a day of an hourly region ---
    rc, out, err = cli(r, "region", "backfill", "hourly", "--from", "2026-12-01", "--to", "2026-12-02",
                       "--dry-run")
    check(rc == 0 and out.count("T") >= 24 and out.splitlines()[0] == "2026-12-01T00:00:00Z",
          "--dry-run lists the 24 instants, oldest first", (rc, out, err))
    check(not runs(r, hourly, "backfill"), "--dry-run wrote nothing", runs(r, hourly, "backfill"))
    rc, out, err = cli(r, "region", "backfill", "hourly", "--from", "2026-12-01", "--to", "2026-12-02",
                       "--by", "filler")
    check(rc == 0 and "24 instant(s) requested" in out, "backfill: 24 requested", (rc, out, err))
    wait_for(lambda: len([x for x in runs(r, hourly, "backfill") if x[1] == "ok"]) == 24, 20,
             "24 backfill runs end ok")
    order = r.sql("SELECT scheduled_for, started_at FROM job_run WHERE region_id = %s AND trigger = 'backfill' "
                  "ORDER BY started_at", [hourly])
    check([x[0] for x in order] == sorted(x[0] for x in order), "oldest first, one at a time", order)
    rc, out, err = cli(r, "region", "backfill", "hourly", "--from", "2026-12-01", "--to", "2026-12-02")
    check(rc == 0 and "0 instant(s) requested, 24 left alone" in out, "a second backfill runs nothing", (rc, out))
    time.sleep(1.5)
    check(len(runs(r, hourly, "backfill")) == 24, "still 24 rows", len(runs(r, hourly, "backfill")))

    # --- bad input: one line, exit 2, nothing written ---
    before = r.sql_value("SELECT count(*) FROM run_request")
    for args, want in [
        (("region", "trigger", "nope"), "no region with code 'nope'"),
        (("region", "backfill", "hourly", "--from", "2026-12-02", "--to", "2026-12-01"), "must be before"),
        (("region", "backfill", "hourly", "--from", "yesterday", "--to", "2026-12-01"), "is not a time"),
        (("region", "backfill", "busy", "--from", "2026-11-01", "--to", "2026-11-02"), "more than 10000"),
        (("region", "pause"), "expected one region code"),
        (("region", "frobnicate", "x"), "unknown verb"),
        (("runs", "--status", "weird"), "weird"),
    ]:
        rc, out, err = cli(r, *args)
        first = err.splitlines()[0] if err else ""
        # An unknown verb also prints the usage after its line.
        one_line = args[1] == "frobnicate" or err.count("\n") == 1
        check(rc == 2 and want in first and one_line, "%s: exit 2 saying %r" % (" ".join(args), want), (rc, err))
    check(r.sql_value("SELECT count(*) FROM run_request") == before, "bad input wrote nothing", None)

    # --- reads: every region whatever its state, from any replica ---
    status, body = api(t, "GET", "/v1/regions", token=None)
    states = {x["code"]: x["state"] for x in body["regions"]}
    check(status == 200 and states.get("busy") == "inactive" and states.get("victim") == "inactive"
          and states.get("hourly") == "active",
          "GET /v1/regions lists inactive regions too", (status, states))
    status, body = api(t, "GET", "/v1/regions/sleeper/runs", token=None)
    check(status == 200 and body["runs"][0]["status"] == "cancelled", "a region's runs, newest first", (status, body))
    rc, out, err = cli(r, "region", "show", "hourly", "--json")
    doc = json.loads(out)
    check(rc == 0 and len(doc["next_fires"]) == 5 and any(x["op"] == "pause" for x in doc["audit"]),
          "region show --json: next five fires and the audit trail", (rc, err))
    # --- TICKD_API_AUTH=all: reads need the token too, never the probes or metrics ---
    d = r.start_tickd("d", TICKD_API_TOKEN=TOKEN, TICKD_API_AUTH="all")
    status, _ = api(d, "GET", "/v1/regions", token=None)
    check(status == 401, "auth=all: a read without the token is 401", status)
    status, body = api(d, "GET", "/v1/regions")
    check(status == 200 and len(body["regions"]) == 5, "auth=all: with the token, every region", status)
    status, _, _ = d.get("/status")
    check(status == 401, "auth=all: /status without the token is 401", status)
    check(d.metric("tickd_db_up") == 1 and d.ready(), "auth=all: /metrics and /readyz stay open", None)
    check(all(x.alive() for x in live), "the live replicas still run", None)


rig.main(test)
