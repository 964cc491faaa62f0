"""Two replicas on one schema, 20 regions every second: each (region, second) runs exactly once
(no second missing in the steady window), the replicas' ran + failed add up to the rows, and
both replicas take part (rows or lost claims). Twice: with the default CLAIM_GRACE_MS (the
owner of a region claims first) and with CLAIM_GRACE_MS=0 (both replicas race for every tick)."""
import math
import re
import signal
import time

from tickd_rig import rig
from tickd_rig.util import check, metric, wait_for

REGIONS = 20


def phase(r, label, window, **env):
    """One run of two fresh replicas over fresh regions; returns the 'skipped' findings (checked
    by the caller after both phases)."""
    WINDOW = window
    ids = [r.add_region("%s-r%02d" % (label, i), "* * * * * *") for i in range(REGIONS)]
    a = r.start_tickd("a-" + label, **env)
    b = r.start_tickd("b-" + label, **env)
    t0 = math.floor(time.time()) + 2  # both replicas are ready and scheduled well before this
    t1 = t0 + WINDOW - 1
    time.sleep(max(0.0, t1 + 1.5 - time.time()))

    # Stop scheduling (so the counters settle), then compare.
    r.sql("UPDATE region_index SET active = false WHERE id = ANY(%s)", [ids])
    for t in (a, b):
        wait_for(lambda t=t: t.metric("tickd_schedules") == 0, 2, "%s: tickd_schedules 0 after active=false" % t.name)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE status = 'running'") == 0, 3,
             "no running rows")
    time.sleep(0.3)

    rows = r.sql("SELECT region_id, extract(epoch FROM scheduled_for)::bigint, replica_id, status FROM job_run "
                 "WHERE region_id = ANY(%s)", [ids])
    have = {}
    for rid, s, rep, st in rows:
        have.setdefault((rid, s), []).append((rep, st))
    dup = {k: v for k, v in have.items() if len(v) > 1}
    check(not dup, "at most one row per (region, second)", dup)
    missing = [(rid, s) for rid in ids for s in range(t0, t1 + 1) if (rid, s) not in have]
    check(not missing, "a row for every region and every second in [%d, %d] (%d ticks)"
          % (t0, t1, REGIONS * WINDOW), "%d missing, e.g. %s" % (len(missing), missing[:10]))
    not_ok = [(k, v) for k, v in have.items() if v[0][1] != "ok"]
    check(not not_ok, "every row 'ok'", not_ok[:10])
    replicas = {rep for _, _, rep, _ in rows}
    check(replicas <= {a.replica_id, b.replica_id}, "rows only from the two replicas", replicas)

    ma, mb = a.metrics(), b.metrics()

    def c(m, outcome):
        return metric(m, "tickd_ticks_total", outcome=outcome)
    ran_failed = sum(c(m, "ran") + c(m, "failed") for m in (ma, mb))
    check(ran_failed == len(rows), "sum over replicas of ran + failed == job_run rows (%d)" % len(rows),
          "%d (a: ran %d failed %d, b: ran %d failed %d)"
          % (ran_failed, c(ma, "ran"), c(ma, "failed"), c(mb, "ran"), c(mb, "failed")))
    per = {}
    for t, m in ((a, ma), (b, mb)):
        seen = {o: c(m, o) for o in ("ran", "failed", "lost", "skipped", "missed", "abandoned")}
        per[t.name] = seen
        # Every tick of the window reached this replica: it ran it or lost it.
        check(seen["ran"] + seen["lost"] >= REGIONS * WINDOW,
              "%s: ran + lost >= %d (it tried every tick of the window)" % (t.name, REGIONS * WINDOW), seen)
        check(seen["abandoned"] == 0 and seen["missed"] == 0, "%s: nothing abandoned or missed" % t.name, seen)
    print(label + ": outcomes per replica: %s; rows per replica: %s"
          % (per, {rep: sum(1 for x in rows if x[2] == rep) for rep in replicas}))
    check(r.sql_value("SELECT count(*) FROM job_run WHERE status = 'abandoned' AND region_id = ANY(%s)", [ids]) == 0,
          "no abandoned rows", "some")

    for t in (a, b):
        t.signal(signal.SIGTERM)
    for t in (a, b):
        code = t.wait_exit(5)
        check(code == 0, "%s exits 0 on SIGTERM" % t.name, code)

    # No tick here waits for a slot (each takes milliseconds, 20 per second, CONCURRENCY 4) and
    # no region's previous tick is still running when the next is due: nothing is 'skipped'.
    # A replica that finds the tick already claimed by the other one counts it 'lost'.
    wrong = []
    for t in (a, b):
        for line in t.log().splitlines():
            m = re.search(r"region (\S+): tick (\S+) skipped: the previous tick is still running", line)
            if not m:
                continue
            code, instant = m.group(1), m.group(2)
            def row_at(offset):
                rows = r.sql("SELECT j.replica_id, j.status, j.finished_at < %s::timestamptz FROM job_run j "
                             "JOIN region_index g ON g.id = j.region_id WHERE g.code = %s "
                             "AND j.scheduled_for = %s::timestamptz + make_interval(secs => %s)",
                             [instant, code, instant, offset])
                return rows[0] if rows else None
            prev, this = row_at(-1), row_at(0)
            wrong.append("%s: %s @%s: previous tick's row %s; this tick's row %s"
                         % (t.name, code, instant,
                            "none" if prev is None else "finished before this instant: %s" % prev[2],
                            "none" if this is None else "by %s, %s" % (this[0], this[1])))
    return ["%s: skipped %d" % (name, seen["skipped"]) for name, seen in per.items() if seen["skipped"]] + wrong


def test(r):
    found = phase(r, "default", 8)
    found += phase(r, "nograce", 6, CLAIM_GRACE_MS=0)
    check(not found, "no tick counted 'skipped' (a tick the other replica claimed is 'lost')", found)


rig.main(test)
