#!/usr/bin/env python3
"""Hot apply at scale: with N regions scheduled, the time from an UPDATE's commit until
/status shows the new expression and its next instant (p50/p95 over 30 updates), and the
cost of a full reconcile of N rows when nothing changed (which must not re-arm timers), and
RSS once every region is scheduled and again after three or more such full reconciles.

usage: bench/hot_apply.py TICKD [N ...]"""

import argparse
import sys
import time

import benchlib as B
from tickd_rig import rig
from tickd_rig.util import metric, percentile, wait_for

SAMPLES = 30


def one(tickd, n):
    r = rig.Rig(tickd)
    try:
        r.migrate()
        B.insert_regions(r, n, "0 0 1 1 *")  # scheduled, but quiet: once a year
        t = r.start_tickd(name="a", LOG_LEVEL="warn", REGION_REFRESH_INTERVAL_MS=3600000)
        B.wait_scheduled(t, n)
        rss = B.proc_rss_bytes(t.proc.pid)
        code = "b%d" % (n // 2)
        latencies = []
        for i in range(SAMPLES):
            minute = 2 + i % 50
            cron = "%d 3 * * *" % minute
            r.sql("UPDATE region_index SET cron_schedule = %s WHERE code = %s", (cron, code))
            t0 = time.monotonic()  # autocommit: the UPDATE has committed
            while True:
                regions = t.get("/status?code=" + code)[1]
                if ('"cron_schedule": "%s"' % cron) in regions or ('"cron_schedule":"%s"' % cron) in regions:
                    if (":%02d:00Z" % minute) in regions:
                        break
                if time.monotonic() - t0 > 5:
                    raise AssertionError("update %d not applied within 5 s: %s" % (i, regions))
                time.sleep(0.001)
            latencies.append(time.monotonic() - t0)
        t.close()

        # A second replica that does a full pass every 2 s: the no-change reconcile cost.
        t2 = r.start_tickd(name="full", LOG_LEVEL="info", REGION_REFRESH_INTERVAL_MS=2000)
        B.wait_scheduled(t2, n)
        def reconcile_stats():
            s = t2.metrics()
            return (metric(s, "tickd_reconcile_duration_seconds_sum") or 0,
                    metric(s, "tickd_reconcile_duration_seconds_count") or 0)
        sum0, count0 = reconcile_stats()
        wait_for(lambda: reconcile_stats()[1] >= count0 + 3, 60, "three full reconciles", interval=0.2)
        sum1, count1 = reconcile_stats()
        full = (sum1 - sum0) / (count1 - count0)
        # Memory must not grow with each full read of the N rows.
        rss_after = B.proc_rss_bytes(t2.proc.pid)
        # The first full pass adds every region; any later "reconciled (full)" line means a
        # no-change pass touched timers.
        rearmed = t2.log().count("reconciled (full)") > 1
        return {
            "N": n, "hot apply p50": B.fmt_ms(percentile(latencies, 50)),
            "hot apply p95": B.fmt_ms(percentile(latencies, 95)),
            "hot apply max": B.fmt_ms(max(latencies)),
            "no-change full reconcile": B.fmt_ms(full),
            "timers re-armed by it": "yes" if rearmed else "no",
            "RSS": "%.0f MB" % (rss / 1e6), "RSS/region": "%.0f B" % (rss / n),
            "RSS/region after 3+ full passes": "%.0f B" % (rss_after / n),
        }
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("n", nargs="*", type=int, default=[1000, 100000])
    args = ap.parse_args()
    results = []
    for n in args.n:
        print("hot apply: N=%d ..." % n, file=sys.stderr, flush=True)
        results.append(one(args.tickd, n))
    headers = list(results[0].keys())
    print(B.table(headers, [[res[h] for h in headers] for res in results]))


if __name__ == "__main__":
    main()
