"""Database outage: tickd reaches PostgreSQL through a TCP proxy of this test. Cut (every
connection closed, new ones refused) and stalled (connections open, nothing forwarded): within
5 s tickd_db_up 0 and /readyz 503, the schedule is kept; when the database is back, tickd
recovers by itself (tickd_db_up 1, /readyz 200, ticks resume, change notifications again), and
ticks that could not start by their deadline do not run late in a burst."""
import math
import time

from tickd_rig import rig
from tickd_rig.util import check, pg_host_port, replace_host_port, wait_for

CODES = ["o1", "o2", "o3"]


def rows_since(r, since):
    return r.sql_value("SELECT count(*) FROM job_run WHERE started_at >= to_timestamp(%s)", [since])


def down_then_up(r, t, proxy, mode):
    """One outage of about 6 s, checked while down and until recovered."""
    wait_for(lambda: rows_since(r, time.time() - 1.5) >= len(CODES), 3, "%s: ticks running before" % mode)
    before = sorted(t.status_regions())
    t_down = time.time()
    (proxy.cut if mode == "cut" else proxy.stall)()

    def down():
        return t.metric("tickd_db_up") == 0 and t.get("/readyz")[0] == 503
    wait_for(down, 5, "%s: tickd_db_up 0 and /readyz 503 within 5 s" % mode)
    print("%s: reported down %.2f s after the outage began" % (mode, time.time() - t_down))
    check(t.alive(), "%s: tickd keeps running" % mode, "exit %s" % t.proc.returncode)
    check(t.get("/healthz")[0] == 200, "%s: /healthz 200 while the database is down" % mode, t.get("/healthz")[0])
    regs = t.status_regions()
    check(sorted(regs) == before, "%s: /status keeps the last known schedule %s" % (mode, before), sorted(regs))
    # A change committed while tickd cannot see it: caught after the outage.
    r.sql("UPDATE region_index SET active = NOT active WHERE code = 'o3'")
    time.sleep(max(0.0, t_down + 6.0 - time.time()))
    regs = t.status_regions()
    check(sorted(regs) == before, "%s: /status still lists %s after 6 s of outage" % (mode, before), sorted(regs))
    t_up = time.time()
    (proxy.restore if mode == "cut" else proxy.resume)()

    def up():
        return t.metric("tickd_db_up") == 1 and t.get("/readyz")[0] == 200
    wait_for(up, 15, "%s: tickd_db_up 1 and /readyz 200 after the database is back" % mode)
    print("%s: recovered %.2f s after the database came back" % (mode, time.time() - t_up))


def test(r):
    for code in CODES:
        r.add_region(code, "* * * * * *")
    host, port = pg_host_port(r.url)
    proxy = rig.TcpProxy(host, port)
    r.cleanups.append(proxy.close)
    url = replace_host_port(r.url, "127.0.0.1", proxy.port)
    t = r.start_tickd("a", database_url=url, REGION_REFRESH_INTERVAL_MS=600000)
    o3 = r.sql_value("SELECT id FROM region_index WHERE code = 'o3'")

    for mode in ("cut", "stall"):
        down_then_up(r, t, proxy, mode)
        active = r.sql_value("SELECT active FROM region_index WHERE id = %s", [o3])
        # The change made during the outage is applied after it (a full reconcile on reconnect).
        wait_for(lambda: ("o3" in t.status_regions()) == active, 5,
                 "%s: /status %s 'o3' (active changed to %s during the outage)"
                 % (mode, "lists" if active else "drops", active))
        # Ticks resume: every active region gets rows for new instants.
        t_ok = time.time()
        first = math.ceil(t_ok + 0.5)
        want = set(CODES) if active else set(CODES) - {"o3"}
        wait_for(lambda: {c for (c,) in r.sql(
            "SELECT DISTINCT g.code FROM job_run j JOIN region_index g ON g.id = j.region_id "
            "WHERE j.scheduled_for >= to_timestamp(%s) AND j.status = 'ok'", [first])} >= want, 4,
            "%s: ok rows for %s at or after %d" % (mode, sorted(want), first))
        # Change notifications work again: an INSERT shows up within a second.
        code = "x-%s" % mode
        r.add_region(code, "* * * * * *")
        t_ins = time.time()
        wait_for(lambda: code in t.status_regions(), 1.5, "%s: a region inserted after recovery in /status" % mode)
        print("%s: INSERT visible after %.2f s" % (mode, time.time() - t_ins))
        r.sql("UPDATE region_index SET active = false WHERE code = %s", [code])
        wait_for(lambda: code not in t.status_regions(), 1.5, "%s: the region deactivated again leaves /status" % mode)
        left = r.sql("SELECT g.code, j.scheduled_for FROM job_run j JOIN region_index g ON g.id = j.region_id "
                     "WHERE j.status = 'running' AND j.started_at < now() - interval '3 seconds'")
        check(not left, "%s: no row left 'running'" % mode, left)

    check(t.alive(), "tickd still running (no restart)", t.proc.returncode)

    # No tick ran later than its start deadline (one period: 1 s): a claim sent into the
    # stalled connection must not start its handlers when it completes seconds later.
    late = r.sql("SELECT g.code, j.scheduled_for, j.started_at, j.details->'lateness_seconds' "
                 "FROM job_run j JOIN region_index g ON g.id = j.region_id "
                 "WHERE j.started_at - j.scheduled_for > interval '1 second' "
                 "OR (j.details->>'lateness_seconds')::float8 > 1.0 ORDER BY j.scheduled_for")
    check(not late, "no tick started more than its start deadline (1 s) after its instant",
          "(code, scheduled_for, started_at, lateness_seconds): %s"
          % [(c, str(s), str(st), lat) for c, s, st, lat in late])


rig.main(test)
