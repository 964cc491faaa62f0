#!/usr/bin/env python3
"""The claims' plans (sql/011) whatever the day partitions' statistics say: a claim keeps its
plan for its session, made while the day it claims in was empty, and a day analyzed while
empty (ANALYZE job_run, vacuumdb --analyze-only) made that plan read the day whole, or every
run of an instant, for each region of each claim once the day filled. Also: the running slots
of a schema at version 10 get their rows' ids, and still refuse a second running row."""
import datetime
import time

import psycopg2.errors

from tickd_rig import migrate as t

c = t.Checker()
schema, url = t.fresh_schema("plans")
t.apply_sql_up_to(url, 10)

conn = t.connect(url)
cur = conn.cursor()


def one(sql, args=None, on=None):
    (on or cur).execute(sql, args)
    return (on or cur).fetchone()[0]


REGIONS = 300
cur.execute("INSERT INTO region_index (code, cron_schedule) SELECT 'r' || g, '* * * * * *' "
            "FROM generate_series(1, %s) g", (REGIONS,))
cur.execute("SELECT id FROM region_index ORDER BY id")
ids = [r for (r,) in cur.fetchall()]

# --- a slot taken at version 10 (by job_run's trigger, without the row's id) ---
cur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
            "VALUES (%s, now() - interval '1 minute', 'live', 'running') RETURNING id", (ids[0],))
live_run = cur.fetchone()[0]
r = t.run_migrate(url)
c.check(r.returncode == 0, "tickd migrate applies sql/011", r.stderr[-2000:])
c.check(one("SELECT run_id FROM region_running WHERE region_id = %s", (ids[0],)) == live_run,
        "a slot taken before sql/011 holds its running row's id after it")

today = one("SELECT (now() AT TIME ZONE 'UTC')::date")
CLAIM = ("SELECT tick_region, run_id FROM tickd_claim_batch(%s::bigint[], %s::bigint[], "
         "%s::timestamptz, 'plans', array_fill('infinity'::timestamptz, ARRAY[%s]), "
         "array_fill('* * * * * *'::text, ARRAY[%s]), array_fill('UTC'::text, ARRAY[%s]))")
END = ("SELECT count(*) FROM tickd_finish_batch(%s::bigint[], array_fill(%s::timestamptz, ARRAY[%s]), "
       "array_fill('ok'::text, ARRAY[%s]), array_fill(NULL::text, ARRAY[%s]), "
       "array_fill('{}'::text, ARRAY[%s]), 'plans', array_fill(1, ARRAY[%s]), "
       "array_fill(NULL::text, ARRAY[%s]), array_fill(false, ARRAY[%s]), array_fill(false, ARRAY[%s]))")
claimable = ids[1:]  # ids[0] still runs
n = len(claimable)
ROUNDS = 20


def day_ahead(days):
    day = today + datetime.timedelta(days=days)
    part = "job_run_" + day.strftime("%Y%m%d")
    # Autovacuum would analyze the day as it fills, and so mend what this test looks at.
    cur.execute("ALTER TABLE %s SET (autovacuum_enabled = false)" % part)
    return part, datetime.datetime(day.year, day.month, day.day, 1, tzinfo=datetime.timezone.utc)


def reltuples(part):
    return one("SELECT reltuples FROM pg_class WHERE relname = %s AND relnamespace = %s::regnamespace",
               (part, schema))


class Ticks:
    """A session claiming and ending every region's tick, second after second, in one day: its
    plans are made at its first claim and end, while the day is empty, as a replica's are for
    the days ahead of it."""

    def __init__(self, part, start):
        self.conn = t.connect(url)
        self.cur = self.conn.cursor()
        self.part, self.start, self.k = part, start, 0

    def reads(self):
        """Index entries returned and sequential scans of the day, this session's so far
        (counts not yet flushed to the shared statistics: compare two in one transaction)."""
        self.cur.execute("SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(i.indexrelid)), 0), "
                         "  (SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = %s::regclass) "
                         "FROM pg_index i WHERE i.indrelid = %s::regclass", (self.part, self.part))
        return self.cur.fetchone()

    def round(self):
        """One claim and its end; returns the runs claimed and what each read of the day."""
        at = self.start + datetime.timedelta(seconds=self.k)
        self.k += 1
        self.cur.execute("BEGIN")
        r0 = self.reads()
        self.cur.execute(CLAIM, (claimable, claimable, at, n, n, n))
        runs = [run for (_, run) in self.cur.fetchall() if run is not None]
        r1 = self.reads()
        m = len(runs)
        self.cur.execute(END, (runs, at, m, m, m, m, m, m, m, m))
        r2 = self.reads()
        self.cur.execute("COMMIT")
        return runs, (r1[0] - r0[0], r1[1] - r0[1]), (r2[0] - r1[0], r2[1] - r1[1])

    def fill(self):
        for _ in range(ROUNDS):
            runs, _, _ = self.round()
            if len(runs) != n:
                return False
        return True


def check_reads(what, read):
    entries, seq_scans = read
    # A probe per region of its row, and the insert's checks of its keys: a few index entries
    # per region. Every run of an instant would be n per region, the day n * ROUNDS.
    c.check(seq_scans == 0 and entries <= 4 * n, what,
            "%d index entries and %d sequential scans for %d regions" % (entries, seq_scans, n))


# --- a claim's plan made while its day was analyzed empty: still a probe per region ---
cur.execute("ANALYZE job_run")  # every day ahead, empty: reltuples 0
part, start = day_ahead(2)
c.check(reltuples(part) == 0, "the day ahead is analyzed while empty")
ticks = Ticks(part, start)
c.check(ticks.fill(), "every free region is claimed, %d rounds" % ROUNDS)
runs, claim_read, end_read = ticks.round()
c.check(len(runs) == n, "the measured claim claims every free region", "%d of %d" % (len(runs), n))
check_reads("a claim planned on the day analyzed empty reads a few entries per region", claim_read)
print("     (its end read %d index entries of the day)" % end_read[0])

# --- tickd mends the statistics: the day with rows is analyzed, the empty one truncated ---
empty_part, empty_start = day_ahead(3)
c.check(reltuples(empty_part) == 0, "the day after it is analyzed while empty too")
analyzed_empty = one("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "WHERE i.inhparent = 'job_run'::regclass AND c.reltuples = 0 AND c.relpages = 0")
rows_before = one("SELECT count(*) FROM %s" % part)
mended = one("SELECT tickd_job_run_forget_empty_statistics(%s::date - 1, %s::date + 3)", (today, today))
c.check(one("SELECT count(*) FROM %s" % part) == rows_before, "the day with rows keeps them all",
        rows_before)
c.check(mended == analyzed_empty and mended >= 2, "every day analyzed while empty is mended",
        "%s of %s" % (mended, analyzed_empty))
c.check(reltuples(part) >= n * ROUNDS, "the day with rows is analyzed", reltuples(part))
c.check(reltuples(empty_part) == -1, "the empty day's statistics are forgotten", reltuples(empty_part))
c.check(one("SELECT tickd_job_run_forget_empty_statistics(%s::date - 1, %s::date + 3)", (today, today)) == 0,
        "nothing more to mend")
runs, claim_read, end_read = ticks.round()
check_reads("once mended, the same session's claim reads a few entries per region", claim_read)
check_reads("once mended, the same session's end reads a few entries per region", end_read)

# --- plans made while a day is empty and never analyzed (as tickd leaves it): probes ---
fresh = Ticks(empty_part, empty_start)
c.check(fresh.fill(), "every free region is claimed in the forgotten day, %d rounds" % ROUNDS)
runs, claim_read, end_read = fresh.round()
check_reads("a claim planned on a day never analyzed reads a few entries per region", claim_read)
check_reads("an end planned on a day never analyzed reads a few entries per region", end_read)

# --- the slot kept from version 10 still refuses a second running row; after its end, not ---
at = start + datetime.timedelta(seconds=ROUNDS + 5)
cur.execute(CLAIM, ([ids[0]], [ids[0]], at, 1, 1, 1))
c.check(cur.fetchone()[1] is None, "a region whose slot's row (from before sql/011) runs is not claimed")
cur.execute("UPDATE job_run SET status = 'ok', finished_at = now() WHERE id = %s", (live_run,))
cur.execute(CLAIM, ([ids[0]], [ids[0]], at, 1, 1, 1))
c.check(cur.fetchone()[1] is not None, "once that row ended, the region is claimed")
c.check(one("SELECT count(*) FROM job_run WHERE region_id = %s AND status = 'running'", (ids[0],)) == 1,
        "one running row for the region")

# --- a claim at its instant waits for a running row's lock briefly, not while its holder stalls ---
# (a replica stopped between its tick_sql's mark and its COMMIT holds the row's lock)
stalled = t.connect(url)
stalled.autocommit = False
stalled.cursor().execute("UPDATE job_run SET tick_sql_at = now() WHERE region_id = %s "
                         "AND status = 'running'", (ids[0],))
cur.execute("SET statement_timeout = '5s'")
at_instant = one("SELECT now() - interval '1 second'")  # its deadline is ahead: infinity
began = time.monotonic()
try:
    cur.execute(CLAIM, ([ids[0]], [ids[0]], at_instant, 1, 1, 1))
    claimed = cur.fetchone()[1]
except psycopg2.errors.QueryCanceled:  # waited for the holder until statement_timeout
    claimed = "cancelled after 5 s"
finally:
    stalled.rollback()  # or the schema's cleanup would wait for it
waited = time.monotonic() - began
c.check(claimed is None, "the claim waits for the lock briefly (250 ms), not for its holder: "
        "the tick overlaps", "%s after %.2f s" % (claimed, waited))
cur.execute("RESET statement_timeout")

c.done()
