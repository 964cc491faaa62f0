"""The region handler's tick_sql: a failing statement gives 'failed' rows with the error text and
the next tick still runs; $1 is the region id and $2 the scheduled instant (or neither is used);
the statement timeout applies; only one statement runs; details has the handler's duration."""
import json

from tickd_rig import rig
from tickd_rig.util import check, metric, wait_for

REGIONS = {
    "fails": "SELECT 1/0",
    "syntax": "SELEC 1",
    "copy": "COPY (SELECT 1) TO PROGRAM 'true'",
    "params": "INSERT INTO marks (region_id, at, tag) VALUES ($1, $2, 'params')",
    "only2": "INSERT INTO marks (region_id, at, tag) VALUES (NULL, $2, 'only2');",
    "neither": "INSERT INTO marks (region_id, at, tag) VALUES (NULL, NULL, 'neither')",
    "slow": "SELECT pg_sleep(0.3)",
    "timeout": "SELECT pg_sleep(3)",
    "two-statements": "SELECT 1; INSERT INTO marks (region_id, at, tag) VALUES (NULL, NULL, 'second statement')",
    "none": None,
}


def handler_seconds(details, name):
    """The handler's duration in job_run.details: {"<handler>": {"seconds": s}} or
    {"handlers": {"<handler>": {"seconds": s}}}; None when absent."""
    d = details if isinstance(details, dict) else json.loads(details)
    entry = d.get(name) if isinstance(d.get(name), dict) else d.get("handlers", {}).get(name, {})
    sec = entry.get("seconds") if isinstance(entry, dict) else None
    return sec if isinstance(sec, (int, float)) else None


def runs(r, region_id):
    return r.sql("SELECT extract(epoch FROM scheduled_for)::bigint, status, error, details, replica_id "
                 "FROM job_run WHERE region_id = %s AND status <> 'running' ORDER BY scheduled_for", [region_id])


def test(r):
    r.sql("CREATE TABLE marks (region_id bigint, at timestamptz, tag text, inserted timestamptz DEFAULT now())")
    ids = {code: r.add_region(code, "* * * * * *", tick_sql=sql) for code, sql in REGIONS.items()}
    t = r.start_tickd("a", CONCURRENCY=16, DB_POOL_SIZE=16, TICK_SQL_TIMEOUT_MS=500)

    # Four finished ticks of every region but 'timeout' (its ticks overlap and are skipped).
    def enough():
        return all(len(runs(r, ids[c])) >= 4 for c in REGIONS if c != "timeout") or None
    wait_for(enough, 8, "four finished ticks of every region")

    # Failing statements: 'failed' rows with the error text, and the next ticks still run.
    # A statement PREPARE does not take (COPY) says so, not only "syntax error at or near".
    for code, words in (("fails", ["division by zero"]), ("syntax", ["syntax error", "SELEC"]),
                        ("copy", ["not one statement PREPARE accepts", "syntax error", "COPY"])):
        rows = runs(r, ids[code])
        bad = [row for row in rows if row[1] != "failed" or not all(w.lower() in (row[2] or "").lower() for w in words)]
        check(not bad, "%s: every row 'failed' with an error naming %s" % (code, words),
              [(s, st, e) for s, st, e, _, _ in bad])
        seconds = [row[0] for row in rows]
        check(all(b - a == 1 for a, b in zip(seconds, seconds[1:])),
              "%s: a tick every second despite the failures" % code, seconds)

    # The failures left the pooled connections clean: every other tick is ok.
    for code in ("params", "only2", "neither", "slow", "none"):
        rows = runs(r, ids[code])
        bad = [(s, st, e) for s, st, e, _, _ in rows if st != "ok"]
        check(not bad, "%s: every tick 'ok'" % code, bad)

    # $1 and $2: the region id and the scheduled instant of each tick, exactly.
    marks = r.sql("SELECT region_id, extract(epoch FROM at) FROM marks WHERE tag = 'params' ORDER BY at")
    instants = [row[0] for row in runs(r, ids["params"])]
    check(all(rid == ids["params"] for rid, _ in marks), "params: $1 = %d in every mark" % ids["params"],
          sorted({rid for rid, _ in marks}))
    mark_instants = [float(at) for _, at in marks]
    check(set(instants) <= set(int(x) for x in mark_instants) and all(x == int(x) for x in mark_instants),
          "params: $2 = the scheduled instant (whole seconds) of every ok tick",
          "marks %s, ticks %s" % (mark_instants, instants))
    only2 = r.sql("SELECT extract(epoch FROM at) FROM marks WHERE tag = 'only2'")
    only2_ticks = [row[0] for row in runs(r, ids["only2"])]
    check(set(only2_ticks) <= {int(a) for (a,) in only2}, "only2: $2 alone works (and a trailing ';')",
          "marks %s, ticks %s" % (only2, only2_ticks))
    neither = r.sql_value("SELECT count(*) FROM marks WHERE tag = 'neither'")
    check(neither >= len(runs(r, ids["neither"])), "neither: one mark per ok tick",
          "%d marks for %d ticks" % (neither, len(runs(r, ids["neither"]))))

    # details: each handler's duration.
    for code in REGIONS:
        for s, st, _, details, _ in runs(r, ids[code]):
            sec = handler_seconds(details, "region")
            check(sec is not None and sec >= 0,
                  "%s @%d: details has the region handler's duration in seconds" % (code, s), json.dumps(details))
    slow = [handler_seconds(row[3], "region") for row in runs(r, ids["slow"])]
    check(all(0.3 <= x < 2.0 for x in slow), "slow: the region handler's duration >= 0.3 s (pg_sleep(0.3))", slow)

    # Statement timeout (TICK_SQL_TIMEOUT_MS=500): failed with the reason, after about 0.5 s.
    rows = runs(r, ids["timeout"])
    check(rows, "timeout: finished ticks", "none")
    for s, st, err, details, _ in rows:
        check(st == "failed" and "statement timeout" in (err or ""),
              "timeout @%d: 'failed' with 'statement timeout'" % s, (st, err))
        sec = handler_seconds(details, "region")
        check(0.4 <= sec < 2.0, "timeout @%d: handler ran about TICK_SQL_TIMEOUT_MS" % s, sec)

    # Counters: failed counts the failing regions' rows.
    def counters():
        s = t.metrics()
        failed = metric(s, "tickd_ticks_total", outcome="failed")
        ran = metric(s, "tickd_ticks_total", outcome="ran")
        f_rows = r.sql_value("SELECT count(*) FROM job_run WHERE status = 'failed'")
        o_rows = r.sql_value("SELECT count(*) FROM job_run WHERE status = 'ok'")
        seen.append("failed %s vs %s rows, ran %s vs %s rows" % (failed, f_rows, ran, o_rows))
        return failed == f_rows and ran == o_rows
    seen = []
    try:
        wait_for(counters, 3, "tickd_ticks_total failed/ran equal to the failed/ok rows")
    except AssertionError:
        raise AssertionError("expected tickd_ticks_total failed/ran equal to the failed/ok job_run rows; seen "
                             + seen[-1])
    check(t.alive(), "tickd still running", t.proc.returncode)

    # One statement only: a second statement must not run.
    second = r.sql_value("SELECT count(*) FROM marks WHERE tag = 'second statement'")
    two = [(s, st, e) for s, st, e, _, _ in runs(r, ids["two-statements"])]
    check(second == 0, "two-statements: the second statement of tick_sql never runs (contract: one statement)",
          "it ran %d times; rows %s" % (second, two[:3]))
    check(all(st == "failed" for _, st, _ in two), "two-statements: ticks refused ('failed')", two[:3])


rig.main(test)
