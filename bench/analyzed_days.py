#!/usr/bin/env python3
"""Claims and ends on a day whose statistics said "empty" when their plans were made
(issue 17; sql/011). tickd keeps the plans of its claims and ends per connection (sql/009),
made while the days ahead are still empty. A day never analyzed looks like a few pages to
PostgreSQL; a day analyzed (or vacuumed) while empty, as `ANALYZE job_run` or `vacuumdb`
leave the days ahead, looks truly empty, and such plans read the day whole once it fills.

In a fresh schema migrated by TICKD, with --regions regions: `ANALYZE job_run` (every day
ahead empty), then for each case a session of its own claims and ends --batch regions at a
time, an instant a second, in a day of its own, for --rounds rounds or --budget seconds:

- never analyzed: the day truncated first (its statistics forgotten, as tickd leaves days);
- analyzed while empty;
- analyzed while empty, then mended as tickd does every 15 s (sql/011's
  tickd_job_run_forget_empty_statistics, when TICKD's schema has it) after the first round.

Prints the median milliseconds of a claim plus its end over the first and the last 10 rounds,
and the rows in the day by then.

usage: bench/analyzed_days.py TICKD [--sql-hpp FILE] [--regions 20000] [--batch 500]
       [--rounds 200] [--budget 120]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

import psycopg2

import benchlib as B
import claim_floor as F
import tick_cost as TC


def session(url):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn, conn.cursor()


def run_case(url, cur, sql_hpp, ids, args, part, day, mend):
    """Rounds of claims and ends in `day` from a session of its own; returns (first 10 ms,
    last 10 ms, rounds, rows in the day)."""
    conn, c = session(url)
    tickd = TC.Tickd(sql_hpp)
    batches = [ids[i:i + args.batch] for i in range(0, len(ids), args.batch)]
    times = []
    deadline = time.monotonic() + args.budget
    for k in range(args.rounds):
        t0 = time.perf_counter()
        rows = tickd.claim(c, batches[k % len(batches)], day + 3600 + k)
        tickd.finish(c, rows)
        times.append((time.perf_counter() - t0) * 1000)
        if k == 0 and mend:
            cur.execute("SELECT tickd_job_run_forget_empty_statistics(%s::date, %s::date)",
                        (TC.ts(day).date(), TC.ts(day).date()))
        if time.monotonic() > deadline:
            break
    conn.close()
    cur.execute("SELECT count(*) FROM %s" % part)
    return statistics.median(times[:10]), statistics.median(times[-10:]), len(times), cur.fetchone()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tickd")
    ap.add_argument("--sql-hpp", default=F.SQL_HPP, help="the src/db/sql.hpp of TICKD (its claim and end)")
    ap.add_argument("--regions", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--budget", type=float, default=120, help="seconds at most per case")
    args = ap.parse_args()
    base = os.environ["TICKD_TEST_DATABASE_URL"]
    schema = "analyzed_days_%d" % os.getpid()
    conn, cur = session(base)
    cur.execute("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s" % (schema, schema))
    url = base + ("&" if "?" in base else "?") + "options=-csearch_path%3D" + schema
    try:
        subprocess.run([args.tickd, "migrate"], env=dict(os.environ, DATABASE_URL=url), check=True,
                       capture_output=True)
        cur.execute("SET search_path = " + schema)
        cur.execute("INSERT INTO region_index (code, cron_schedule, active) "
                    "SELECT 'a' || g, '* * * * * *', false FROM generate_series(1, %s) g", (args.regions,))
        cur.execute("VACUUM ANALYZE region_index")
        cur.execute("SELECT id FROM region_index ORDER BY id")
        ids = [r for (r,) in cur.fetchall()]
        cur.execute("SELECT count(*) FROM pg_proc WHERE proname = 'tickd_job_run_forget_empty_statistics' "
                    "AND pronamespace = current_schema()::regnamespace")
        can_mend = cur.fetchone()[0] == 1
        today = int(time.time()) // 86400 * 86400
        cases = [("never analyzed", "truncate"), ("analyzed while empty", None)]
        if can_mend:
            cases.append(("analyzed while empty, mended after the first round", "mend"))
        cur.execute("ANALYZE job_run")
        table = []
        for n, (name, how) in enumerate(cases, 1):
            day = today + 86400 * n
            part = "job_run_" + TC.ts(day).strftime("%Y%m%d")
            cur.execute("ALTER TABLE %s SET (autovacuum_enabled = false)" % part)
            if how == "truncate":
                cur.execute("TRUNCATE %s" % part)
            first, last, rounds, rows = run_case(url, cur, args.sql_hpp, ids, args, part, day, how == "mend")
            table.append([name, "%.1f" % first, "%.1f" % last, str(rounds), "{:,}".format(rows)])
            print("%s: %.1f -> %.1f ms, %d rounds" % (name, first, last, rounds), file=sys.stderr, flush=True)
        print("A claim of %d regions and its end, ms (medians of the first and last 10 rounds), each "
              "case in a session of its own; %d regions; load average %.1f\n"
              % (args.batch, args.regions, os.getloadavg()[0]))
        print(B.table(["day's statistics when planned", "first 10", "last 10", "rounds", "rows in the day"],
                      table))
    finally:
        cur.execute("RESET search_path; DROP SCHEMA IF EXISTS %s CASCADE" % schema)
        conn.close()


if __name__ == "__main__":
    main()
