"""Claiming ahead (CLAIM_AHEAD_MS): a replica claims the ticks it owns before their instant, yet
handlers start on the instant, never before it (by the database's clock); a tick claimed ahead
while its region's previous tick still runs is claimed again at its instant, not skipped; and a
claimed tick whose process stalls past its start deadline is recorded failed, its handlers not run."""
import signal
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

AHEAD_MS = 600


def test(r):
    # `at`: when the tick_sql ran, by the database's clock; `tx_at`: its transaction's now().
    r.sql("CREATE TABLE marks (region_id bigint, scheduled_for timestamptz, "
          "at timestamptz DEFAULT clock_timestamp(), tx_at timestamptz DEFAULT now())")
    mark = "INSERT INTO marks (region_id, scheduled_for) VALUES ($1, $2)"
    quick = r.add_region("quick", "* * * * * *", tick_sql=mark)
    # Runs 0.5 s of every second, starting at or after its instant: at the next instant's claim
    # (0.6 s ahead, so 0.4 s after this one) it is still running, and it has ended, with 0.5 s
    # to spare, by that next instant. (At 0.7 s a loaded machine ate the 0.3 s left, and the
    # next tick found it still running at its instant: skipped.)
    busy = r.add_region("busy", "* * * * * *",
                        tick_sql="INSERT INTO marks (region_id, scheduled_for) SELECT $1, $2 FROM pg_sleep(0.5)")
    t = r.start_tickd("a", CONCURRENCY=8, CLAIM_AHEAD_MS=AHEAD_MS)

    def rows(region_id):
        return r.sql("SELECT extract(epoch FROM scheduled_for)::bigint, status, "
                     "extract(epoch FROM started_at - scheduled_for)::float8, "
                     "extract(epoch FROM least(m.at, m.tx_at) - j.scheduled_for)::float8 "
                     "FROM job_run j LEFT JOIN marks m USING (region_id, scheduled_for) "
                     "WHERE j.region_id = %s AND j.status <> 'running' ORDER BY scheduled_for", [region_id])
    wait_for(lambda: len(rows(quick)) >= 6 and len(rows(busy)) >= 6 or None, 15, "six finished ticks of each region")
    time.sleep(0.5)

    q = rows(quick)[1:]  # the first may have been claimed at the instant (just scheduled)
    claim_ahead = [round(c, 3) for _, _, c, _ in q]
    check(all(-AHEAD_MS / 1000.0 - 0.05 <= c < 0 for c in claim_ahead),
          "quick: each tick claimed ahead of its instant, by at most CLAIM_AHEAD_MS", claim_ahead)
    run_late = [round(x, 4) if x is not None else None for _, _, _, x in q]
    check(all(x is not None and x >= 0 for x in run_late),
          "quick: each tick_sql ran, and its transaction began, at or after its instant (database clock)", run_late)
    check(all(st == "ok" for _, st, _, _ in q), "quick: every tick ok", [st for _, st, _, _ in q])

    b = rows(busy)
    seconds = [s for s, _, _, _ in b]
    check(all(y - x == 1 for x, y in zip(seconds, seconds[1:])),
          "busy: a tick every second (claimed again at the instant, none skipped)", seconds)
    check(all(st == "ok" for _, st, _, _ in b), "busy: every tick ok", [st for _, st, _, _ in b])
    check(all(x is not None and x >= 0 for _, _, _, x in b), "busy: tick_sql never ran early",
          [x for _, _, _, x in b])
    check((t.metric("tickd_ticks_total", outcome="skipped") or 0) == 0, "no tick counted skipped",
          t.metric("tickd_ticks_total", outcome="skipped"))
    attempts = t.metric("tickd_claim_attempts_total") or 0
    check(attempts > (t.metric("tickd_ticks_total", outcome="ran") or 0),
          "busy's ticks took a second claim attempt", attempts)

    # A stall between the claim and the instant, past the start deadline (one period, 1 s):
    # stop the process 0.2 s before an instant (its tick is claimed by then), resume 1.5 s later.
    r.sql("UPDATE region_index SET active = false WHERE id = %s", [busy])
    now = time.time()
    instant = int(now) + 2
    time.sleep(instant - 0.2 - time.time())
    t.signal(signal.SIGSTOP)
    time.sleep(1.7)
    t.signal(signal.SIGCONT)

    def stalled():
        got = r.sql("SELECT status, error FROM job_run WHERE region_id = %s AND scheduled_for = to_timestamp(%s) "
                    "AND status <> 'running'", [quick, instant])
        return got[0] if got else None
    status, error = wait_for(stalled, 5, "the stalled tick's row finished")
    check(status == "failed" and "start deadline" in (error or ""),
          "the tick claimed before the stall is failed, naming its start deadline", (status, error))
    ran = r.sql_value("SELECT count(*) FROM marks WHERE region_id = %s AND scheduled_for = to_timestamp(%s)",
                      [quick, instant])
    check(ran == 0, "its tick_sql did not run late", ran)
    check(t.alive(), "tickd still running", t.proc.returncode)


rig.main(test)
