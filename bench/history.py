#!/usr/bin/env python3
"""History at scale (issue 17): what the size of job_run costs, with the day partitions of
sql/008 and with the single table before them (the schema at version 7, side by side in one
run), without history and with --rows rows of it spread over the --days days before today:

- claims/s: tickd's claim statement (src/db/sql.hpp kClaimBatch, 500 rows per statement; the
  single table runs the statement of --old-sql-hpp, the release before sql/008) with pgbench
  (-n -M prepared -c 4 -j 2 -T --seconds), as bench/claim_floor.py, median of --claim-rounds;
- the runs pages from a real tickd, median of 30 GETs each: GET /v1/runs and GET
  /v1/regions/h1/runs, the newest page and a page deep in job_run (below the run in its
  middle, by the `cursor` of the API, and by `before=ID` for the record; a tickd without
  cursors answers that page with 400, shown as "-");
- pruning the oldest day: the partitioned table drops its partition
  (tickd_job_run_drop_partitions); the single table deletes the day's rows as housekeeping
  did before sql/008 (500 rows per statement until none is left; the sleeps between batches
  not counted);
- with --steady N: bench/steady.py's steady load (N regions every second, --steady-seconds)
  on the partitioned table: lateness and CPU of tickd and PostgreSQL, empty and with history
  (after a checkpoint and autovacuum's passes: loading the history is not measured with it).

Both runs hold the same recent runs (100 of each of h1..h10, today: the newest rows), so
that each page returns the same rows whatever lies behind them: only the history differs. The schemas without and with history exist side by side and are measured in turns
(claims run by run, pages GET by GET), so that a load coming and going on the machine weighs
on both alike. Then the ratios with history / without (a deep page without history lies in
the middle of the recent rows), which issue 17 wants within 10% (0.90-1.10).

The history is made with SQL, fast: each day is loaded into a table of its own without
indexes (one INSERT ... SELECT, --jobs days at a time), then attached as its partition, which
builds the indexes by sorting. 20,000,000 rows take minutes, not hours.

usage: bench/history.py TICKD [--rows 20000000] [--days 30] [--seconds 10] [--steady 10000]
       [--jobs 2] [--claim-rounds 3] [--layouts single,partitioned]
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
import threading
import time
import urllib.error
import urllib.request

import psycopg2

import benchlib as B
import claim_floor as F
from tickd_rig import migrate, rig

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HISTORY_REGIONS = 10000  # the history's rows are spread over this many regions
RECENT_REGIONS = 10  # h1..h10 have RECENT_RUNS runs each today, with history or without
RECENT_RUNS = 100
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
    # Without their triggers (the audit rows of 2,000,000 inserts took two minutes).
    r.sql("SET session_replication_role = replica")
    r.sql("INSERT INTO region_index (code, cron_schedule, active) "
          "SELECT 'h' || g, '0 0 1 1 *', false FROM generate_series(1, %s) g", (n,))
    r.sql("RESET session_replication_role")
    r.sql("VACUUM ANALYZE region_index")


def _history_rows_sql(table, per_region, days, k_lo, k_hi, first_id):
    """INSERT of the history's instants k_lo <= k < k_hi into `table`: at each instant k every one of
    the HISTORY_REGIONS regions from `first_id` has a run, row g = k * HISTORY_REGIONS + region
    offset (its id is g + 1: ids grow with time, as claims make them). Instant k is k * days /
    per_region of a day after the history's first midnight, in whole microseconds (integer
    arithmetic: an instant never lands across a day boundary)."""
    return ("INSERT INTO %s (id, region_id, scheduled_for, replica_id, status, finished_at, details) %s"
            "SELECT g + 1, %d + g %% %d, t, 'history', CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'ok' END, "
            "       t + interval '1 second', '{\"lateness_seconds\": 0.004}' "
            "FROM generate_series(%d::bigint * %d, %d::bigint * %d - 1) g, "
            "LATERAL (SELECT ((now() AT TIME ZONE 'UTC')::date - %d)::timestamp AT TIME ZONE 'UTC' "
            "         + (g / %d * %d::bigint * 86400000000 / %d) * interval '1 microsecond' AS t) i"
            % (table, "OVERRIDING SYSTEM VALUE " if table == "job_run" else "", first_id, HISTORY_REGIONS, k_lo, HISTORY_REGIONS, k_hi, HISTORY_REGIONS, days,
               HISTORY_REGIONS, days, per_region))


def _parallel(r, jobs, statements):
    """Runs each list of statements in `statements` on one of `jobs` connections of its own
    (autocommit, foreign keys and triggers off: the rows are made to satisfy them)."""
    pending = list(statements)
    lock = threading.Lock()
    errors = []

    def worker():
        conn = psycopg2.connect(r.url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SET session_replication_role = replica")
                cur.execute("SET maintenance_work_mem = '256MB'")
                while not errors:
                    with lock:
                        if not pending:
                            return
                        batch = pending.pop(0)
                    for statement in batch:
                        cur.execute(statement)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def add_history(r, rows, days, partitioned, jobs=2):
    """`rows` finished runs of the first HISTORY_REGIONS regions (by id), evenly over the `days`
    days before today (UTC), each finished a second after its instant, then vacuumed and
    analyzed as autovacuum would have: the partitions with rows, not the empty days ahead
    nor job_run itself (autovacuum never analyzes a partitioned table). The partitioned table
    gets its day partitions first, rows or not.

    Made for speed, the history's shape unchanged: each day is loaded into a table of its own
    with no index (one INSERT ... SELECT per day, `jobs` days at a time, foreign keys not
    checked row by row), then attached as job_run's partition for that day, which builds its
    indexes by sorting and checks its foreign key in one join. The single table is loaded with
    its indexes and constraints dropped, then rebuilt the same way."""
    # The same partitions with or without rows: a serving replica has one per retained day.
    if partitioned:
        r.sql("SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - %s, "
              "(now() AT TIME ZONE 'UTC')::date)", (days,))
    if rows == 0:
        return
    per_region = rows // HISTORY_REGIONS
    first_id = r.sql_value("SELECT min(id) FROM region_index")
    today = r.sql_value("SELECT (now() AT TIME ZONE 'UTC')::date")
    # Instants k of day d: d * per_region / days <= k < (d + 1) * per_region / days.
    bounds = [(d * per_region + days - 1) // days for d in range(days + 1)]
    if partitioned:
        batches = []
        for d in range(days):
            day = today - datetime.timedelta(days=days - d)
            name = "job_run_%s" % day.strftime("%Y%m%d")
            lo = "%s 00:00:00+00" % day.isoformat()
            hi = "%s 00:00:00+00" % (day + datetime.timedelta(days=1)).isoformat()
            batches.append([
                "DROP TABLE IF EXISTS %s" % name,  # an empty partition made above
                "CREATE TABLE %s (LIKE job_run INCLUDING DEFAULTS INCLUDING CONSTRAINTS)" % name,
                "ALTER TABLE %s ADD CONSTRAINT %s_range CHECK (scheduled_for >= '%s' AND scheduled_for < '%s')"
                % (name, name, lo, hi),
                _history_rows_sql(name, per_region, days, bounds[d], bounds[d + 1], first_id),
                "ALTER TABLE job_run ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')" % (name, lo, hi),
                "VACUUM ANALYZE %s" % name,
            ])
        # ATTACH and DROP lock job_run: one day's indexes are built while another's rows load.
        _parallel(r, jobs, batches)
    else:
        constraints = r.sql("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conrelid = 'job_run'::regclass AND contype IN ('p', 'u')")
        indexes = r.sql("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i "
                        "WHERE indrelid = 'job_run'::regclass "
                        "AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)")
        for name, _ in indexes:
            r.sql("DROP INDEX %s" % name)
        for name, _ in constraints:
            r.sql("ALTER TABLE job_run DROP CONSTRAINT %s" % name)
        _parallel(r, jobs, [[_history_rows_sql("job_run", per_region, days, bounds[d], bounds[d + 1], first_id)]
                            for d in range(days)])
        # Each constraint's index is built beside the others, then made the constraint (no scan).
        _parallel(r, jobs, [["CREATE UNIQUE INDEX %s ON job_run %s" % (name, definition[definition.index("("):]),
                             "ALTER TABLE job_run ADD CONSTRAINT %s %s USING INDEX %s"
                             % (name, definition[:definition.index("(")].strip(), name)]
                            for name, definition in constraints] + [[i[1]] for i in indexes])
        r.sql("VACUUM ANALYZE job_run")
    r.sql("SELECT setval(pg_get_serial_sequence('job_run', 'id'), max(id)) FROM job_run")


def add_recent(r):
    """RECENT_RUNS finished runs of each of h1..hRECENT_REGIONS, a second apart from today's
    UTC midnight (after any history: the newest rows, in today's partition), then ANALYZE of
    that partition only. Analyzed while empty, a day ahead would make the claims' plans
    (sql/009, generic, made once per session) read it whole for every claim once it fills:
    950 claims/s instead of 31,000, measured here after an ANALYZE of all of job_run."""
    r.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at, details) "
          "SELECT r.id, t, 'recent', 'ok', t + interval '1 second', '{\"lateness_seconds\": 0.004}' "
          "FROM region_index r, generate_series(1, %s) k, "
          "LATERAL (SELECT (now() AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC' "
          "         + k * interval '1 second' AS t) i "
          "WHERE r.code IN (SELECT 'h' || g FROM generate_series(1, %s) g)", (RECENT_RUNS, RECENT_REGIONS))
    if r.sql_value("SELECT relkind FROM pg_class WHERE oid = 'job_run'::regclass") == "p":
        r.sql("ANALYZE job_run_%s" % r.sql_value("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')"))
    else:
        r.sql("ANALYZE job_run")


def uses_runs_page(tickd):
    """Whether this tickd's reads need tickd_runs_page (sql/010, embedded in the binary)."""
    with open(tickd, "rb") as f:
        return b"CREATE FUNCTION tickd_runs_page" in f.read()


def schema(tickd, layout, rows, days, claim_regions, jobs):
    r = rig.Rig(tickd)
    if layout == "partitioned":
        r.migrate()
    else:
        migrate.apply_sql_up_to(r.url, 7)
        if uses_runs_page(tickd):
            # The same reads on the single table: sql/010's index and function need no partitions.
            with open(os.path.join(ROOT, "sql", "010_history_reads.sql")) as f:
                r.sql(f.read())
    r.sql("ALTER TABLE region_index DISABLE TRIGGER region_index_notify")
    t_regions = time.monotonic()
    inactive_regions(r, claim_regions)
    t0 = time.monotonic()
    add_history(r, rows, days, layout == "partitioned", jobs)
    add_recent(r)
    print("history: %s, %s rows in %.0f s (regions: %.0f s)" % (layout, "{:,}".format(rows), time.monotonic() - t0, t0 - t_regions),
          file=sys.stderr, flush=True)
    return r


def settle(r, timeout=120):
    """A checkpoint, then until no autovacuum worker runs in this database (at most `timeout`
    seconds): the history's writes are not measured with what follows."""
    r.sql("CHECKPOINT")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and r.sql_value(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
            "AND datname = current_database()"):
        time.sleep(1)


def idle(r, timeout=60):
    """Until no other statement runs in this database (a replica's start-up reads), three
    looks in a row 0.2 s apart, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        busy = r.sql_value("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND state = 'active' AND backend_type = 'client backend' "
                           "AND pid <> pg_backend_pid()")
        quiet = 0 if busy else quiet + 1
        time.sleep(0.2)


def claims_per_second(r, sql_hpp, args, run=0):
    # Instants from tomorrow (UTC): in a partition made ahead, as a serving replica's are; an
    # hour further for each run, so that no run claims the ticks of the one before again.
    tomorrow = (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1))
    epoch = int(datetime.datetime(tomorrow.year, tomorrow.month, tomorrow.day,
                                  tzinfo=datetime.timezone.utc).timestamp()) + 3600 * run
    name, rows_per_tx, script = F.scripts(sql_hpp, epoch)[-1]
    F.pgbench(r.url, script, args.clients, 2, args.seconds)
    claimed = r.sql_value("SELECT count(*) FROM job_run WHERE replica_id = 'floor' "
                          "AND scheduled_for >= to_timestamp(%s)", (epoch,))
    r.sql("DELETE FROM job_run WHERE replica_id = 'floor' AND scheduled_for >= to_timestamp(%s)", (epoch,))
    # With the index entries too: a plain VACUUM skips them when the dead rows fill few of
    # the table's pages (the single table of 20,000,000 rows), and the newest page, read from
    # the newest instant down, then stepped over 900,000 dead entries first (5.0 ms, not 2.5).
    r.sql("VACUUM (INDEX_CLEANUP ON) job_run")
    return claimed / args.seconds


def get_ms(url):
    """(ms, document), or (None, None) for a 400 (a parameter this tickd does not know)."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        if e.code == 400:
            return None, None
        raise
    return (time.perf_counter() - t0) * 1000, json.loads(body)


PAGES = ["/v1/runs", "/v1/runs, deep", "/v1/runs, deep by before=ID",
         "/v1/regions/h1/runs", "/v1/regions/h1/runs, deep", "/v1/regions/h1/runs, deep by before=ID"]


def deep_pages(r):
    """[(name, path)] of PAGES in schema r: a deep page is the one below the run in the middle
    of job_run, or of h1's runs, by (scheduled_for, id)."""
    middle = ("SELECT (extract(epoch FROM scheduled_for) * 1000000)::bigint, id FROM job_run %s "
              "ORDER BY scheduled_for, id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM job_run %s)")
    at, deep = r.sql(middle % ("", ""))[0]
    h1 = "WHERE region_id = (SELECT id FROM region_index WHERE code = 'h1')"
    region_at, region_deep = r.sql(middle % (h1, h1))[0]
    return [("/v1/runs", "/v1/runs?limit=50"),
            ("/v1/runs, deep", "/v1/runs?limit=50&cursor=%d_%d" % (at, deep)),
            ("/v1/runs, deep by before=ID", "/v1/runs?limit=50&before=%d" % deep),
            ("/v1/regions/h1/runs", "/v1/regions/h1/runs?limit=50"),
            ("/v1/regions/h1/runs, deep", "/v1/regions/h1/runs?limit=50&cursor=%d_%d" % (region_at, region_deep)),
            ("/v1/regions/h1/runs, deep by before=ID", "/v1/regions/h1/runs?limit=50&before=%d" % region_deep)]


def runs_pages(schemas, rounds=30):
    """{schema index: {page: median ms}} of PAGES from a real tickd on each schema, the
    schemas taking turns GET by GET (a load that comes and goes on the machine weighs on
    both alike)."""
    # RETENTION_DAYS far out: the replica's housekeeping prunes nothing while the pages are
    # timed (on the single table that was a batched DELETE of the oldest day's rows).
    tickds = [B.start_tickd(r, "history-%d" % i, 0, RETENTION_DAYS=3650) for i, r in enumerate(schemas)]
    out = [{} for _ in schemas]
    try:
        for r in schemas:
            idle(r)
        pages = [deep_pages(r) for r in schemas]
        for p in range(len(PAGES)):
            bases = []
            for i, t in enumerate(tickds):
                url = "http://127.0.0.1:%d%s" % (t.port, pages[i][p][1])
                ms, doc = get_ms(url)  # warm, and is it answered at all
                if ms is None:
                    continue
                if len(doc["runs"]) != 50:
                    raise AssertionError("%s: %d runs, expected 50" % (url, len(doc["runs"])))
                bases.append((i, url))
            times = {i: [] for i, _ in bases}
            for _ in range(rounds):
                for i, url in bases:
                    times[i].append(get_ms(url)[0])
            for i, _ in bases:
                out[i][PAGES[p]] = statistics.median(times[i])
    finally:
        for t in tickds:
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


def ratio(value, base):
    return "%.2f" % (value / base) if value is not None and base else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("--rows", type=int, default=20000000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--claim-rounds", type=int, default=3, help="claims/s runs per schema (median)")
    ap.add_argument("--jobs", type=int, default=2, help="days of history loaded at once")
    ap.add_argument("--layouts", default="single,partitioned",
                    help="which of single (the table at version 7), partitioned")
    ap.add_argument("--steady", type=int, default=0, help="N regions for the steady load (0: none)")
    ap.add_argument("--steady-seconds", type=int, default=20)
    ap.add_argument("--old-sql-hpp")
    args = ap.parse_args()
    layouts = [("single table (v7)", "single"), ("partitioned", "partitioned")]
    layouts = [(name, key) for name, key in layouts if key in args.layouts.split(",")]
    old_hpp = args.old_sql_hpp or old_sql_hpp() if any(key == "single" for _, key in layouts) else None
    claim_regions = args.clients * F.RANGE

    results = {}
    for layout, key in layouts:
        sql_hpp = F.SQL_HPP if key == "partitioned" else old_hpp
        schemas = []
        try:
            for rows in (0, args.rows):
                print("history: %s, %s rows ..." % (layout, "{:,}".format(rows)), file=sys.stderr, flush=True)
                schemas.append(schema(args.tickd, key, rows, args.days, claim_regions, args.jobs))
            for r in schemas:
                settle(r)
            # Each schema in turn, --claim-rounds times: the median of each.
            claims = [[] for _ in schemas]
            for run in range(args.claim_rounds):
                for i, r in enumerate(schemas):
                    claims[i].append(claims_per_second(r, sql_hpp, args, run))
            pages = runs_pages(schemas)
            for i, rows in enumerate((0, args.rows)):
                res = {"claims/s": statistics.median(claims[i])}
                res.update(pages[i])
                if rows:
                    res["prune"] = prune_oldest_day(schemas[i], key, args.days)
                results[(layout, rows)] = res
        except BaseException:
            for r in schemas:
                r.print_logs()
            raise
        finally:
            for r in schemas:
                r.close()

    steady = {}
    if args.steady:
        import steady as S
        for rows in (0, args.rows):
            print("history: steady %d regions, %s rows ..." % (args.steady, "{:,}".format(rows)),
                  file=sys.stderr, flush=True)
            steady[rows] = S.tickd_steady(args.tickd, args.steady, args.steady_seconds,
                                          prepare=lambda r, rows=rows: (inactive_regions(r, HISTORY_REGIONS),
                                                                        add_history(r, rows, args.days, True, args.jobs),
                                                                        add_recent(r), settle(r)))

    fmt_rows = lambda n: "{:,}".format(n)
    if results:  # --layouts none: the steady load alone
        print("History at scale: job_run with no history and with %s rows over %d days (%d regions), "
              "both with the same %d recent runs (%d each of h1..h%d, today); claims by pgbench "
              "-n -M prepared -c %d -j 2 -T %d, 500 per statement, median of %d runs; runs pages of 50: median of "
              "30 GETs, ms; the two schemas measured in turns\n"
              % (fmt_rows(args.rows), args.days, HISTORY_REGIONS, RECENT_REGIONS * RECENT_RUNS, RECENT_RUNS,
                 RECENT_REGIONS, args.clients, args.seconds, args.claim_rounds))
        headers = ["job_run", "history", "claims/s"] + PAGES + ["prune the oldest day"]
        table = []
        for (layout, rows), res in results.items():
            prune = res.get("prune")
            table.append([layout, fmt_rows(rows), "%.0f" % res["claims/s"]]
                         + ["%.1f" % res[p] if p in res else "-" for p in PAGES]
                         + ["%s rows in %.2f s" % (fmt_rows(prune[0]), prune[1]) if prune else "-"])
        print(B.table(headers, table))
        print("\nFlat with history: each figure with %s rows of history / the same without (1.00: the "
              "same; issue 17 wants 0.90-1.10)\n" % fmt_rows(args.rows))
        ratios = []
        for layout, _ in layouts:
            empty, full = results[(layout, 0)], results[(layout, args.rows)]
            ratios.append([layout, ratio(full["claims/s"], empty["claims/s"])]
                          + [ratio(full.get(p), empty.get(p)) for p in PAGES])
        print(B.table(["job_run", "claims/s"] + PAGES, ratios))
    if steady:
        import steady as S
        print("\nSteady load on the partitioned table, %d regions every second for %d s:\n"
              % (args.steady, args.steady_seconds))
        print(B.table(["history"] + S.HEADERS, [[fmt_rows(rows)] + S.row(res) for rows, res in steady.items()]))


if __name__ == "__main__":
    main()
