"""Hot apply: an INSERT, UPDATE, DELETE or active=false on region_index reaches every replica
within one second of its commit, without restart (contract: instants at or after commit + 1 s
follow the new row). Two replicas on one schema; job_run rows and /status of both are checked.
"""
import math
import time

from tickd_rig import rig
from tickd_rig.util import check, sleep_until, wait_for

# REGION_REFRESH_INTERVAL_MS is long: only notifications can make these changes visible in time.
ENV = dict(REGION_REFRESH_INTERVAL_MS=600000)


def instants(r, region_id, since=None):
    rows = r.sql("SELECT extract(epoch FROM scheduled_for)::bigint FROM job_run WHERE region_id = %s"
                 + (" AND scheduled_for >= to_timestamp(%s)" if since is not None else "") + " ORDER BY 1",
                 [region_id] + ([since] if since is not None else []))
    return [x[0] for x in rows]


def commit(r, statement, params=None):
    """Runs and commits `statement`; returns the time just after the commit returned."""
    r.sql(statement, params)
    return time.time()


def test(r):
    r.sql("CREATE TABLE marks (region_id bigint, at timestamptz, tag text)")
    hot = r.add_region("hot", "* * * * * *")
    gone = r.add_region("gone", "* * * * * *")
    deact = r.add_region("deact", "* * * * * *")
    sqlchg = r.add_region("sqlchg", "* * * * * *",
                          tick_sql="INSERT INTO marks VALUES ($1, $2, 'v1')")
    a = r.start_tickd("a", **ENV)
    b = r.start_tickd("b", **ENV)
    replicas = (a, b)
    wait_for(lambda: len(instants(r, hot)) >= 2 and len(instants(r, sqlchg)) >= 2, 5,
             "rows for 'hot' and 'sqlchg' at * * * * * *")

    # -- UPDATE of the expression --------------------------------------------------------
    # Commit just after an odd second so that the first instant that must follow the new
    # row is odd (and would show a stale schedule).
    now = time.time()
    base = math.floor(now) + 1
    if base % 2 == 0:
        base += 1
    sleep_until(base + 0.1)
    t_update = commit(r, "UPDATE region_index SET cron_schedule = '*/2 * * * * *' WHERE id = %s", [hot])
    latencies = {}
    for t in replicas:
        def shows_new(t=t):
            reg = t.status_regions().get("hot")
            if reg and reg["cron_schedule"] == "*/2 * * * * *" and reg["next_fire"]:
                sec = int(reg["next_fire"][17:19])
                if sec % 2 == 0:
                    return time.time()
            return None
        seen_at = wait_for(shows_new, 3, "/status of %s: 'hot' with '*/2 * * * * *' and an even next_fire" % t.name,
                           interval=0.01)
        latencies[t.name] = seen_at - t_update
    for name, lat in latencies.items():
        check(lat <= 1.0, "/status of %s shows the new expression within 1 s of the commit" % name,
              "%.3f s" % lat)
    print("hot apply latency (commit to /status): %s" % {k: round(v, 3) for k, v in latencies.items()})

    # -- INSERT ----------------------------------------------------------------------------
    t_insert = time.time()
    new = r.add_region("new", "* * * * * *")
    t_insert_done = time.time()

    # -- active = false ----------------------------------------------------------------------
    t_deact = commit(r, "UPDATE region_index SET active = false WHERE id = %s", [deact])

    # -- DELETE (rows cascade away; a stale timer would show as a claim of a missing region,
    #    counted 'skipped') ----------------------------------------------------------------
    skipped_before = {t.name: t.metric("tickd_ticks_total", outcome="skipped") for t in replicas}
    t_delete = commit(r, "DELETE FROM region_index WHERE id = %s", [gone])

    # -- UPDATE of tick_sql only (same instants: the timer is kept, the row is swapped) ----
    t_sql = commit(r, "UPDATE region_index SET tick_sql = 'INSERT INTO marks VALUES ($1, $2, ''v2'')' "
                      "WHERE id = %s", [sqlchg])

    for t in replicas:
        def dropped(t=t):
            regs = t.status_regions()
            return "deact" not in regs and "gone" not in regs and "new" in regs
        wait_for(dropped, max(0.05, t_delete + 1.0 - time.time()),
                 "/status of %s: 'deact' and 'gone' gone, 'new' listed, within 1 s of the commits" % t.name,
                 interval=0.02)

    # Let every instant up to commit + 4 s pass (and its tick finish).
    end = math.floor(t_update) + 5
    sleep_until(end + 0.7)

    # UPDATE: from commit + 1 s, only even seconds; and the even ones are all there.
    later = instants(r, hot, since=math.ceil(t_update + 1.0))
    odd = [s for s in later if s % 2 == 1]
    check(not odd, "'hot': no row at an odd second at or after commit + 1 s (%.3f)" % (t_update + 1),
          "rows at %s" % [time.strftime("%H:%M:%S", time.gmtime(s)) for s in odd])
    want = [s for s in range(math.ceil(t_update + 1.0), end + 1) if s % 2 == 0]
    missing = sorted(set(want) - set(later))
    check(not missing, "'hot': a row for every even second from commit + 1 s to %s" % end,
          "missing %s (rows: %s)" % (missing, later))

    # INSERT: every second from commit + 1 s has a row.
    first = math.ceil(t_insert_done + 1.0)
    rows = instants(r, new)
    missing = [s for s in range(first, end + 1) if s not in rows]
    check(not missing, "'new': a row for every second from INSERT commit + 1 s (%.3f) to %s"
          % (t_insert_done + 1, end), "missing %s (rows: %s)" % (missing, rows))
    check(all(s >= math.floor(t_insert) for s in rows), "'new': no row before its INSERT", rows)

    # active = false: no row at or after commit + 1 s.
    late = instants(r, deact, since=math.ceil(t_deact + 1.0))
    check(not late, "'deact': no row at or after commit + 1 s (%.3f) of active=false" % (t_deact + 1),
          "rows at %s" % late)
    check(instants(r, deact), "'deact': its rows before the change kept", "none")

    # DELETE: no claim attempts for the missing region after commit + 1 s (they would be
    # counted skipped, and the rows cannot exist).
    for t in replicas:
        now_skipped = t.metric("tickd_ticks_total", outcome="skipped")
        # An instant between the commit and commit + 1 s may still be tried: at most one.
        check(now_skipped - skipped_before[t.name] <= 1,
              "%s: at most one 'skipped' tick (a claim for the deleted region) after the DELETE" % t.name,
              "%d more" % (now_skipped - skipped_before[t.name]))
    check(r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s", [gone]) == 0,
          "no job_run rows left for the deleted region", "some")

    # tick_sql update: instants from commit + 1 s ran the new statement.
    tags = r.sql("SELECT extract(epoch FROM at)::bigint, tag FROM marks WHERE region_id = %s "
                 "AND at >= to_timestamp(%s) ORDER BY 1", [sqlchg, math.ceil(t_sql + 1.0)])
    check(tags and all(tag == "v2" for _, tag in tags),
          "'sqlchg': every tick from commit + 1 s (%.3f) ran the new tick_sql ('v2')" % (t_sql + 1), tags)
    ok_rows = r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND status <> 'ok' "
                          "AND status <> 'running'", [sqlchg])
    check(ok_rows == 0, "'sqlchg': every tick ok", "%d not ok" % ok_rows)

    for t in replicas:
        regs = t.status_regions()
        check(sorted(regs) == ["hot", "new", "sqlchg"], "%s /status regions hot, new, sqlchg" % t.name, sorted(regs))
        check(t.alive(), "%s still running (no restart)" % t.name, "exited %s" % t.proc.returncode)


rig.main(test)
