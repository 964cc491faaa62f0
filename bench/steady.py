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


STEADY_CRON = "* * * * * *"
OUTCOMES = ("ran", "failed", "skipped", "missed", "lost")


def steady_schema(r, n, prepare=None):
    """Migrates r's schema and adds the N every-second regions (s1..sN). `prepare(r)`, when
    given, runs after the migration (bench/history.py adds history)."""
    r.migrate()
    if prepare is not None:
        prepare(r)
    B.insert_regions(r, n, STEADY_CRON, prefix="s")


def counters(procs):
    """tickd_ticks_total by outcome, and tickd_claim_attempts_total as "attempts", summed over
    the tickd processes `procs`."""
    total = dict.fromkeys(OUTCOMES + ("attempts",), 0)
    for t in procs:
        s = t.metrics()
        for o in OUTCOMES:
            total[o] += metric(s, "tickd_ticks_total", outcome=o) or 0
        total["attempts"] += metric(s, "tickd_claim_attempts_total") or 0
    return total


def measure_window(r, procs, seconds):
    """The measured window over the tickd processes `procs` (all serving r's schema): it starts
    on the whole second 3 s from now and lasts `seconds`. Returns its start and end (Unix s),
    wall (s), counters (their changes over the window, summed over procs), cpu (CPU seconds of
    each process, in the order of procs), pg_cpu (CPU seconds of r's PostgreSQL cluster) and
    load (1-minute load average at its end); returns 3 s after its end, once the last
    instants' rows have finished."""
    start = int(time.time()) + 3
    end = start + seconds
    sleep_until(start)
    pm = P.postmaster_of(r)

    def reading():
        return counters(procs), [B.proc_cpu_seconds(t.proc.pid) for t in procs], P.cluster_cpu_seconds(pm), time.time()
    c0, cpu0, pg0, w0 = reading()
    sleep_until(end)
    c1, cpu1, pg1, w1 = reading()
    load = os.getloadavg()[0]
    time.sleep(3)  # the last instants' rows finish
    return {"start": start, "end": end, "wall": w1 - w0, "counters": {k: c1[k] - c0[k] for k in c0},
            "cpu": [b - a for a, b in zip(cpu0, cpu1)], "pg_cpu": pg1 - pg0, "load": load}


def window_rows(r, w):
    """(lateness seconds, status, replica_id) of each job_run row of window w's instants."""
    return r.sql("SELECT (details->>'lateness_seconds')::float8, status, replica_id FROM job_run "
                 "WHERE scheduled_for >= %s AND scheduled_for < %s", (B.utc(w["start"]), B.utc(w["end"])))


def lateness(rows):
    """The lateness histogram of window_rows' rows, and its p50, p99 and max in ms."""
    late = [row[0] for row in rows if row[0] is not None]
    hist = P.hist_from_seconds(late)
    return hist, P.hist_quantile_ms(hist, 50), P.hist_quantile_ms(hist, 99), max(late) * 1000 if late else float("nan")


def tickd_steady(tickd, n, seconds, prepare=None):
    """`prepare(r)`, when given, runs after the migration (bench/history.py adds history)."""
    r = rig.Rig(tickd)
    try:
        steady_schema(r, n, prepare)
        t = B.start_tickd(r, "steady", n)
        sampler = P.Sampler(t.proc.pid)
        w = measure_window(r, [t], seconds)
        rss = sampler.stop()
        rows = window_rows(r, w)
        hist, p50, p99, late_max = lateness(rows)
        P.save_dist("steady-%d-tickd" % n, "tickd", hist, n=n, seconds=seconds)
        expected = n * seconds
        not_ok = sum(1 for row in rows if row[1] != "ok")
        return {
            "system": "tickd", "N": n, "expected": expected, "ran": len(rows),
            "missed": expected - len(rows),
            "skipped+missed ctr": int(w["counters"]["skipped"] + w["counters"]["missed"]),
            "not ok": not_ok,
            "p50": p50, "p99": p99, "max": late_max,
            "cpu_pct": 100.0 * w["cpu"][0] / w["wall"],
            "pg_cpu_pct": 100.0 * w["pg_cpu"] / w["wall"],
            "rss": rss, "load": w["load"], "schedule_s": None,
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
