"""SIGTERM/SIGINT: stop claiming (also fired-but-unclaimed ticks), finish in-flight ticks within
SHUTDOWN_GRACE_MS, mark the rest 'failed' with the reason, close connections, exit 0; a second
signal exits at once."""
import signal
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for


def backends(r, t):
    return r.sql_value("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [t.replica_id])


def running_row(r, region_id):
    rows = r.sql("SELECT id FROM job_run WHERE region_id = %s AND status = 'running'", [region_id])
    return rows[0][0] if rows else None


def clean_stop(r, sig):
    """Busy replica (CONCURRENCY=1, ticks waiting for a slot): the signal stops claiming, in-flight
    ticks finish, exit 0, nothing left running, connections closed, replica retired."""
    codes = ["busy-%s-%d" % (sig.name.lower(), i) for i in range(3)]
    ids = [r.add_region(c, "* * * * * *", tick_sql="SELECT pg_sleep(0.3)") for c in codes]
    t = r.start_tickd("clean-" + sig.name.lower(), CONCURRENCY=1, SHUTDOWN_GRACE_MS=5000)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = ANY(%s) AND status = 'ok'",
                                 [ids]) >= 3, 6, "three ok ticks")
    # Signal while a tick is in flight (and others wait for the slot).
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = ANY(%s) AND status = 'running'",
                                 [ids]), 3, "a running tick", interval=0.01)
    t_signal = time.time()
    t.signal(sig)
    code = t.wait_exit(5)
    elapsed = time.time() - t_signal
    check(code == 0, "%s: exit code 0 within the grace (5 s)" % sig.name,
          "still running" if code is None else "exit %s" % code)
    check(elapsed < 1.5, "%s: exit soon after the in-flight tick (0.3 s) finished" % sig.name,
          "%.2f s" % elapsed)
    left = r.sql("SELECT region_id, scheduled_for, status FROM job_run WHERE status = 'running'")
    check(not left, "%s: no job_run row left 'running'" % sig.name, left)
    late = r.sql("SELECT region_id, scheduled_for, started_at FROM job_run WHERE region_id = ANY(%s) "
                 "AND started_at > to_timestamp(%s)", [ids, t_signal + 0.05])
    check(not late, "%s: no tick claimed after the signal" % sig.name, late)
    check(r.sql_value("SELECT count(*) FROM tickd_replica WHERE replica_id = %s", [t.replica_id]) == 0,
          "%s: the replica's heartbeat row removed" % sig.name, "still there")
    wait_for(lambda: backends(r, t) == 0, 2, "%s: no backend of the stopped process left" % sig.name)
    out = t.proc.stdout.read()
    check(out == b"", "%s: nothing on stdout (logs go to stderr)" % sig.name, repr(out[:200]))
    log = t.log()
    check("stopped" in log or "stopping" in log, "%s: the log says it stops" % sig.name, log[-300:])
    r.sql("UPDATE region_index SET active = false WHERE id = ANY(%s)", [ids])


def grace_expires(r):
    """A tick longer than SHUTDOWN_GRACE_MS: exit 0 after about the grace; the row 'failed' with
    a reason naming the shutdown."""
    rid = r.add_region("sleeper", "* * * * * *", tick_sql="SELECT pg_sleep(5)")
    t = r.start_tickd("grace", SHUTDOWN_GRACE_MS=1000, TICK_SQL_TIMEOUT_MS=60000)
    run_id = wait_for(lambda: running_row(r, rid), 3, "a running tick of 'sleeper'", interval=0.02)
    time.sleep(0.2)
    t_signal = time.time()
    t.signal(signal.SIGTERM)
    code = t.wait_exit(4)
    elapsed = time.time() - t_signal
    check(code == 0, "exit code 0 after the grace", "still running after 4 s" if code is None else "exit %s" % code)
    check(0.9 <= elapsed <= 2.0, "exit after about SHUTDOWN_GRACE_MS=1000 ms", "%.2f s" % elapsed)
    status, error = r.sql("SELECT status, error FROM job_run WHERE id = %s", [run_id])[0]
    check(status == "failed" and "shutdown" in (error or "").lower(),
          "the in-flight row 'failed' with a reason mentioning shutdown", (status, error))
    left = r.sql("SELECT id, status FROM job_run WHERE region_id = %s AND status = 'running'", [rid])
    check(not left, "no row of 'sleeper' left running", left)
    # The handler's late end must not overwrite the row (fenced) -- wait for pg_sleep(5) to end.
    time.sleep(max(0.0, t_signal + 5.3 - time.time()))
    status, error = r.sql("SELECT status, error FROM job_run WHERE id = %s", [run_id])[0]
    check(status == "failed" and "shutdown" in (error or "").lower(), "the row still 'failed' (shutdown) later",
          (status, error))
    r.sql("UPDATE region_index SET active = false WHERE id = %s", [rid])


def heartbeat_through_grace(r):
    """A replica in its grace keeps its heartbeat: the other replica, judging by the lease
    (TICK_LEASE_MS=2000: silent for 1 s), must not take over the tick still in flight."""
    rid = r.add_region("long-tick", "*/10 * * * * *", tick_sql="SELECT pg_sleep(3)")
    env = dict(TICK_LEASE_MS=2000, SHUTDOWN_GRACE_MS=6000, TICK_SQL_TIMEOUT_MS=60000)
    ts = {t.replica_id: t for t in (r.start_tickd("grace-a", **env), r.start_tickd("grace-b", **env))}
    run_id = wait_for(lambda: running_row(r, rid), 12, "a running tick of 'long-tick'", interval=0.02)
    owner = r.sql_value("SELECT replica_id FROM job_run WHERE id = %s", [run_id])
    t_signal = time.time()
    ts[owner].signal(signal.SIGTERM)
    code = ts[owner].wait_exit(6)
    check(code == 0, "the signalled replica exits 0 once its tick is done",
          "still running" if code is None else "exit %s" % code)
    check(time.time() - t_signal > 1.5, "it waited for the tick (3 s), longer than the lease's 1 s",
          "%.2f s" % (time.time() - t_signal))
    status, attempt, replica, details = r.sql(
        "SELECT status, attempt, replica_id, details FROM job_run WHERE id = %s", [run_id])[0]
    check((status, attempt, replica) == ("ok", 1, owner),
          "the tick ends ok, attempt 1, by the replica that claimed it (not taken over)",
          (status, attempt, replica, details))
    for t in ts.values():
        t.signal(signal.SIGTERM)
        t.wait_exit(6)
    r.sql("UPDATE region_index SET active = false WHERE id = %s", [rid])


def second_signal(r):
    rid = r.add_region("sleeper2", "* * * * * *", tick_sql="SELECT pg_sleep(5)")
    t = r.start_tickd("twice", SHUTDOWN_GRACE_MS=20000, TICK_SQL_TIMEOUT_MS=60000)
    wait_for(lambda: running_row(r, rid), 3, "a running tick of 'sleeper2'", interval=0.02)
    t.signal(signal.SIGTERM)
    time.sleep(0.3)
    check(t.alive(), "still running during the grace (a tick is in flight)", "exit %s" % t.proc.returncode)
    t_second = time.time()
    t.signal(signal.SIGTERM)
    code = t.wait_exit(2)
    elapsed = time.time() - t_second
    check(code is not None and code != 0, "the second SIGTERM exits at once with a non-zero code",
          "still running after 2 s" if code is None else "exit %s" % code)
    check(elapsed < 0.5, "exit within 0.5 s of the second signal", "%.2f s" % elapsed)
    r.sql("UPDATE region_index SET active = false WHERE id = %s", [rid])


def test(r):
    clean_stop(r, signal.SIGTERM)
    clean_stop(r, signal.SIGINT)
    grace_expires(r)
    heartbeat_through_grace(r)
    second_signal(r)


rig.main(test)
