#!/usr/bin/env python3
"""The one-minute aligned burst side by side: N tasks '0 * * * * *' in tickd (one replica,
a large CONCURRENCY, handlers '{region}' without tick_sql), node-cron and croner, one system
at a time, each on its own next minute. Per system: runs for the instant, missed runs,
lateness p50/p99/max (tickd: job_run details->>'lateness_seconds'; peers: callback time
minus the instant), time until every run started, CPU seconds of the process from 1 s before
the instant until every run started (tickd: until every row is finished), largest RSS. Then
the ratios peer / tickd. Lateness distributions go to .cache/bench/ for bench/plot.py.

usage: bench/peers/burst.py TICKD [N ...] [--peers node-cron,croner]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import os
import sys
import time

import benchlib as B
import peerlib as P
from tickd_rig import rig
from tickd_rig.util import sleep_until, wait_for


def tickd_burst(tickd, n):
    r = rig.Rig(tickd)
    try:
        r.migrate()
        B.insert_regions(r, n, "0 * * * * *", prefix="m")
        t = B.start_tickd(r, "burst", n)
        sampler = P.Sampler(t.proc.pid)
        instant = B.next_minute_boundary()
        at = B.utc(instant)
        sleep_until(instant - 1)
        cpu0 = B.proc_cpu_seconds(t.proc.pid)
        try:
            wait_for(lambda: r.sql_value(
                "SELECT count(*) FROM job_run WHERE scheduled_for = %s AND status <> 'running'", (at,)) >= n,
                59, "all %d rows finished" % n, interval=0.1)
        except AssertionError as e:
            print("tickd burst N=%d: %s" % (n, e), file=sys.stderr)
        cpu = B.proc_cpu_seconds(t.proc.pid) - cpu0
        rss = sampler.stop()
        rows = r.sql("SELECT (details->>'lateness_seconds')::float8 FROM job_run WHERE scheduled_for = %s", (at,))
        late = [row[0] for row in rows if row[0] is not None]
        missed = sum(t.metric("tickd_ticks_total", outcome=o) or 0 for o in ("skipped", "missed"))
        hist = P.hist_from_seconds(late)
        P.save_dist("burst-%d-tickd" % n, "tickd", hist, n=n)
        return {"system": "tickd", "N": n, "ran": len(rows), "missed": n - len(rows), "ctr": int(missed),
                "p50": P.hist_quantile_ms(hist, 50), "p99": P.hist_quantile_ms(hist, 99),
                "max": max(late) * 1000 if late else float("nan"), "cpu_s": cpu, "rss": rss,
                "schedule_s": None, "load": os.getloadavg()[0]}
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def peer_burst(engine, n):
    res = P.run_engine(engine, "burst", n)
    P.save_dist("burst-%d-%s" % (n, engine), "%s %s" % (engine, res["version"]), res["late_hist"], n=n)
    return {"system": "%s %s" % (engine, res["version"]), "N": n, "ran": res["ran"], "missed": res["missed"],
            "ctr": res["missed_events"] if engine == "node-cron" else "-",
            "p50": P.hist_quantile_ms(res["late_hist"], 50), "p99": P.hist_quantile_ms(res["late_hist"], 99),
            "max": res["late_max_ms"], "cpu_s": res["cpu_s"], "rss": res["rss"],
            "schedule_s": res["schedule_s"], "load": os.getloadavg()[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("n", nargs="*", type=int, default=[1000, 10000])
    ap.add_argument("--peers", default="node-cron,croner")
    args = ap.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    results = []
    for n in args.n:
        print("minute burst: tickd N=%d ..." % n, file=sys.stderr, flush=True)
        results.append(tickd_burst(args.tickd, n))
        for engine in peers:
            print("minute burst: %s N=%d ..." % (engine, n), file=sys.stderr, flush=True)
            results.append(peer_burst(engine, n))
    print("One-minute aligned burst ('0 * * * * *'), one process per system\n")
    print(B.table(["system", "N", "ran", "missed", "dropped ctr", "p50 late", "p99 late", "max late (all started)",
                   "CPU s", "RSS", "schedule", "load"],
                  [[x["system"], "{:,}".format(x["N"]), "{:,}".format(x["ran"]),
                    "{:,} ({:.1f}%)".format(x["missed"], 100.0 * x["missed"] / x["N"]), x["ctr"],
                    P.fmt_late(x["p50"]), P.fmt_late(x["p99"]), P.fmt_late(x["max"]), "%.2f" % x["cpu_s"],
                    "%.0f MB" % (x["rss"] / 1e6),
                    "%.2f s" % x["schedule_s"] if x["schedule_s"] is not None else "-", "%.1f" % x["load"]]
                   for x in results]))
    if peers:
        print("\nRatios, peer / tickd (higher: tickd better)\n")
        rows = []
        for n in args.n:
            ours = next(x for x in results if x["N"] == n and x["system"] == "tickd")
            for x in results:
                if x["N"] == n and x is not ours:
                    rows.append([x["system"], "{:,}".format(n), P.ratio(x["p50"], ours["p50"]),
                                 P.ratio(x["p99"], ours["p99"]), P.ratio(x["max"], ours["max"]),
                                 P.ratio(x["cpu_s"], ours["cpu_s"]), P.ratio(x["rss"], ours["rss"])])
        print(B.table(["peer", "N", "p50 late", "p99 late", "all started", "CPU s", "RSS"], rows))


if __name__ == "__main__":
    main()
