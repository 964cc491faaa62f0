"""A replica that dies mid-tick (SIGKILL) leaves its row 'running'. Another replica sees its
liveness lock freed and takes the row over within about a second: it runs the tick again on
the same row (attempt 2) while the tick's start deadline allows, and the tick's SQL takes
effect once; past the deadline it ends the row 'abandoned', naming the dead replica. No other
tick of the region runs meanwhile. A replica restarted with the same TICKD_REPLICA_ID deals
with its own dead tick the same way."""
import signal
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

LEASE_MS = 10000  # the default: the crash is found through the lock, not the lease
SLOW_SQL = "INSERT INTO effects SELECT $1, $2 FROM pg_sleep(3)"  # takes effect at its end


def running(r, rid):
    """The region's running row whose instant has come (a row claimed ahead of its instant is
    'running' too, but its handlers have not started): (id, replica, attempt)."""
    rows = r.sql("SELECT id, replica_id, attempt FROM job_run WHERE region_id = %s AND status = 'running' "
                 "AND scheduled_for <= clock_timestamp() - interval '200 ms'", [rid])
    return rows[0] if rows else None


def row(r, run_id):
    return r.sql("SELECT status, replica_id, attempt, error, extract(epoch FROM started_at), "
                 "extract(epoch FROM scheduled_for)::bigint FROM job_run WHERE id = %s", [run_id])[0]


def test(r):
    r.sql("CREATE TABLE effects (region bigint, at timestamptz)")
    # Every 5 s: a takeover within a second is well inside the start deadline (5 s).
    slow = r.add_region("slow", "*/5 * * * * *", tick_sql=SLOW_SQL)
    fast = r.add_region("fast", "* * * * * *")
    env = dict(TICK_LEASE_MS=LEASE_MS, TICK_SQL_TIMEOUT_MS=60000)

    # -- run again by another replica ------------------------------------------------------
    a = r.start_tickd("a", **env)
    b = r.start_tickd("b", **env)
    run_id, rep, attempt = wait_for(lambda: running(r, slow), 8, "a running tick of 'slow'", interval=0.02)
    victim, taker = (a, b) if rep == a.replica_id else (b, a)
    victim.signal(signal.SIGKILL)
    victim.wait_exit(5)
    t_kill = time.time()
    taken = wait_for(lambda: (lambda x: x if x[1] == taker.replica_id else None)(row(r, run_id)), 3,
                     "the dead replica's row taken over by the other")
    took = float(taken[4]) - t_kill
    check(taken[2] == 2, "the same row, attempt 2", taken)
    check(took < 1.5, "taken over within about a second of the kill (lock freed, not the lease)", "%.2f s" % took)
    done = wait_for(lambda: (lambda x: x if x[0] != "running" else None)(row(r, run_id)), 6, "the re-run to end")
    check(done[0] == "ok", "the re-run ends ok", done)
    instant = done[5]
    effects = r.sql_value("SELECT count(*) FROM effects WHERE region = %s AND extract(epoch FROM at)::bigint = %s",
                          [slow, instant])
    check(effects == 1, "the tick's SQL took effect once (the killed attempt's rolled back)", effects)
    # No overlap: no other tick of 'slow' started while the row was running.
    overlap = r.sql("SELECT scheduled_for FROM job_run WHERE region_id = %s AND id <> %s AND "
                    "scheduled_for > to_timestamp(%s) AND started_at < (SELECT finished_at FROM job_run WHERE id = %s)",
                    [slow, run_id, instant, run_id])
    check(not overlap, "no tick of 'slow' started while the taken-over one ran", overlap)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND replica_id = %s "
                                 "AND status = 'ok'", [fast, taker.replica_id]) >= 1, 3, "the survivor runs 'fast'")

    # -- restart with the same replica id, past the start deadline: abandoned -------------
    run_id, rep, _ = wait_for(lambda: (lambda x: x if x and x[1] == taker.replica_id else None)(running(r, slow)),
                              8, "a running tick of 'slow' on the survivor", interval=0.02)
    taker.signal(signal.SIGKILL)
    taker.wait_exit(5)
    # Back at once under the same id, with a start deadline (300 ms) already past.
    again = r.start_tickd(taker.name, MISFIRE_GRACE_MS=300, **env)
    st = wait_for(lambda: (lambda x: x if x[0] != "running" else None)(row(r, run_id)), 3,
                  "the restarted replica's own dead tick no longer 'running'")
    check(st[0] == "abandoned", "its own dead tick 'abandoned' (past its start deadline)", st)
    check("restarted while this tick was running" in (st[3] or ""), "the reason says so", st[3])
    wait_for(lambda: again.metric("tickd_ticks_total", outcome="abandoned") == 1, 2,
             "tickd_ticks_total{abandoned} 1 on the restarted replica")
    t_restart = time.time()
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND started_at > to_timestamp(%s)",
                                 [slow, t_restart]) >= 1, 6, "'slow' runs again after the restart")
    check(again.alive(), "restarted replica running", again.proc.returncode)


rig.main(test)
