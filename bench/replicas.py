#!/usr/bin/env python3
"""The steady load on 1, 2 and 3 replicas (issue 17, item 5): bench/steady.py's N regions
'* * * * * *' (one tick per region per second) served by K replicas of tickd against the same
PostgreSQL, for each K of --replicas, one configuration after the other in the same run, each
in a fresh schema (its job_run empty, as in steady.py).

Per configuration, over the same window as steady.py (SECONDS seconds from a whole second,
3 s after every replica has its regions scheduled):

- expected (N x SECONDS) against ran (the job_run rows of the window's instants), missed
  (expected minus ran), the skipped+missed and lost counters summed over the replicas (lost:
  a replica found the tick claimed by another, its owner; K - 1 per tick on a healthy set of
  K), and rows not ok;
- duplicates: (region, instant) pairs with more than one row (0 by the unique key, counted
  anyway);
- lateness p50/p99/max (job_run details->>'lateness_seconds', handler start minus instant);
- CPU % of each replica and their sum, and of the PostgreSQL cluster (every process of it,
  bench/peerlib.py's cluster_cpu_seconds), over the window; CPU milliseconds per 1,000 ticks,
  tickd's sum plus PostgreSQL's; claim attempts per tick (tickd_claim_attempts_total, summed
  over the replicas, over the rows);
- how the rows split over the replicas (job_run.replica_id), with each replica's CPU, p99
  lateness and largest RSS in a second table;
- PostgreSQL: WAL bytes per tick and per second (pg_current_wal_lsn from before the window's
  lead to after its tail, over the rows of the instants in that span), the replicas' backends,
  autovacuum/autoanalyze runs and dead/live rows of job_run's partitions, and their size
  (heap, indexes, TOAST) per row at the end, dead versions included.

Then the ratios of each configuration to the first one of 1 replica (or to the first one
given). The machine's other load skews CPU figures: see the load column.

usage: bench/replicas.py TICKD [--regions 10000] [--seconds 60] [--replicas 1,2,3]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import sys
import time

import benchlib as B
import peerlib as P
import steady as S
from tickd_rig import rig


def one_configuration(tickd, n, seconds, replicas):
    r = rig.Rig(tickd)
    try:
        S.steady_schema(r, n)
        procs = B.start_replicas(r, replicas, n)
        samplers = [P.Sampler(t.proc.pid) for t in procs]
        lsn0, t0 = r.sql_value("SELECT pg_current_wal_lsn()::text"), time.time()
        w = S.measure_window(r, procs, seconds)
        rss = [s.stop() for s in samplers]
        # WAL from before the window's lead to after its tail, over the rows of the instants
        # in that span (the edges roughly cancel: claims are made up to CLAIM_AHEAD_MS early).
        wal, span_rows = r.sql(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn), (SELECT count(*) FROM job_run "
            "WHERE scheduled_for >= %s AND scheduled_for < %s)", (lsn0, B.utc(t0), B.utc(time.time())))[0]
        # History's size: every day partition of job_run (heap, indexes, TOAST) over its rows.
        history_bytes, history_rows = r.sql(
            "SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'job_run'::regclass), (SELECT count(*) FROM job_run)")[0]
        backends = r.sql_value("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s",
                               (r.schema + "-%",))
        vacuum = r.sql("SELECT coalesce(sum(autovacuum_count), 0), coalesce(sum(autoanalyze_count), 0), "
                       "coalesce(sum(n_dead_tup), 0), coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables "
                       "WHERE schemaname = %s AND relname LIKE 'job\\_run%%'", (r.schema,))[0]
        rows = S.window_rows(r, w)
        window = (B.utc(w["start"]), B.utc(w["end"]))
        duplicates = r.sql_value(
            "SELECT count(*) FROM (SELECT 1 FROM job_run WHERE scheduled_for >= %s AND scheduled_for < %s "
            "GROUP BY region_id, scheduled_for HAVING count(*) > 1) d", window)
        _, p50, p99, late_max = S.lateness(rows)
        per = []
        for t, cpu, peak in zip(procs, w["cpu"], rss):
            mine = [row for row in rows if row[2] == t.replica_id]
            per.append({"name": t.name, "rows": len(mine), "cpu_pct": 100.0 * cpu / w["wall"],
                        "p99": S.lateness(mine)[2], "rss": peak})
        others = len(rows) - sum(p["rows"] for p in per)  # rows of no replica of this set: none expected
        c = w["counters"]
        tickd_cpu, pg_cpu = sum(w["cpu"]), w["pg_cpu"]
        return {
            "replicas": replicas, "N": n, "expected": n * seconds, "ran": len(rows),
            "missed": n * seconds - len(rows), "ctr": int(c["skipped"] + c["missed"]), "lost": int(c["lost"]),
            "duplicates": duplicates, "not ok": sum(1 for row in rows if row[1] != "ok"), "others": others,
            "p50": p50, "p99": p99, "max": late_max,
            "tickd_pct": 100.0 * tickd_cpu / w["wall"], "pg_pct": 100.0 * pg_cpu / w["wall"],
            # CPU milliseconds per 1,000 ticks: CPU seconds x 1,000 ms x 1,000 ticks / rows.
            "tickd_per_1k": 1e6 * tickd_cpu / max(len(rows), 1), "pg_per_1k": 1e6 * pg_cpu / max(len(rows), 1),
            "attempts": c["attempts"] / max(len(rows), 1), "per": per, "load": w["load"],
            "wal_per_tick": float(wal) / max(span_rows, 1), "wal_mb_s": float(wal) / 1e6 / (time.time() - t0),
            "backends": backends, "autovacuum": vacuum[0], "autoanalyze": vacuum[1], "dead": vacuum[2],
            "live": vacuum[3], "row_bytes": float(history_bytes or 0) / max(history_rows, 1),
        }
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def split(res):
    return " / ".join("%.0f%%" % (100.0 * p["rows"] / max(res["ran"], 1)) for p in res["per"])


def row(res):
    return [res["replicas"], "{:,}".format(res["N"]), "{:,}".format(res["expected"]), "{:,}".format(res["ran"]),
            "{:,} ({:.2f}%)".format(res["missed"], 100.0 * res["missed"] / max(res["expected"], 1)),
            res["ctr"], res["lost"], res["duplicates"], res["not ok"],
            P.fmt_late(res["p50"]), P.fmt_late(res["p99"]), P.fmt_late(res["max"]),
            " + ".join("%.0f%%" % p["cpu_pct"] for p in res["per"]), "%.0f%%" % res["tickd_pct"],
            "%.0f%%" % res["pg_pct"],
            "%.0f ms (%.0f + %.0f)" % (res["tickd_per_1k"] + res["pg_per_1k"], res["tickd_per_1k"], res["pg_per_1k"]),
            "%.2f" % res["attempts"], split(res), "%.1f" % res["load"]]


HEADERS = ["replicas", "N", "expected", "ran", "missed", "skipped+missed ctr", "lost ctr", "duplicates",
           "not ok", "p50 late", "p99 late", "max late", "tickd CPU (each)", "tickd CPU", "PG CPU",
           "CPU per 1,000 ticks (tickd + PG)", "claim attempts/tick", "rows per replica", "load"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("--regions", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--replicas", default="1,2,3")
    args = ap.parse_args()
    results = []
    for k in [int(x) for x in args.replicas.split(",")]:
        print("replicas: %d replica(s), N=%d for %d s ..." % (k, args.regions, args.seconds),
              file=sys.stderr, flush=True)
        results.append(one_configuration(args.tickd, args.regions, args.seconds, k))
    print("Steady per-second load on %s replicas, %s regions, %d s window, one PostgreSQL\n"
          % (args.replicas, "{:,}".format(args.regions), args.seconds))
    print(B.table(HEADERS, [row(res) for res in results]))
    print("\nPer replica\n")
    print(B.table(["replicas", "replica", "rows", "share", "CPU", "p99 late", "RSS"],
                  [[res["replicas"], p["name"], "{:,}".format(p["rows"]),
                    "%.1f%%" % (100.0 * p["rows"] / max(res["ran"], 1)), "%.0f%%" % p["cpu_pct"],
                    P.fmt_late(p["p99"]), "%.0f MB" % (p["rss"] / 1e6)]
                   for res in results for p in res["per"]]))
    print("\nPostgreSQL (WAL with this cluster's settings; autovacuum and dead rows: job_run's partitions, "
          "since the configuration's start)\n")
    print(B.table(["replicas", "WAL per tick", "WAL", "backends", "autovacuum runs", "autoanalyze runs",
                   "dead / live rows at the end", "job_run bytes per row"],
                  [[res["replicas"], "%.0f B" % res["wal_per_tick"], "%.1f MB/s" % res["wal_mb_s"], res["backends"],
                    res["autovacuum"], res["autoanalyze"], "{:,} / {:,}".format(res["dead"], res["live"]),
                    "%.0f B" % res["row_bytes"]]
                   for res in results]))
    strays = sum(res["others"] for res in results)
    if strays:
        print("\nwarning: %d rows of the windows name no replica of their set" % strays)
    base = next((x for x in results if x["replicas"] == 1), results[0])
    if len(results) < 2:
        return
    print("\nRatios, K replicas / %d replica(s) (above 1x: K replicas cost more or are later)\n" % base["replicas"])
    print(B.table(["replicas", "tickd CPU", "PG CPU", "CPU per 1,000 ticks", "p50 late", "p99 late",
                   "claim attempts/tick"],
                  [[res["replicas"], P.ratio(res["tickd_pct"], base["tickd_pct"]), P.ratio(res["pg_pct"], base["pg_pct"]),
                    P.ratio(res["tickd_per_1k"] + res["pg_per_1k"], base["tickd_per_1k"] + base["pg_per_1k"]),
                    P.ratio(res["p50"], base["p50"]), P.ratio(res["p99"], base["p99"]),
                    P.ratio(res["attempts"], base["attempts"])]
                   for res in results if res is not base]))


if __name__ == "__main__":
    main()
