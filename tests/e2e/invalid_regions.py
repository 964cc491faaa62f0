"""Invalid regions: a bad cron expression, zone or handler name is refused with a warning naming
the region's code and the error, listed in /status "invalid", counted by
tickd_invalid_schedules; every other region runs on; fixing the row schedules it without restart.
"""
import math
import re
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

# code -> (columns, words the error must contain, the fix)
BAD = {
    "bad-cron": (dict(cron="61 * * * *"), ["61"], "cron_schedule = '* * * * * *'"),
    "bad-zone": (dict(cron="* * * * * *", timezone="Mars/Base"), ["Mars/Base"], "timezone = 'Europe/Berlin'"),
    "bad-handler": (dict(cron="* * * * * *", handlers=["region", "nope"]), ["nope"], "handlers = '{region}'"),
    "no-handler": (dict(cron="* * * * * *", handlers=[]), ["handler"], "handlers = '{region}'"),
}


def rows_of(r, region_id, since=0):
    return [x[0] for x in r.sql("SELECT extract(epoch FROM scheduled_for)::bigint FROM job_run "
                                "WHERE region_id = %s AND scheduled_for >= to_timestamp(%s) ORDER BY 1",
                                [region_id, since])]


def warning_lines(log, code):
    return [line for line in log.splitlines()
            if re.search(r"\bwarn", line, re.I) and code in line]


def test(r):
    ids = {}
    for code, (cols, _, _) in BAD.items():
        cols = dict(cols)
        ids[code] = r.add_region(code, cols.pop("cron"), **cols)
    good = r.add_region("good", "* * * * * *")
    turns_bad = r.add_region("turns-bad", "* * * * * *")
    t = r.start_tickd("a", REGION_REFRESH_INTERVAL_MS=600000)

    # Refused, each with its reason; the log warns naming the code.
    invalid = wait_for(lambda: (lambda inv: inv if len(inv) == len(BAD) else None)(t.status_invalid()), 3,
                       "/status invalid lists the %d bad regions" % len(BAD))
    check(sorted(invalid) == sorted(BAD), "/status invalid: exactly %s" % sorted(BAD), sorted(invalid))
    log = t.log()
    for code, (_, words, _) in BAD.items():
        err = invalid[code]["error"]
        for w in words:
            check(w.lower() in err.lower(), "%s: error naming %r" % (code, w), repr(err))
        lines = warning_lines(log, code)
        check(lines and all(w.lower() in lines[0].lower() for w in words),
              "a warning line naming region %r and %s" % (code, words), lines or "no such line")
    check(t.metric("tickd_invalid_schedules") == len(BAD), "tickd_invalid_schedules %d" % len(BAD),
          t.metric("tickd_invalid_schedules"))
    check(t.metric("tickd_schedules") == 2, "tickd_schedules 2 (good, turns-bad)", t.metric("tickd_schedules"))
    regs = t.status_regions()
    check(sorted(regs) == ["good", "turns-bad"], "/status regions: good, turns-bad", sorted(regs))
    status, _, _ = t.get("/readyz")
    check(status == 200, "/readyz 200 despite invalid regions", status)

    # The good region runs; the bad ones do not.
    wait_for(lambda: len(rows_of(r, good)) >= 2, 4, "two rows for 'good'")
    for code, rid in ids.items():
        check(not rows_of(r, rid), "no job_run rows for %s" % code, rows_of(r, rid))

    # A valid region made invalid by an UPDATE stops and is listed.
    t_bad = time.time()
    r.sql("UPDATE region_index SET cron_schedule = '*/5 * * * * * *' WHERE id = %s", [turns_bad])
    t_bad_done = time.time()
    wait_for(lambda: "turns-bad" in t.status_invalid() and "turns-bad" not in t.status_regions(), 1.0,
             "'turns-bad' moves to /status invalid within 1 s of its UPDATE")
    check(t.metric("tickd_invalid_schedules") == len(BAD) + 1, "tickd_invalid_schedules %d" % (len(BAD) + 1),
          t.metric("tickd_invalid_schedules"))
    wait_for(lambda: warning_lines(t.log(), "turns-bad"), 1, "a warning naming 'turns-bad'")

    # Fix every row: scheduled without restart, rows follow.
    t_fix = time.time()
    for code, (_, _, fix) in BAD.items():
        r.sql("UPDATE region_index SET %s WHERE id = %%s" % fix, [ids[code]])
    t_fix_done = time.time()
    wait_for(lambda: not (set(BAD) & set(t.status_invalid())), max(0.05, t_fix_done + 1.0 - time.time()),
             "the fixed regions leave /status invalid within 1 s")
    check(t.metric("tickd_invalid_schedules") == 1, "tickd_invalid_schedules 1 (turns-bad) after the fixes",
          t.metric("tickd_invalid_schedules"))
    check(t.metric("tickd_schedules") == len(BAD) + 1, "tickd_schedules %d after the fixes" % (len(BAD) + 1),
          t.metric("tickd_schedules"))
    first = math.ceil(t_fix_done + 1.0)
    time.sleep(max(0.0, first + 2.7 - time.time()))
    for code, rid in ids.items():
        rows = rows_of(r, rid)
        want = [first, first + 1, first + 2]
        missing = [s for s in want if s not in rows]
        check(not missing, "%s: rows for every second from fix commit + 1 s" % code,
              "missing %s, rows %s" % (missing, rows))
        check(all(s >= math.floor(t_fix) for s in rows), "%s: no row before the fix" % code, rows)
    late = rows_of(r, turns_bad, since=math.ceil(t_bad_done + 1.0))
    check(not late, "'turns-bad': no rows at or after commit + 1 s of the bad UPDATE (%.3f)" % (t_bad + 1), late)
    # The good region ran all along: no gap.
    rows = rows_of(r, good)
    gaps = [(a, b) for a, b in zip(rows, rows[1:]) if b - a != 1]
    check(not gaps, "'good' ran every second throughout", "gaps %s" % gaps)
    check(t.alive(), "tickd still running", t.proc.returncode)


rig.main(test)
