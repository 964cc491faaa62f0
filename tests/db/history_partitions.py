#!/usr/bin/env python3
"""job_run partitioned by day (sql/008): the migration keeps an existing history, row for row
and id for id; partitions are made ahead safely by racing creators and dropped past the
retention unless a row in them still runs; the one-running-per-region rule holds under
concurrent writers, as the unique index it replaces did."""
import datetime
import threading

import psycopg2
import psycopg2.errors as e

from tickd_rig import migrate as t

c = t.Checker()
schema, url = t.fresh_schema("history")
t.apply_sql_up_to(url, 7)

conn = t.connect(url)
cur = conn.cursor()


def one(sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def rows(sql, args=None):
    cur.execute(sql, args)
    return cur.fetchall()


today = one("SELECT (now() AT TIME ZONE 'UTC')::date")
cur.execute("INSERT INTO region_index (code, cron_schedule) SELECT 'r' || g, '* * * * * *' "
            "FROM generate_series(1, 20) g")
regions = [r for (r,) in rows("SELECT id FROM region_index ORDER BY id")]

# --- a history in the version-7 table: old days, today, one row 400 days back, running rows ---
cur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at, error) "
            "SELECT r.id, now() - make_interval(days => d) - make_interval(secs => g), 'old', "
            "       CASE WHEN g % 7 = 0 THEN 'failed' ELSE 'ok' END, now(), "
            "       CASE WHEN g % 7 = 0 THEN 'boom' END "
            "FROM region_index r, generate_series(0, 12) d, generate_series(1, 30) g")
cur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
            "VALUES (%s, now() - interval '400 days', 'old', 'ok', now())", (regions[0],))
cur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
            "VALUES (%s, now() + interval '1 second', 'live', 'running')", (regions[1],))
ROWS = "SELECT count(*), md5(string_agg(j::text, ',' ORDER BY id)), max(id) FROM job_run j"
before = rows(ROWS)[0]

r = t.run_migrate(url)
c.check(r.returncode == 0, "tickd migrate converts the version-7 table", r.stderr[-2000:])
after = rows(ROWS)[0]
c.check(after == before, "every row kept, with its id and every column",
        "%s rows -> %s" % (before[0], after[0]))
c.check(one("SELECT relkind FROM pg_class WHERE oid = 'job_run'::regclass") == "p",
        "job_run is a partitioned table")
PARTITIONS = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
              "WHERE i.inhparent = 'job_run'::regclass ")
parts = [p for (p,) in rows(PARTITIONS + "ORDER BY 1")]
wanted = ["job_run_%s" % (today + datetime.timedelta(days=d)).strftime("%Y%m%d") for d in range(-12, 4)]
old_day = one("SELECT ((now() - interval '400 days') AT TIME ZONE 'UTC')::date")
c.check(all(p in parts for p in wanted) and "job_run_%s" % old_day.strftime("%Y%m%d") in parts,
        "a partition for each day with rows, the one of 400 days ago too, and the next three", parts)
c.check(not any("default" in p for p in parts), "no default partition", parts)
c.check(one("SELECT count(*) FROM ONLY job_run") == 0 and
        one("SELECT count(*) FROM job_run_%s" % today.strftime("%Y%m%d")) > 0,
        "today's rows are in today's partition")
new_id = one("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
             "VALUES (%s, now() - interval '5 minutes', 'new', 'ok', now()) RETURNING id", (regions[2],))
c.check(new_id > before[2], "new ids continue after the old ones", (new_id, before[2]))
c.check(one("SELECT count(*) FROM region_running WHERE region_id = %s AND scheduled_for IS NOT NULL",
            (regions[1],)) == 1,
        "the running row brought over holds its region's running slot")


# --- the one-running-per-region rule ---
def insert_running(cursor, region, seconds, skip=False):
    if skip:
        cursor.execute("SELECT set_config('tickd.on_running', 'skip', false)")
    cursor.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
                   "VALUES (%s, now() + make_interval(secs => %s), 'x', 'running') RETURNING id",
                   (region, seconds))
    return cursor.fetchone()


try:
    insert_running(cur, regions[1], 60)
    c.check(False, "a second running row of a region is refused", "inserted")
except e.UniqueViolation as err:
    c.check("job_run_one_running_per_region" in str(err),
            "a second running row of a region is refused, naming the rule", str(err))

other = t.connect(url)
ocur = other.cursor()
ocur.execute("SELECT set_config('tickd.on_running', 'skip', false)")
ocur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
             "VALUES (%s, now() + interval '61 seconds', 'x', 'running') RETURNING id", (regions[1],))
c.check(ocur.fetchone() is None, "with tickd.on_running = skip, it is skipped instead (no row)")

# Concurrent writers: A inserts a running row and holds its transaction; B's insert for another
# instant of the same region waits for A, and then sees A's row: refused if A commits, taken
# if A rolls back.
for outcome in ("commit", "rollback"):
    region = regions[5 if outcome == "commit" else 6]
    a = t.connect(url, autocommit=False)
    acur = a.cursor()
    insert_running(acur, region, 10)
    result = {}

    def second():
        b = t.connect(url)
        try:
            result["row"] = insert_running(b.cursor(), region, 20, skip=True)
        except psycopg2.Error as err:
            result["error"] = err
        b.close()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.0)
    c.check(thread.is_alive(), "%s: the second writer waits for the first" % outcome)
    getattr(a, outcome)()
    thread.join(10)
    a.close()
    running = one("SELECT count(*) FROM job_run WHERE region_id = %s AND status = 'running'", (region,))
    if outcome == "commit":
        c.check(result.get("row") is None and "error" not in result and running == 1,
                "the first committed: the second is skipped, one running row", (result, running))
    else:
        c.check(result.get("row") is not None and running == 1,
                "the first rolled back: the second runs", (result, running))

# An end gives the slot back; so does a delete; a slot whose row no longer runs is taken over.
cur.execute("UPDATE job_run SET status = 'ok', finished_at = now() WHERE region_id = %s "
            "AND status = 'running'", (regions[5],))
c.check(one("SELECT count(*) FROM region_running WHERE region_id = %s AND scheduled_for IS NULL",
            (regions[5],)) == 1, "an end gives the running slot back (free, the row kept)")
run = insert_running(cur, regions[5], 30)
c.check(run is not None, "after the end, the next running row is taken")
cur.execute("DELETE FROM job_run WHERE id = %s", run)
c.check(one("SELECT count(*) FROM region_running WHERE region_id = %s", (regions[5],)) == 0,
        "deleting a running row deletes its slot")
cur.execute("INSERT INTO region_running VALUES (%s, now() - interval '3 days') "
            "ON CONFLICT (region_id) DO UPDATE SET scheduled_for = EXCLUDED.scheduled_for", (regions[7],))
c.check(insert_running(cur, regions[7], 30) is not None,
        "a slot whose row no longer exists (a dropped partition) is taken over")
allowed = [one("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, overlap_allowed) "
               "VALUES (%s, now() + make_interval(secs => %s), 'x', 'running', true) RETURNING id",
               (regions[8], s)) for s in (1, 2)]
c.check(len(set(allowed)) == 2, "overlap-allowed running rows run side by side")

# --- partitions ahead: racing creators ---
errors = []


def create_ahead():
    w = t.connect(url)
    try:
        w.cursor().execute("SELECT tickd_job_run_add_partitions(%s, %s)",
                           (today + datetime.timedelta(days=10), today + datetime.timedelta(days=20)))
    except psycopg2.Error as err:
        errors.append(err)
    w.close()


threads = [threading.Thread(target=create_ahead) for _ in range(4)]
for th in threads:
    th.start()
for th in threads:
    th.join(30)
c.check(not errors, "four replicas creating the same partitions at once: no error", errors)
c.check(one("SELECT count(*) FROM pg_class WHERE relname ~ '^job_run_[0-9]{8}$' "
            "AND relnamespace = current_schema()::regnamespace "
            "AND to_date(substr(relname, 9), 'YYYYMMDD') BETWEEN %s AND %s",
            (today + datetime.timedelta(days=10), today + datetime.timedelta(days=20))) == 11,
        "each day's partition made once")

# A day without a partition refuses its rows (no default partition) until it has one.
far = today + datetime.timedelta(days=40)
try:
    cur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
                "VALUES (%s, %s::date + interval '12 hours', 'x', 'ok', now())", (regions[9], far))
    c.check(False, "a row of a day without a partition is refused", "inserted")
except e.CheckViolation as err:
    c.check("no partition" in str(err), "a row of a day without a partition is refused", str(err))
c.check(one("SELECT tickd_job_run_add_partitions(%s, %s)", (far, far)) == 1 and
        one("SELECT tickd_job_run_add_partitions(%s, %s)", (far, far)) == 0,
        "its partition is made once")

# --- retention: whole partitions, unless a row still runs ---
eight_days_ago = today - datetime.timedelta(days=8)
cur.execute("UPDATE job_run SET status = 'running', finished_at = NULL, overlap_allowed = true "
            "WHERE id = (SELECT id FROM job_run WHERE scheduled_for >= %s::date "
            "AND scheduled_for < %s::date + 1 LIMIT 1)", (eight_days_ago, eight_days_ago))
OLD_DAYS = ("AND c.relname ~ '^job_run_[0-9]{8}$' "
            "AND to_date(substr(c.relname, 9), 'YYYYMMDD') < (now() AT TIME ZONE 'UTC')::date - 5 ")
kept = "job_run_%s" % eight_days_ago.strftime("%Y%m%d")
victims = [p for (p,) in rows(PARTITIONS + OLD_DAYS) if p != kept]
victim_rows = sum(one("SELECT count(*) FROM %s" % p) for p in victims)
OLD_ROWS = "SELECT count(*) FROM job_run WHERE scheduled_for < (now() AT TIME ZONE 'UTC')::date - 5"
old_rows = one(OLD_ROWS)
dropped = one("SELECT tickd_job_run_drop_partitions(5)")
c.check(dropped == len(victims) >= 6,
        "retention 5 days: every day partition before it goes but the one still running", (dropped, victims))
left = [p for (p,) in rows(PARTITIONS + OLD_DAYS)]
c.check(left == [kept], "the partition with a running row stays", left)
c.check(one(OLD_ROWS) == old_rows - victim_rows, "their rows are gone, nothing else",
        (old_rows, victim_rows, one(OLD_ROWS)))

c.done()
