#!/usr/bin/env python3
"""Steady per-second load: N regions '* * * * * *' on one tickd replica (a large
CONCURRENCY) for SECONDS seconds, next to node-cron and croner running N per-second tasks
in one node process each, one system at a time, in the same run.

Per system: missed runs (expected (task, second) pairs minus runs; for tickd the job_run rows
of the window, plus its skipped/missed counters), lateness p50/p99/max (tickd: job_run
details->>'lateness_seconds', handler start minus the instant; peers: callback time minus
the instant), CPU % of the process over the window (from /proc; for tickd also its
PostgreSQL cluster's), largest RSS, and the 1-minute load average of the machine. Then the
ratios peer / tickd. Lateness distributions go to .cache/bench/ for bench/plot.py.

usage: bench/steady.py TICKD [N ...] [--seconds 60] [--peers node-cron,croner]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import os
import sys
import time

import benchlib as B
import peerlib as P
from tickd_rig import rig
from tickd_rig.util import metric, sleep_until


def tickd_steady(tickd, n, seconds, prepare=None):
    """`prepare(r)`, when given, runs after the migration (bench/history.py adds history)."""
    r = rig.Rig(tickd)
    try:
        r.migrate()
        if prepare is not None:
            prepare(r)
        B.insert_regions(r, n, "* * * * * *", prefix="s")
        t = B.start_tickd(r, "steady", n)
        sampler = P.Sampler(t.proc.pid)
        start = int(time.time()) + 3
        end = start + seconds

        def counters():
            s = t.metrics()
            return {o: metric(s, "tickd_ticks_total", outcome=o) or 0
                    for o in ("ran", "failed", "skipped", "missed", "lost")}
        sleep_until(start)
        pm = P.postmaster_of(r)
        c0, cpu0, pg0, w0 = counters(), B.proc_cpu_seconds(t.proc.pid), P.cluster_cpu_seconds(pm), time.time()
        sleep_until(end)
        c1, cpu1, pg1, w1 = counters(), B.proc_cpu_seconds(t.proc.pid), P.cluster_cpu_seconds(pm), time.time()
        load = os.getloadavg()[0]
        time.sleep(3)  # the last instants' rows finish
        rss = sampler.stop()
        rows = r.sql("SELECT (details->>'lateness_seconds')::float8, status FROM job_run "
                     "WHERE scheduled_for >= %s AND scheduled_for < %s", (B.utc(start), B.utc(end)))
        late = [row[0] for row in rows if row[0] is not None]
        hist = P.hist_from_seconds(late)
        P.save_dist("steady-%d-tickd" % n, "tickd", hist, n=n, seconds=seconds)
        expected = n * seconds
        not_ok = sum(1 for row in rows if row[1] != "ok")
        return {
            "system": "tickd", "N": n, "expected": expected, "ran": len(rows),
            "missed": expected - len(rows),
            "skipped+missed ctr": int(c1["skipped"] - c0["skipped"] + c1["missed"] - c0["missed"]),
            "not ok": not_ok,
            "p50": P.hist_quantile_ms(hist, 50), "p99": P.hist_quantile_ms(hist, 99),
            "max": max(late) * 1000 if late else float("nan"),
            "cpu_pct": 100.0 * (cpu1 - cpu0) / (w1 - w0),
            "pg_cpu_pct": 100.0 * (pg1 - pg0) / (w1 - w0),
            "rss": rss, "load": load, "schedule_s": None,
        }
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def peer_steady(engine, n, seconds):
    res = P.run_engine(engine, "steady", n, seconds)
    P.save_dist("steady-%d-%s" % (n, engine), "%s %s" % (engine, res["version"]), res["late_hist"],
                n=n, seconds=seconds)
    return {
        "system": "%s %s" % (engine, res["version"]), "N": n, "expected": res["expected"],
        "ran": res["ran"], "missed": res["missed"],
        "skipped+missed ctr": res["missed_events"] if engine == "node-cron" else "-",
        "not ok": "-",
        "p50": P.hist_quantile_ms(res["late_hist"], 50), "p99": P.hist_quantile_ms(res["late_hist"], 99),
        "max": res["late_max_ms"], "cpu_pct": res["cpu_pct"], "pg_cpu_pct": None,
        "rss": res["rss"], "load": os.getloadavg()[0], "schedule_s": res["schedule_s"],
    }


def row(res):
    return [res["system"], "{:,}".format(res["N"]), "{:,}".format(res["expected"]), "{:,}".format(res["ran"]),
            "{:,} ({:.2f}%)".format(res["missed"], 100.0 * res["missed"] / max(res["expected"], 1)),
            res["skipped+missed ctr"], P.fmt_late(res["p50"]), P.fmt_late(res["p99"]), P.fmt_late(res["max"]),
            "%.0f%%" % res["cpu_pct"] + (" (+PG %.0f%%)" % res["pg_cpu_pct"] if res["pg_cpu_pct"] is not None else ""),
            "%.0f MB" % (res["rss"] / 1e6),
            "%.2f s" % res["schedule_s"] if res["schedule_s"] is not None else "-", "%.1f" % res["load"]]


HEADERS = ["system", "N", "expected", "ran", "missed", "skipped+missed ctr", "p50 late", "p99 late",
           "max late", "CPU", "RSS", "schedule", "load"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("n", nargs="*", type=int, default=[1000, 10000])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--peers", default="node-cron,croner", help="comma-separated; '' for none")
    args = ap.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    results = []
    for n in args.n:
        print("steady: tickd N=%d for %d s ..." % (n, args.seconds), file=sys.stderr, flush=True)
        results.append(tickd_steady(args.tickd, n, args.seconds))
        for engine in peers:
            print("steady: %s N=%d for %d s ..." % (engine, n, args.seconds), file=sys.stderr, flush=True)
            results.append(peer_steady(engine, n, args.seconds))
    print("Steady per-second load, %d s window, one process per system\n" % args.seconds)
    print(B.table(HEADERS, [row(res) for res in results]))
    if peers:
        print("\nRatios, peer / tickd (higher: tickd better)\n")
        ratios = []
        for n in args.n:
            ours = next(x for x in results if x["N"] == n and x["system"] == "tickd")
            for res in results:
                if res["N"] != n or res is ours:
                    continue
                ratios.append([res["system"], "{:,}".format(n), P.ratio(res["p50"], ours["p50"]),
                               P.ratio(res["p99"], ours["p99"]), P.ratio(res["cpu_pct"], ours["cpu_pct"]),
                               P.ratio(res["rss"], ours["rss"]),
                               "%s vs %s" % ("{:,}".format(res["missed"]), "{:,}".format(ours["missed"]))])
        print(B.table(["peer", "N", "p50 late", "p99 late", "CPU (tickd alone)", "RSS", "missed (peer vs tickd)"],
                      ratios))
    for res in results:
        if res["system"] == "tickd":
            print("\ntickd N=%d: RSS per region %.0f bytes" % (res["N"], res["rss"] / res["N"]))


if __name__ == "__main__":
    main()
