"""Per-region policies acted on, one replica, real PostgreSQL:
- retries: a tick_sql that fails twice then succeeds ends ok with attempt 3 and both errors in
  details.attempts (max_attempts 3, retry_backoff_ms 200);
- timeout: pg_sleep(10) under timeout_ms 500 ends failed 'timed out after 500 ms' within a
  second of its instant, and its statement is no longer running on the server;
- overlap side by side, a 1.5 s tick every second: skip never overlaps and skips; buffer_one
  never overlaps, starts some ticks late (they waited) and runs more than skip; allow runs
  every second, overlapping.
"""
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

FLAKY_SQL = "SELECT 1 / CASE WHEN nextval('flaky_calls') <= 2 THEN 0 ELSE 1 END"


def first_row(r, region_id):
    rows = r.sql("SELECT status, attempt, error, details, extract(epoch FROM scheduled_for)::float8, "
                 "extract(epoch FROM finished_at)::float8 FROM job_run WHERE region_id = %s "
                 "ORDER BY scheduled_for LIMIT 1", [region_id])
    return rows[0] if rows else None


def ended(r, region_id):
    row = first_row(r, region_id)
    return row if row and row[0] != "running" else None


def runs(r, region_id, t0, t1):
    """(instant, started, finished) of the rows of instants t0..t1."""
    return r.sql("SELECT extract(epoch FROM scheduled_for)::bigint, extract(epoch FROM started_at)::float8, "
                 "extract(epoch FROM finished_at)::float8 FROM job_run WHERE region_id = %s "
                 "AND scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s) ORDER BY 1",
                 [region_id, t0, t1])


def overlapping(rows):
    return [(a[0], b[0]) for a, b in zip(rows, rows[1:]) if b[1] < a[2] - 0.005]


def test(r):
    r.sql("CREATE SEQUENCE flaky_calls")
    flaky = r.add_region("flaky", "*/5 * * * * *", tick_sql=FLAKY_SQL, max_attempts=3, retry_backoff_ms=200)
    slow = r.add_region("slow", "*/5 * * * * *", tick_sql="SELECT pg_sleep(10)", timeout_ms=500)
    overlap = {mode: r.add_region("o-" + mode, "* * * * * *", tick_sql="SELECT pg_sleep(1.5)", overlap=mode)
               for mode in ("skip", "buffer_one", "allow")}
    t = r.start_tickd("a", CONCURRENCY=32, DB_POOL_SIZE=16)
    t_start = int(time.time())

    # Timeout: the first tick of 'slow' ends failed within a second of its instant, its
    # statement cancelled on the server.
    row = wait_for(lambda: ended(r, slow), 8, "the first tick of 'slow' ends", interval=0.02)
    status, attempt, error, _, instant, finished = row
    check(status == "failed" and (error or "").startswith("timed out after 500 ms"),
          "'slow' failed 'timed out after 500 ms'", (status, error))
    check(finished - instant < 1.0, "within a second of its instant", "%.3f s" % (finished - instant))
    active = r.sql_value("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                         "AND query LIKE %s", ["EXECUTE tickd_tick_sql (%d,%%" % slow])
    check(active == 0, "its statement no longer runs on the server", "%d active" % active)

    # Retries: the first tick of 'flaky' fails twice, then succeeds on its row.
    row = wait_for(lambda: ended(r, flaky), 8, "the first tick of 'flaky' ends", interval=0.05)
    status, attempt, error, details, _, _ = row
    earlier = (details or {}).get("attempts", [])
    check(status == "ok" and attempt == 3, "'flaky' ends ok at attempt 3", (status, attempt, error))
    check([a.get("attempt") for a in earlier] == [1, 2]
          and all("division by zero" in a.get("error", "") for a in earlier),
          "details.attempts holds attempts 1 and 2 with their errors", earlier)
    failed, timed_out = (t.metric("tickd_tick_attempts_total", result=x) for x in ("failed", "timed_out"))
    check(failed >= 2 and timed_out >= 1, "tickd_tick_attempts_total counts the failed and timed-out attempts",
          (failed, timed_out))

    # Overlap: eight seconds of a 1.5 s tick every second, from the second full second on.
    t0 = t_start + 2
    wait_for(lambda: time.time() > t0 + 10, 14, "ten seconds of overlap", interval=0.2)
    r.sql("UPDATE region_index SET active = false")
    t1 = t0 + 7
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE status = 'running'") == 0, 5,
             "every running tick ends")
    got = {mode: runs(r, rid, t0, t1) for mode, rid in overlap.items()}
    n = {mode: len(rows) for mode, rows in got.items()}
    check(not overlapping(got["skip"]) and n["skip"] <= 5, "skip: never two at once, some instants skipped",
          got["skip"])
    waited = [x for x in got["buffer_one"] if x[1] - x[0] >= 0.3]
    check(not overlapping(got["buffer_one"]) and waited and n["buffer_one"] > n["skip"],
          "buffer_one: never two at once, some ticks waited for the previous one, more run than skip",
          (n, got["buffer_one"]))
    check(n["allow"] == 8 and overlapping(got["allow"]), "allow: every second runs, alongside the previous",
          (n, got["allow"]))
    print("overlap over 8 s of a 1.5 s tick every second: rows %s; buffer_one waited %s" %
          (n, ["%.2f" % (x[1] - x[0]) for x in waited]))


rig.main(test)
