"""Pause: a region with paused_at set stays in /status as paused (its reason, who, when, no
next_fire), counted by tickd_paused_schedules and not tickd_schedules, and runs nothing;
setting paused_at back to NULL runs it again from then on without catching up the instants
it missed. A running region paused by an UPDATE stops within the hot-apply second.
"""
import math
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

# Only notifications can apply the changes in time.
ENV = dict(REGION_REFRESH_INTERVAL_MS=600000)


def rows_of(r, region_id):
    return [x[0] for x in r.sql("SELECT extract(epoch FROM scheduled_for)::bigint FROM job_run "
                                "WHERE region_id = %s ORDER BY 1", [region_id])]


def commit(r, statement, params=None):
    """Runs and commits `statement`; returns the time just after the commit returned."""
    r.sql(statement, params)
    return time.time()


def test(r):
    held = r.add_region("held", "* * * * * *", paused_at="2026-03-08T10:00:00Z", paused_by="ops@host",
                        paused_reason="upgrade in progress")
    live = r.add_region("live", "* * * * * *")
    t = r.start_tickd("a", **ENV)

    # Listed as paused, with its note; not armed, so no next fire.
    regs = t.status_regions()
    check(sorted(regs) == ["held", "live"], "/status lists both regions", sorted(regs))
    h = regs["held"]
    check(h["paused"] is True and h["paused_reason"] == "upgrade in progress" and h["paused_by"] == "ops@host"
          and h["paused_at"] == "2026-03-08T10:00:00Z" and h["next_fire"] is None,
          "'held': paused, its reason, who and when, next_fire null", h)
    l = regs["live"]
    check(l["paused"] is False and l["paused_reason"] is None and l["next_fire"] is not None,
          "'live': not paused, a next fire", l)
    check(not t.status_invalid(), "nothing invalid", t.status_invalid())
    check(t.metric("tickd_paused_schedules") == 1, "tickd_paused_schedules 1", t.metric("tickd_paused_schedules"))
    check(t.metric("tickd_schedules") == 1, "tickd_schedules 1 (a paused region is not scheduled)",
          t.metric("tickd_schedules"))

    # 'live' runs every second; 'held' runs nothing.
    wait_for(lambda: len(rows_of(r, live)) >= 3, 5, "three rows for 'live'")
    check(not rows_of(r, held), "no job_run row for the paused region", rows_of(r, held))

    # Pause 'live' while it runs: nothing at or after commit + 1 s.
    t_pause = commit(r, "UPDATE region_index SET paused_at = now(), paused_reason = 'stop' WHERE id = %s", [live])
    wait_for(lambda: t.status_regions()["live"]["paused"], 1.0, "'live' shows paused within 1 s of the UPDATE")
    check(t.metric("tickd_paused_schedules") == 2, "tickd_paused_schedules 2", t.metric("tickd_paused_schedules"))
    check(t.metric("tickd_schedules") == 0, "tickd_schedules 0", t.metric("tickd_schedules"))

    # Resume 'held' a few seconds later: it fired at none of the instants it was paused for,
    # and none of them is caught up; from commit + 1 s on it runs every second.
    time.sleep(2.5)
    t_resume = commit(r, "UPDATE region_index SET paused_at = NULL WHERE id = %s", [held])
    wait_for(lambda: (lambda h: not h["paused"] and h["next_fire"] is not None)(t.status_regions()["held"]), 1.0,
             "'held' shows running with a next fire within 1 s of the resume")
    check(t.metric("tickd_paused_schedules") == 1, "tickd_paused_schedules 1 after the resume",
          t.metric("tickd_paused_schedules"))
    first = math.ceil(t_resume + 1.0)
    time.sleep(max(0.0, first + 3.7 - time.time()))
    rows = rows_of(r, held)
    want = [first, first + 1, first + 2, first + 3]
    missing = [s for s in want if s not in rows]
    check(not missing, "'held': a row for every second from resume + 1 s", "missing %s, rows %s" % (missing, rows))
    early = [s for s in rows if s < t_resume]
    check(not early, "'held': no row for an instant before the resume (nothing caught up)",
          "early %s (resume at %.3f)" % (early, t_resume))
    late = [s for s in rows_of(r, live) if s >= math.ceil(t_pause + 1.0)]
    check(not late, "'live': no row at or after commit + 1 s of its pause (%.3f)" % t_pause, late)
    check(t.alive(), "tickd still running", t.proc.returncode)


rig.main(test)
