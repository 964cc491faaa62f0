#!/usr/bin/env python3
"""History at scale (issue 17): what the size of job_run costs, with the day partitions of
sql/008 and with the single table before them (the schema at version 7, side by side in one
run), for an empty history and for --rows rows spread over --days days:

- claims/s: tickd's claim statement (src/db/sql.hpp kClaimBatch, 500 rows per statement; the
  single table runs the statement of --old-sql-hpp, the release before sql/008) with pgbench
  (-n -M prepared -c 4 -j 2 -T --seconds), as bench/claim_floor.py;
- the runs pages: GET /v1/runs (newest, and a page deep in the history) and GET
  /v1/regions/{code}/runs (newest, deep) from a real tickd, median of 30 each;
- pruning the oldest day: the partitioned table drops its partition
  (tickd_job_run_drop_partitions); the single table deletes the day's rows as housekeeping
  did before sql/008 (500 rows per statement until none is left; the sleeps between batches
  not counted);
- with --steady N: bench/steady.py's steady load (N regions every second, --steady-seconds)
  on the partitioned table: lateness and CPU of tickd and PostgreSQL, empty and with history.

usage: bench/history.py TICKD [--rows 20000000] [--days 30] [--seconds 10] [--steady 10000]
       [--old-sql-hpp FILE]  (default: src/db/sql.hpp of the commit before sql/008, from git)
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchlib as B
import claim_floor as F
from tickd_rig import migrate, rig

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HISTORY_REGIONS = 10000  # the history's rows are spread over this many regions
BEFORE_PARTITIONS = "96a01e5"  # the last release of the single job_run table


def old_sql_hpp():
    out = subprocess.run(["git", "-C", ROOT, "show", BEFORE_PARTITIONS + ":src/db/sql.hpp"],
                         capture_output=True, text=True, check=True).stdout
    f = tempfile.NamedTemporaryFile("w", suffix=".hpp", delete=False)
    f.write(out)
    f.close()
    return f.name


def inactive_regions(r, n):
    """n regions h1..hn that no replica schedules: the claims' and the history's regions need
    rows (the foreign key), not a schedule."""
    r.sql("INSERT INTO region_index (code, cron_schedule, active) "
          "SELECT 'h' || g, '0 0 1 1 *', false FROM generate_series(1, %s) g", (n,))
    r.sql("VACUUM ANALYZE region_index")


def add_history(r, rows, days, partitioned):
    """`rows` finished runs of the first HISTORY_REGIONS regions (by id), evenly over the `days` days before
    today (UTC), each finished a second after its instant; then VACUUM ANALYZE. The
    partitioned table gets its day partitions first, rows or not."""
    # The same partitions with or without rows: a serving replica has one per retained day.
    if partitioned:
        r.sql("SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - %s, "
              "(now() AT TIME ZONE 'UTC')::date)", (days,))
    if rows == 0:
        return
    per_region = rows // HISTORY_REGIONS
    step = days * 86400.0 / per_region
    r.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at, details) "
          "SELECT (SELECT min(id) FROM region_index) + g %% %s, t, 'history', CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'ok' END, "
          "       t + interval '1 second', '{\"lateness_seconds\": 0.004}' "
          "FROM generate_series(0, %s - 1) g, "
          "LATERAL (SELECT ((now() AT TIME ZONE 'UTC')::date - %s)::timestamp AT TIME ZONE 'UTC' "
          "         + (g / %s) * %s * interval '1 second' AS t) i",
          (HISTORY_REGIONS, per_region * HISTORY_REGIONS, days, HISTORY_REGIONS, step))
    r.sql("VACUUM ANALYZE job_run")


def schema(tickd, layout, rows, days, claim_regions):
    r = rig.Rig(tickd)
    if layout == "partitioned":
        r.migrate()
    else:
        migrate.apply_sql_up_to(r.url, 7)
    r.sql("ALTER TABLE region_index DISABLE TRIGGER region_index_notify")
    inactive_regions(r, claim_regions)
    t0 = time.monotonic()
    add_history(r, rows, days, layout == "partitioned")
    print("history: %s, %s rows in %.0f s" % (layout, "{:,}".format(rows), time.monotonic() - t0),
          file=sys.stderr, flush=True)
    return r


def claims_per_second(r, sql_hpp, args):
    # Instants from tomorrow (UTC): in a partition made ahead, as a serving replica's are.
    tomorrow = (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1))
    epoch = int(datetime.datetime(tomorrow.year, tomorrow.month, tomorrow.day,
                                  tzinfo=datetime.timezone.utc).timestamp())
    name, rows_per_tx, script = F.scripts(sql_hpp, epoch)[-1]
    F.pgbench(r.url, script, args.clients, 2, args.seconds)
    claimed = r.sql_value("SELECT count(*) FROM job_run WHERE replica_id = 'floor'")
    r.sql("DELETE FROM job_run WHERE replica_id = 'floor'")
    r.sql("VACUUM job_run")
    return claimed / args.seconds


def get_ms(url):
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
    return (time.perf_counter() - t0) * 1000, json.loads(body)


def runs_pages(r, tickd_name):
    """Median ms of each runs page from a real tickd."""
    t = B.start_tickd(r, tickd_name, 0)
    base = "http://127.0.0.1:%d" % t.port
    out = {}
    try:
        _, newest = get_ms(base + "/v1/runs?limit=50")
        runs = newest.get("runs", [])
        deep_id = r.sql_value("SELECT id FROM job_run ORDER BY id LIMIT 1 OFFSET "
                              "(SELECT count(*) / 2 FROM job_run)") if runs else None
        pages = [("/v1/runs", "/v1/runs?limit=50")]
        if deep_id:
            pages.append(("/v1/runs, deep", "/v1/runs?limit=50&before=%d" % deep_id))
        pages.append(("/v1/regions/h1/runs", "/v1/regions/h1/runs?limit=50"))
        first = "(SELECT id FROM region_index WHERE code = 'h1')"
        region_deep = r.sql_value("SELECT id FROM job_run WHERE region_id = %s ORDER BY scheduled_for "
                                  "LIMIT 1 OFFSET (SELECT count(*) / 2 FROM job_run WHERE region_id = %s)"
                                  % (first, first))
        if region_deep:
            pages.append(("/v1/regions/h1/runs, deep", "/v1/regions/h1/runs?limit=50&before=%d" % region_deep))
        for name, path in pages:
            get_ms(base + path)  # warm
            out[name] = statistics.median(get_ms(base + path)[0] for _ in range(30))
    finally:
        t.kill()
    return out


def prune_oldest_day(r, layout, days):
    """(rows removed, seconds) for the oldest day of the history."""
    before = r.sql_value("SELECT count(*) FROM job_run")
    if layout == "partitioned":
        t0 = time.perf_counter()
        # The oldest day ended days - 1 days ago (today's midnight minus days - 1).
        r.sql("SELECT tickd_job_run_drop_partitions(%s)", (days - 1,))
        elapsed = time.perf_counter() - t0
    else:
        # The statement housekeeping ran before sql/008 (src/db/queue_store.cpp kExpireJobRuns).
        elapsed = 0.0
        while True:
            t0 = time.perf_counter()
            deleted = r.sql(
                "WITH d AS (DELETE FROM job_run WHERE id IN (SELECT id FROM job_run "
                "  WHERE finished_at IS NOT NULL AND finished_at < "
                "  ((now() AT TIME ZONE 'UTC')::date - %s + 1)::timestamp AT TIME ZONE 'UTC' LIMIT 500) "
                "  RETURNING 1) SELECT count(*) FROM d", (days,))[0][0]
            elapsed += time.perf_counter() - t0
            if deleted == 0:
                break
    return before - r.sql_value("SELECT count(*) FROM job_run"), elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("--rows", type=int, default=20000000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--steady", type=int, default=0, help="N regions for the steady load (0: none)")
    ap.add_argument("--steady-seconds", type=int, default=20)
    ap.add_argument("--old-sql-hpp")
    args = ap.parse_args()
    old_hpp = args.old_sql_hpp or old_sql_hpp()
    claim_regions = args.clients * F.RANGE

    results = {}
    for layout, sql_hpp in (("single table (v7)", old_hpp), ("partitioned", F.SQL_HPP)):
        key = "partitioned" if layout == "partitioned" else "single"
        for rows in (0, args.rows):
            print("history: %s, %s rows ..." % (layout, "{:,}".format(rows)), file=sys.stderr, flush=True)
            r = schema(args.tickd, key, rows, args.days, claim_regions)
            try:
                res = {"claims/s": claims_per_second(r, sql_hpp, args)}
                res.update(runs_pages(r, "history-%s-%d" % (key, rows)))
                if rows:
                    res["prune"] = prune_oldest_day(r, key, args.days)
            except BaseException:
                r.print_logs()
                raise
            finally:
                r.close()
            results[(layout, rows)] = res

    steady = {}
    if args.steady:
        import steady as S
        for rows in (0, args.rows):
            print("history: steady %d regions, %s rows ..." % (args.steady, "{:,}".format(rows)),
                  file=sys.stderr, flush=True)
            steady[rows] = S.tickd_steady(args.tickd, args.steady, args.steady_seconds,
                                          prepare=lambda r, rows=rows: (inactive_regions(r, HISTORY_REGIONS),
                                                                        add_history(r, rows, args.days, True)))

    fmt_rows = lambda n: "{:,}".format(n)
    print("History at scale: job_run with 0 and %s rows over %d days (%d regions); claims by pgbench "
          "-n -M prepared -c %d -j 2 -T %d, 500 per statement; runs pages: median of 30 GETs, ms\n"
          % (fmt_rows(args.rows), args.days, HISTORY_REGIONS, args.clients, args.seconds))
    pages = ["/v1/runs", "/v1/runs, deep", "/v1/regions/h1/runs", "/v1/regions/h1/runs, deep"]
    headers = ["job_run", "history", "claims/s", "ratio to empty"] + pages + ["prune the oldest day"]
    table = []
    for (layout, rows), res in results.items():
        empty = results[(layout, 0)]["claims/s"]
        prune = res.get("prune")
        table.append([layout, fmt_rows(rows), "%.0f" % res["claims/s"], "%.2f" % (res["claims/s"] / empty)]
                     + ["%.1f" % res[p] if p in res else "-" for p in pages]
                     + ["%s rows in %.2f s" % (fmt_rows(prune[0]), prune[1]) if prune else "-"])
    print(B.table(headers, table))
    if steady:
        import steady as S
        print("\nSteady load on the partitioned table, %d regions every second for %d s:\n"
              % (args.steady, args.steady_seconds))
        print(B.table(["history"] + S.HEADERS, [[fmt_rows(rows)] + S.row(res) for rows, res in steady.items()]))


if __name__ == "__main__":
    main()
