"""A replica that dies mid-tick (SIGKILL) leaves its row 'running'; another replica marks it
'abandoned' within TICK_LEASE_MS (counted `abandoned` there), no other tick of that region runs
meanwhile, and the region runs on. A replica restarted with the same TICKD_REPLICA_ID does not
stay blocked by its own dead tick."""
import signal
import time

import rig
from rig import check, wait_for

LEASE_MS = 2000


def running(r, rid):
    """The region's running row whose instant has come (a row claimed ahead of its instant is
    'running' too, but its handlers have not started)."""
    rows = r.sql("SELECT id, replica_id FROM job_run WHERE region_id = %s AND status = 'running' "
                 "AND scheduled_for <= clock_timestamp()", [rid])
    return rows[0] if rows else None


def test(r):
    slow = r.add_region("slow", "* * * * * *", tick_sql="SELECT pg_sleep(4)")
    fast = r.add_region("fast", "* * * * * *")

    # -- takeover by another replica ---------------------------------------------------------
    a = r.start_tickd("a", TICK_LEASE_MS=LEASE_MS, TICK_SQL_TIMEOUT_MS=60000)
    run_id, rep = wait_for(lambda: running(r, slow), 3, "a running tick of 'slow' on a", interval=0.02)
    check(rep == a.replica_id, "the running row is a's", rep)
    a.signal(signal.SIGKILL)
    a.wait_exit(5)
    t_kill = time.time()
    b = r.start_tickd("b", TICK_LEASE_MS=LEASE_MS, TICK_SQL_TIMEOUT_MS=60000)

    def abandoned():
        st = r.sql("SELECT status, error, extract(epoch FROM finished_at) FROM job_run WHERE id = %s", [run_id])[0]
        return st if st[0] != "running" else None
    status, error, finished = wait_for(abandoned, LEASE_MS / 1000 + 3, "a's dead tick marked by b")
    check(status == "abandoned", "a's dead tick 'abandoned'", (status, error))
    check(a.replica_id in (error or ""), "the reason names the dead replica", error)
    took = float(finished) - t_kill
    check(took <= LEASE_MS / 1000 + 0.5, "abandoned within TICK_LEASE_MS (%d ms) of the kill" % LEASE_MS,
          "%.2f s" % took)
    # (a may also have died with a tick of 'fast' in flight: every abandoned row is a's, and
    # b counts each.)
    rows = r.sql("SELECT replica_id FROM job_run WHERE status = 'abandoned'")
    check(all(x == a.replica_id for (x,) in rows), "only a's rows abandoned", rows)
    wait_for(lambda: b.metric("tickd_ticks_total", outcome="abandoned") == len(rows), 2,
             "b: tickd_ticks_total{abandoned} == %d abandoned rows" % len(rows))
    # No overlap: b ran no tick of 'slow' while a's row was running.
    overlap = r.sql("SELECT scheduled_for, started_at FROM job_run WHERE region_id = %s AND replica_id = %s "
                    "AND started_at < to_timestamp(%s)", [slow, b.replica_id, float(finished)])
    check(not overlap, "b started no tick of 'slow' while a's was still running", overlap)
    # The region runs on, on b; 'fast' ran all along on b.
    wait_for(lambda: (running(r, slow) or (0, ""))[1] == b.replica_id, 3, "b runs 'slow' after the takeover",
             interval=0.05)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND replica_id = %s "
                                 "AND status = 'ok'", [fast, b.replica_id]) >= 1, 3, "b runs 'fast'")
    b.signal(signal.SIGKILL)
    b.wait_exit(5)

    # -- restart with the same replica id ---------------------------------------------------
    # b's tick of 'slow' is now dead and 'running'; b comes back under the same id at once.
    dead_id = running(r, slow)[0]
    t_restart = time.time()
    b2 = r.start_tickd("b", TICK_LEASE_MS=LEASE_MS, TICK_SQL_TIMEOUT_MS=60000)

    def dead_closed():
        return r.sql_value("SELECT status FROM job_run WHERE id = %s", [dead_id]) != "running"
    wait_for(dead_closed, LEASE_MS / 1000 + 1, "the restarted replica's own dead tick no longer 'running'")
    st = r.sql_value("SELECT status FROM job_run WHERE id = %s", [dead_id])
    check(st == "abandoned", "its own dead tick 'abandoned'", st)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND started_at > to_timestamp(%s)",
                                 [slow, t_restart]) >= 1, 3, "'slow' runs again after the restart")
    check(b2.alive(), "restarted replica running", b2.proc.returncode)


rig.main(test)
