#!/usr/bin/env python3
"""pg_cron side by side: K jobs '* * * * *' running 'SELECT 1' in pg_cron (Debian
postgresql-15-cron, installed here when missing) on its own throwaway cluster started here
(shared_preload_libraries = 'pg_cron'), against tickd with K regions '* * * * *' whose
tick_sql is 'SELECT 1' (one replica, on bench/run's cluster). Both clusters get the same
settings (scripts/lib/pg.sh: fsync and synchronous_commit off); pg_cron keeps its defaults
(cron.max_running_jobs = 32, a libpq connection per run).

Per system and K, over MINUTES whole minutes: runs, runs missing, start lateness p50/p99/max
(pg_cron: cron.job_run_details start_time minus the minute; tickd: job_run
details->>'lateness_seconds', handler start minus the instant), CPU seconds per minute of the
scheduler process plus its cluster's (pg_cron runs inside PostgreSQL), and the ratios
pg_cron / tickd. Lateness distributions go to .cache/bench/ for bench/plot.py.

usage: bench/pg_cron.py TICKD [K ...] [--minutes 2]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import psycopg2

import benchlib as B
import peerlib as P
from tickd_rig import rig
from tickd_rig.util import sleep_until, wait_for

CONTROL = "/usr/share/postgresql/15/extension/pg_cron.control"


def ensure_pg_cron():
    if not os.path.exists(CONTROL):
        B.apt_install("postgresql-15-cron")


def sh(script):
    return subprocess.run(["bash", "-c", "set -e; source scripts/lib/pg.sh; " + script], cwd=P.ROOT,
                          check=True, capture_output=True, text=True).stdout.strip()


class PgCronCluster:
    """A throwaway cluster of its own with pg_cron preloaded."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="tickd-pgcron.")
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = os.path.join(self.root, "data")
        self.port = int(sh("pg_free_port"))
        # First start: initdb and pg.sh's settings; then pg_cron's, and a restart.
        sh("pg_start_cluster %s %d && pg_stop_cluster %s" % (self.data, self.port, self.data))
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("shared_preload_libraries = 'pg_cron'\n"
                    "cron.database_name = 'postgres'\n"
                    "cron.host = '127.0.0.1'\n")
        sh("pg_start_cluster %s %d" % (self.data, self.port))
        self.conn = psycopg2.connect("postgresql://postgres@127.0.0.1:%d/postgres" % self.port)
        self.conn.autocommit = True
        self.sql("CREATE EXTENSION pg_cron")
        self.postmaster = int(open(os.path.join(self.data, "postmaster.pid")).readline())
        self.version = self.sql("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'")[0][0]

    def sql(self, statement, params=None):
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass
        sh("pg_stop_cluster %s immediate" % self.data)
        shutil.rmtree(self.root, ignore_errors=True)


def window(minutes):
    """[start, end) of the next MINUTES whole minutes, the first at least 5 s away."""
    start = B.next_minute_boundary(min_lead=5.0)
    return start, start + 60 * minutes


def summary(system, k, minutes, late, cpu_s):
    hist = P.hist_from_seconds(late)
    return {"system": system, "K": k, "expected": k * minutes, "ran": len(late),
            "p50": P.hist_quantile_ms(hist, 50), "p99": P.hist_quantile_ms(hist, 99),
            "max": max(late) * 1000 if late else float("nan"), "cpu_per_min": cpu_s / minutes,
            "hist": hist, "load": os.getloadavg()[0]}


def pg_cron_run(c, k, minutes):
    c.sql("SELECT cron.unschedule(jobid) FROM cron.job")
    c.sql("TRUNCATE cron.job_run_details")
    c.sql("SELECT cron.schedule('bench' || g, '* * * * *', 'SELECT 1') FROM generate_series(1, %s) g", (k,))
    start, end = window(minutes)
    sleep_until(start - 1)
    cpu0 = P.cluster_cpu_seconds(c.postmaster)
    sleep_until(end - 1)  # the runs of the last minute in the window are done by then, or late
    cpu1 = P.cluster_cpu_seconds(c.postmaster)
    c.sql("SELECT cron.unschedule(jobid) FROM cron.job")
    # Runs still starting for the window's minutes: give them up to 60 s.
    deadline = time.time() + 60
    while time.time() < deadline and c.sql(
            "SELECT count(*) FROM cron.job_run_details WHERE status IN ('starting', 'connecting', 'sending', 'running')")[0][0]:
        time.sleep(0.5)
    rows = c.sql("SELECT extract(epoch FROM start_time - date_trunc('minute', start_time))::float8 "
                 "FROM cron.job_run_details WHERE date_trunc('minute', start_time) >= %s "
                 "AND date_trunc('minute', start_time) < %s", (B.utc(start), B.utc(end)))
    failed = c.sql("SELECT count(*) FROM cron.job_run_details WHERE status <> 'succeeded'")[0][0]
    res = summary("pg_cron %s" % c.version, k, minutes, [row[0] for row in rows], cpu1 - cpu0)
    res["failed"] = failed
    return res


def tickd_run(tickd, k, minutes):
    r = rig.Rig(tickd)
    try:
        r.migrate()
        B.insert_regions(r, k, "* * * * *", prefix="c", tick_sql="SELECT 1")
        t = B.start_tickd(r, "pgcron", k)
        pm = P.postmaster_of(r)
        start, end = window(minutes)
        sleep_until(start - 1)
        cpu0 = B.proc_cpu_seconds(t.proc.pid) + P.cluster_cpu_seconds(pm)
        sleep_until(end - 1)
        cpu1 = B.proc_cpu_seconds(t.proc.pid) + P.cluster_cpu_seconds(pm)
        wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE status = 'running'") == 0, 60,
                 "no running rows")
        rows = r.sql("SELECT (details->>'lateness_seconds')::float8, status FROM job_run "
                     "WHERE scheduled_for >= %s AND scheduled_for < %s", (B.utc(start), B.utc(end)))
        res = summary("tickd", k, minutes, [row[0] for row in rows if row[0] is not None], cpu1 - cpu0)
        res["failed"] = sum(1 for row in rows if row[1] != "ok")
        return res
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("k", nargs="*", type=int, default=[10, 100, 1000])
    ap.add_argument("--minutes", type=int, default=2)
    args = ap.parse_args()
    ensure_pg_cron()
    c = PgCronCluster()
    results = []
    try:
        for k in args.k:
            print("pg_cron: K=%d for %d minutes ..." % (k, args.minutes), file=sys.stderr, flush=True)
            theirs = pg_cron_run(c, k, args.minutes)
            print("pg_cron: tickd K=%d for %d minutes ..." % (k, args.minutes), file=sys.stderr, flush=True)
            ours = tickd_run(args.tickd, k, args.minutes)
            for res in (ours, theirs):
                name = "tickd" if res is ours else "pg_cron"
                P.save_dist("pgcron-%d-%s" % (k, name), res["system"], res["hist"], k=k)
            results.append((ours, theirs))
    finally:
        c.close()
    print("K jobs '* * * * *' running 'SELECT 1', %d minutes each, one system at a time\n" % args.minutes)
    rows = []
    for pair in results:
        for x in pair:
            rows.append([x["system"], "{:,}".format(x["K"]), "{:,}".format(x["expected"]), "{:,}".format(x["ran"]),
                         x["expected"] - x["ran"], x["failed"], P.fmt_late(x["p50"]), P.fmt_late(x["p99"]),
                         P.fmt_late(x["max"]), "%.2f s" % x["cpu_per_min"], "%.1f" % x["load"]])
    print(B.table(["system", "K", "expected", "ran", "missing", "not ok", "p50 start late", "p99 start late",
                   "max", "CPU per minute (incl. PostgreSQL)", "load"], rows))
    print("\nRatios, pg_cron / tickd (higher: tickd better)\n")
    print(B.table(["K", "p50", "p99", "max", "CPU"],
                  [["{:,}".format(o["K"]), P.ratio(t["p50"], o["p50"]), P.ratio(t["p99"], o["p99"]),
                    P.ratio(t["max"], o["max"]), P.ratio(t["cpu_per_min"], o["cpu_per_min"])]
                   for o, t in results]))


if __name__ == "__main__":
    main()
