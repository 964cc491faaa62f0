"""Issue 12, item 6: tick_sql results were fully buffered. A region whose tick_sql was
`SELECT repeat('x', 400000000)` took tickd to 1.27 GB (875 MB still resident after: libpq never
shrinks a connection's input buffer, and the connection went back to the pool); 3M rows added
190 MB. Whatever a tick_sql returns now stays in PostgreSQL: tickd's peak resident memory
(VmHWM) grows by less than 64 MB while both statements run, twice each, to the end.

The one thing still sent to tickd is the statement's plan, which grows with the statement itself
(a constant folded from it into a filter), never with what it returns: a 100 MB one costs a
transient peak, and tickd gives its memory back (the connection is dropped, not pooled)."""
from tickd_rig import rig
from tickd_rig.util import check, wait_for

MB = 1024 * 1024
GROWTH_LIMIT = 64 * MB


def proc_status(t, field):
    """A /proc/PID/status field in bytes: VmHWM (peak resident) or VmRSS (resident now)."""
    with open("/proc/%d/status" % t.proc.pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (field, t.proc.pid))


def ok_runs(r, region_id):
    return r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND status = 'ok'", [region_id])


def wait_ok_runs(r, t, ids, n, timeout):
    def done():
        bad = r.sql("SELECT region_id, status, error FROM job_run WHERE region_id = ANY(%s) "
                    "AND status NOT IN ('ok', 'running')", [list(ids)])
        check(not bad, "no failed tick", bad)
        check(t.alive(), "tickd alive", t.proc.returncode)
        return all(ok_runs(r, i) >= n for i in ids)
    wait_for(done, timeout, "%d ok ticks of regions %s" % (n, sorted(ids)), interval=0.2)


def test(r):
    r.sql("CREATE SEQUENCE big_seen")
    r.sql("CREATE SEQUENCE rows_seen")
    t = r.start_tickd("a", TICK_SQL_TIMEOUT_MS=60000)
    baseline_peak = proc_status(t, "VmHWM")
    baseline_rss = proc_status(t, "VmRSS")

    # The two statements. The setval calls prove that each ran to its last row.
    big = r.add_region("big-value", "*/2 * * * * *",
                       tick_sql="SELECT repeat('x', 400000000), setval('big_seen', $1)")
    rows = r.add_region("many-rows", "*/2 * * * * *",
                        tick_sql="SELECT g, repeat('y', 60) FROM generate_series(1, 3000000) g "
                                 "UNION ALL SELECT setval('rows_seen', 3000000), 'last'")
    wait_ok_runs(r, t, [big, rows], 2, 60)
    check(r.sql_value("SELECT last_value FROM big_seen") == big, "big-value: the statement ran ($1 set)",
          r.sql_value("SELECT last_value FROM big_seen"))
    check(r.sql_value("SELECT last_value FROM rows_seen") == 3000000,
          "many-rows: the statement ran through its 3,000,000 rows",
          r.sql_value("SELECT last_value FROM rows_seen"))
    peak = proc_status(t, "VmHWM")
    print("tickd VmHWM: %.1f MB at start, %.1f MB after two runs each of a 400 MB value and 3M rows"
          % (baseline_peak / MB, peak / MB))
    check(peak - baseline_peak < GROWTH_LIMIT,
          "tickd's peak resident memory to grow by less than %d MB (results discarded, not buffered)"
          % (GROWTH_LIMIT // MB), "%.1f MB -> %.1f MB" % (baseline_peak / MB, peak / MB))
    r.sql("UPDATE region_index SET active = false WHERE id = ANY(%s)", [[big, rows]])

    # The residual: a 100 MB constant in the plan reaches tickd once per tick; none of it stays.
    plan = r.add_region("big-plan", "*/2 * * * * *",
                        tick_sql="SELECT 1 FROM region_index WHERE code = repeat('x', 100000000)")
    wait_ok_runs(r, t, [plan], 2, 60)
    rss = proc_status(t, "VmRSS")
    print("tickd VmRSS: %.1f MB at start, %.1f MB after two ticks with a 100 MB plan (peak %.1f MB)"
          % (baseline_rss / MB, rss / MB, proc_status(t, "VmHWM") / MB))
    check(rss - baseline_rss < GROWTH_LIMIT,
          "tickd's resident memory, after a tick_sql with a 100 MB plan, within %d MB of the start"
          % (GROWTH_LIMIT // MB), "%.1f MB -> %.1f MB" % (baseline_rss / MB, rss / MB))


rig.main(test)
