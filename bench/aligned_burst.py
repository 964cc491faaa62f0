#!/usr/bin/env python3
"""Aligned bursts: N regions due on the same instant ('0 * * * * *'), handlers '{region}'
without tick_sql, one or more replicas with a large CONCURRENCY. Prints, per (N, replicas):
time from the instant until every tick is claimed and until every row is finished,
claims/s, lateness p50/p99/max (job_run and the histogram), RSS and CPU seconds per tick.

usage: bench/aligned_burst.py TICKD [N ...] [--replicas 1,3]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import sys

import benchlib as B
from tickd_rig import rig
from tickd_rig.util import percentile, wait_for


def one_burst(tickd, n, replicas):
    r = rig.Rig(tickd)
    try:
        r.migrate()
        B.insert_regions(r, n, "0 * * * * *")
        procs = [B.start_tickd(r, "r%d" % i, n, wait=False, MISFIRE_GRACE_MS=60000) for i in range(replicas)]
        for t in procs:
            B.wait_scheduled(t, n)
        instant = B.next_minute_boundary()
        wait_for(lambda: B.time.time() > instant - 2, 70, "the burst's minute", interval=0.2)
        cpu0 = {t.proc.pid: B.proc_cpu_seconds(t.proc.pid) for t in procs}
        attempts0 = sum(t.metric("tickd_claim_attempts_total") or 0 for t in procs)
        missed0 = sum((t.metric("tickd_ticks_total", outcome="missed") or 0) +
                      (t.metric("tickd_ticks_total", outcome="skipped") or 0) for t in procs)
        at = B.utc(instant)
        wait_for(lambda: r.sql_value(
            "SELECT count(*) FROM job_run WHERE scheduled_for = %s AND status <> 'running'", (at,)) >= n,
            60 + n / 500, "all %d rows finished" % n, interval=0.25)
        cpu = sum(B.proc_cpu_seconds(t.proc.pid) - cpu0[t.proc.pid] for t in procs)
        rss = max(B.proc_rss_bytes(t.proc.pid) for t in procs)
        rows = r.sql(
            "SELECT extract(epoch FROM started_at) - %s, extract(epoch FROM finished_at) - %s, "
            "(details->>'lateness_seconds')::float8, status FROM job_run WHERE scheduled_for = %s",
            (instant, instant, at))
        claimed = [float(row[0]) for row in rows]
        finished = [float(row[1]) for row in rows]
        late = [row[2] for row in rows if row[2] is not None]
        missed = sum((t.metric("tickd_ticks_total", outcome="missed") or 0) +
                     (t.metric("tickd_ticks_total", outcome="skipped") or 0) for t in procs) - missed0
        attempts = sum(t.metric("tickd_claim_attempts_total") or 0 for t in procs) - attempts0
        hist_p99 = max(B.histogram_quantile(t.metrics(), "tickd_tick_lateness_seconds", 0.99)
                       for t in procs)
        span = max(claimed) - min(claimed)
        return {
            "N": n, "replicas": replicas, "rows": len(rows),
            "all claimed": B.fmt_ms(max(claimed)), "all finished": B.fmt_ms(max(finished)),
            "claims/s": "%.0f" % (len(rows) / span if span > 0 else float("inf")),
            "late p50": B.fmt_ms(percentile(late, 50)), "late p99": B.fmt_ms(percentile(late, 99)),
            "late max": B.fmt_ms(max(late)), "hist p99": B.fmt_ms(hist_p99),
            "skipped+missed": int(missed), "attempts/tick": "%.2f" % (attempts / max(len(rows), 1)),
            "RSS": "%.0f MB" % (rss / 1e6), "CPU/tick": "%.0f us" % (cpu / max(len(rows), 1) * 1e6),
        }
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("n", nargs="*", type=int, default=[1000, 20000, 100000])
    ap.add_argument("--replicas", default="1,3")
    args = ap.parse_args()
    results = []
    for n in args.n:
        for replicas in [int(x) for x in args.replicas.split(",")]:
            print("burst: N=%d replicas=%d ..." % (n, replicas), file=sys.stderr, flush=True)
            results.append(one_burst(args.tickd, n, replicas))
    headers = list(results[0].keys())
    print(B.table(headers, [[res[h] for h in headers] for res in results]))


if __name__ == "__main__":
    main()
