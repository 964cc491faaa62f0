"""Issue 12, item 7: replicas that disagree on TICK_LEASE_MS. A replica started with
TICK_LEASE_MS=100 judged a healthy default replica (10 s lease, a heartbeat every 250 ms) dead by its
own 100 ms lease, and took over or abandoned its running ticks. Each replica now publishes its
lease with its heartbeat and is judged by it: the default replica's ticks all end ok, on it,
with no takeover. (The short-lease replica's own ticks may be taken over when this busy
machine stalls it past its own 100 ms: that is its setting, so only the default replica's rows
are judged here.)"""
import signal
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for


def test(r):
    for i in range(4):
        r.add_region("slow%d" % i, "*/2 * * * * *", tick_sql="SELECT pg_sleep(1.2)")
    env = dict(TICK_SQL_TIMEOUT_MS=60000)
    a = r.start_tickd("a", **env)
    b = r.start_tickd("b", TICK_LEASE_MS=100, **env)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM tickd_replica WHERE lease_silence_ms IS NOT NULL") == 2,
             5, "both replicas publish their lease", interval=0.1)
    leases = dict(r.sql("SELECT replica_id, lease_silence_ms FROM tickd_replica"))
    check(leases == {a.replica_id: 5000, b.replica_id: 50}, "each replica publishes its own (half its TICK_LEASE_MS, the silence after which it is dead)", leases)
    time.sleep(7)
    for t in (a, b):
        t.signal(signal.SIGTERM)
        t.wait_exit(10)
    ran = r.sql_value("SELECT count(*) FROM job_run WHERE replica_id = %s AND status = 'ok' "
                      "AND NOT details ? 'taken_over'", [a.replica_id])
    check(ran >= 3, "the default replica ran ticks of its own to the end", ran)
    taken = r.sql("SELECT id, status, replica_id, details->'taken_over', error FROM job_run "
                  "WHERE (replica_id = %s AND status = 'abandoned') "
                  "OR details->'taken_over' @> jsonb_build_array(jsonb_build_object('from', %s::text))",
                  [a.replica_id, a.replica_id])
    check(not taken, "no tick of the default replica taken over or abandoned by the 100 ms one", taken)


rig.main(test)
