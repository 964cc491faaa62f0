#!/usr/bin/env python3
"""What a tick costs PostgreSQL, and where (issue 17, item 3): the backend CPU of one
connection, alone on the server (no contention, no waits), that claims 10,000 regions in
batches of 500 and ends each batch, --rounds instants in a row (after 3 rounds of warm-up),
divided by the ticks written. Read from /proc/<backend pid>/stat, so it counts planning,
execution, triggers and the protocol, and nothing of the client.

- tickd: tickd's own claim and end (src/db/sql.hpp, the functions of sql/009), in the schema
  made by TICKD's `tickd migrate`;
- unplanned: the same statements (the functions' bodies, from pg_proc) sent as statements,
  planned at every call as tickd sent them before sql/009;
- release: the claim and end of --release-sql-hpp in the schema of --release-tickd (the
  single job_run table of 96a01e5, unnamed statements), when given;
- floors, in TICKD's schema without the running slots (the triggers off): a bare
  INSERT ... ON CONFLICT DO NOTHING from unnest and a bare UPDATE ... FROM unnest keyed by
  (id, scheduled_for), prepared; then the same without job_run's two partial indexes of
  running rows; then also with the day partition at fillfactor 50 (room for every end to be
  a heap-only update); then also without the foreign key to region_index.

usage: bench/tick_cost.py TICKD [--rounds 10] [--release-tickd BIN --release-sql-hpp FILE]
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import time

import psycopg2

import benchlib as B
import claim_floor as F

REGIONS = 10000
BATCH = 500
DETAILS = '{"lateness_seconds": 0.012, "handlers": {"region": {"ms": 0.4}}}'


def ts(at):
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc)


def placeholders(statement):
    """$n -> %(pn)s, for psycopg2."""
    return re.sub(r"\$(\d+)", r"%(p\1)s", statement.replace("%", "%%"))


def claim_args(ids, at):
    n = len(ids)
    return dict(p1=ids, p2=[i * 4294967296 + at for i in ids], p3=ts(at), p4="bench",
                p5=["infinity"] * n, p6=["* * * * * *"] * n, p7=["UTC"] * n)


class Tickd:
    """tickd's claim and end as the sql.hpp at `sql_hpp` spells them (function calls since
    sql/009; before, the statements themselves, sent unnamed)."""
    def __init__(self, sql_hpp):
        self.claim_sql = placeholders(F.sql_constant("kClaimBatch", sql_hpp))
        self.finish_sql = placeholders(F.sql_constant("kFinishBatch", sql_hpp))
        self.function = "tickd_finish_batch" in self.finish_sql

    def claim(self, cur, ids, at):
        cur.execute(self.claim_sql, claim_args(ids, at))
        return [(r[1], ts(at)) for r in cur.fetchall() if r[1] is not None]

    def finish(self, cur, rows):
        n = len(rows)
        ids, instants = [r[0] for r in rows], [r[1] for r in rows]
        if self.function:
            a = dict(p1=ids, p2=instants, p3=["ok"] * n, p4=[None] * n, p5=[DETAILS] * n, p6="bench",
                     p7=[1] * n, p8=[None] * n, p9=[False] * n, p10=[False] * n)
        else:  # the release's: $1 ids, $2 statuses, $3 errors, $4 details, $5 replica, $6 attempts, $7-$9
            a = dict(p1=ids, p2=["ok"] * n, p3=[None] * n, p4=[DETAILS] * n, p5="bench", p6=[1] * n,
                     p7=[None] * n, p8=[False] * n, p9=[False] * n)
        cur.execute(self.finish_sql, a)
        assert all(r[1] for r in cur.fetchall())


class Unplanned(Tickd):
    """The bodies of sql/009's functions, sent as statements: planned at every call, as tickd
    sent its claims and ends before sql/009 (the end in a transaction with its settings)."""
    def __init__(self, sql_hpp, cur):
        Tickd.__init__(self, sql_hpp)
        self.function = True  # the arguments are the functions'
        cur.execute("SELECT proname, prosrc, pg_get_function_arguments(oid) FROM pg_proc "
                    "WHERE proname IN ('tickd_claim_batch', 'tickd_finish_batch') "
                    "AND pronamespace = current_schema()::regnamespace")
        for name, src, arguments in cur.fetchall():
            body = src[src.index("RETURN QUERY") + len("RETURN QUERY"):src.rindex(";")].replace("%", "%%")
            for n, argument in enumerate(arguments.split(", "), 1):
                arg, typ = argument.split(" ", 1)
                body = re.sub(r"(?<![\w.])%s(?!\w)" % arg, "(%%(p%d)s)::%s" % (n, typ), body)
            if name == "tickd_claim_batch":
                self.claim_sql = body
            else:
                self.finish_sql = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; " + body

    def finish(self, cur, rows):
        cur.execute("BEGIN")
        Tickd.finish(self, cur, rows)
        cur.execute("COMMIT")


class Floor:
    """A bare claim and end, prepared, in tickd's schema with the slot triggers off, and no
    running slots taken or looked at."""
    def __init__(self, cur, partial=True, fillfactor=None, fk=True):
        cur.execute("ALTER TABLE job_run DISABLE TRIGGER job_run_one_running_per_region, "
                    "DISABLE TRIGGER job_run_running_ended")
        if not partial:
            cur.execute("DROP INDEX job_run_running_by_replica, job_run_running_by_region")
        if not fk:
            cur.execute("ALTER TABLE job_run DROP CONSTRAINT job_run_region_id_fkey")
        if fillfactor:
            cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = 'job_run'::regclass")
            for (part,) in cur.fetchall():
                cur.execute("ALTER TABLE %s SET (fillfactor = %d)" % (part, fillfactor))
        # As tickd's end runs (sql/009): each row's key probed, never a scan of the partition.
        cur.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        cur.execute("PREPARE c (bigint[], timestamptz, text) AS "
                    "INSERT INTO job_run (region_id, scheduled_for, replica_id, status, trigger, cron_schedule, "
                    "timezone) SELECT w.region_id, $2, $3, 'running', 'schedule', '* * * * * *', 'UTC' "
                    "FROM unnest($1::bigint[]) AS w (region_id) ON CONFLICT DO NOTHING RETURNING id")
        cur.execute("PREPARE f (bigint[], timestamptz[], text[], text) AS "
                    "UPDATE job_run j SET status = 'ok', finished_at = now(), details = j.details || v.details::jsonb "
                    "FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS v (id, scheduled_for, details) "
                    "WHERE j.id = v.id AND j.scheduled_for = v.scheduled_for AND j.replica_id = $4 "
                    "AND j.finished_at IS NULL")

    def claim(self, cur, ids, at):
        cur.execute("EXECUTE c (%s, %s, 'bench')", (ids, ts(at)))
        return [(r[0], ts(at)) for r in cur.fetchall()]

    def finish(self, cur, rows):
        n = len(rows)
        cur.execute("EXECUTE f (%s, %s::timestamptz[], %s, 'bench')",
                    ([r[0] for r in rows], [r[1] for r in rows], [DETAILS] * n))
        assert cur.rowcount == n


def measure(base_url, tickd, make, rounds):
    """Backend CPU per tick, microseconds, of `make(cur)`'s claim and finish in a fresh schema
    migrated by `tickd`."""
    schema = "tick_cost_%d" % os.getpid()
    conn = psycopg2.connect(base_url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s" % (schema, schema))
    try:
        url = base_url + ("&" if "?" in base_url else "?") + "options=-csearch_path%3D" + schema
        subprocess.run([tickd, "migrate"], env=dict(os.environ, DATABASE_URL=url), check=True, capture_output=True)
        cur.execute("SET search_path = " + schema)
        cur.execute("INSERT INTO region_index (code, cron_schedule, active) "
                    "SELECT 'c' || g, '* * * * * *', false FROM generate_series(1, %s) g", (REGIONS,))
        cur.execute("VACUUM ANALYZE region_index")
        variant = make(cur)
        cur.execute("SELECT min(id) FROM region_index")
        first = cur.fetchone()[0]
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        day = int(time.time()) // 86400 * 86400 + 60  # today, a minute past midnight UTC

        def one_round(k):
            written = 0
            for b in range(REGIONS // BATCH):
                rows = variant.claim(cur, list(range(first + b * BATCH, first + (b + 1) * BATCH)), day + k)
                written += len(rows)
                variant.finish(cur, rows)
            return written
        for k in range(3):
            one_round(k)
        cpu0, ticks = B.proc_cpu_seconds(pid), 0
        for k in range(3, 3 + rounds):
            ticks += one_round(k)
        cpu = B.proc_cpu_seconds(pid) - cpu0
        assert ticks == REGIONS * rounds, ticks
        return cpu / ticks * 1e6
    finally:
        cur.execute("RESET search_path; DROP SCHEMA IF EXISTS %s CASCADE" % schema)
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tickd")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--release-tickd", help="the release's binary (its `migrate` makes the release's schema)")
    ap.add_argument("--release-sql-hpp", help="the release's src/db/sql.hpp (its claim and end)")
    args = ap.parse_args()
    base = os.environ["TICKD_TEST_DATABASE_URL"]
    sql_hpp = F.SQL_HPP
    variants = [("tickd: its claim and end (sql/009 functions, plans kept per session)", args.tickd,
                 lambda cur: Tickd(sql_hpp)),
                ("the same statements, planned at every call", args.tickd, lambda cur: Unplanned(sql_hpp, cur))]
    if args.release_tickd and args.release_sql_hpp:
        variants.append(("release: its claim and end (single job_run table)", args.release_tickd,
                         lambda cur: Tickd(args.release_sql_hpp)))
    variants += [
        ("floor: bare INSERT + UPDATE, every index", args.tickd, lambda cur: Floor(cur)),
        ("floor: without the 2 partial indexes of running rows", args.tickd, lambda cur: Floor(cur, partial=False)),
        ("floor: ... and fillfactor 50 (ends heap-only)", args.tickd,
         lambda cur: Floor(cur, partial=False, fillfactor=50)),
        ("floor: ... and no foreign key to region_index", args.tickd,
         lambda cur: Floor(cur, partial=False, fillfactor=50, fk=False)),
    ]
    rows = []
    for name, binary, make in variants:
        us = measure(base, binary, make, args.rounds)
        rows.append([name, "%.1f" % us])
        print("%s: %.1f us" % (name, us), file=sys.stderr, flush=True)
    print("PostgreSQL backend CPU per tick (claim + end), %d regions, %d-row batches, %d rounds, one "
          "connection alone; load average %.1f\n" % (REGIONS, BATCH, args.rounds, os.getloadavg()[0]))
    print(B.table(["variant", "us per tick"], rows))


if __name__ == "__main__":
    main()
