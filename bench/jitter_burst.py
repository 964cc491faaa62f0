#!/usr/bin/env python3
"""An aligned burst spread by jitter: N regions due on the same instant ('0 * * * * *') with
jitter_ms = JITTER, handlers '{region}' without tick_sql, one replica. Prints how many handler
starts fall in each second after the instant (from job_run: started_at is the claim, made at
the jittered start), the spread of those counts against an even split, and lateness from the
jittered start (p50/p99/max, details->>'lateness_seconds').

usage: bench/jitter_burst.py TICKD [N] [--jitter-ms 10000]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse

import benchlib as B
from tickd_rig import rig
from tickd_rig.util import percentile, wait_for


def burst(tickd, n, jitter_ms):
    r = rig.Rig(tickd)
    try:
        r.migrate()
        B.insert_regions(r, n, "0 * * * * *")
        r.sql("UPDATE region_index SET jitter_ms = %s", [jitter_ms])
        t = B.start_tickd(r, "j", n, wait=False, MISFIRE_GRACE_MS=60000)
        B.wait_scheduled(t, n)
        instant = B.next_minute_boundary()
        at = B.utc(instant)
        wait_for(lambda: r.sql_value(
            "SELECT count(*) FROM job_run WHERE scheduled_for = %s AND status <> 'running'", (at,)) >= n,
            70 + jitter_ms / 1000 + n / 500, "all %d rows finished" % n, interval=0.5)
        rows = r.sql("SELECT extract(epoch FROM started_at) - %s, (details->>'lateness_seconds')::float8 "
                     "FROM job_run WHERE scheduled_for = %s", (instant, at))
        seconds = (jitter_ms + 999) // 1000
        per_second = [0] * (seconds + 1)  # the last bucket: at or after the window's end
        for started, _ in rows:
            per_second[min(max(int(float(started)), 0), seconds)] += 1
        late = [float(x[1]) for x in rows if x[1] is not None]
        even = n / seconds
        spread = max(abs(c - even) for c in per_second[:seconds]) / even
        skipped = (t.metric("tickd_ticks_total", outcome="skipped") or 0) + \
            (t.metric("tickd_ticks_total", outcome="missed") or 0)
        print(B.table(["second after the instant", "handler starts"],
                      [["%d-%d s" % (i, i + 1), c] for i, c in enumerate(per_second[:seconds])] +
                      [[">= %d s" % seconds, per_second[seconds]]]))
        print()
        print(B.table(["N", "jitter_ms", "rows", "skipped+missed", "largest deviation from N/%d" % seconds,
                       "late p50", "late p99", "late max"],
                      [[n, jitter_ms, len(rows), int(skipped), "%.1f%%" % (100 * spread),
                        B.fmt_ms(percentile(late, 50)), B.fmt_ms(percentile(late, 99)), B.fmt_ms(max(late))]]))
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("n", nargs="?", type=int, default=10000)
    ap.add_argument("--jitter-ms", type=int, default=10000)
    args = ap.parse_args()
    burst(args.tickd, args.n, args.jitter_ms)


if __name__ == "__main__":
    main()
