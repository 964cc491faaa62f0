#!/usr/bin/env python3
"""The schema of sql/001_init.sql keeps bad rows out and notifies every change."""
import random
import select
import time

import psycopg2
import psycopg2.errors as e

from tickd_rig import migrate as t

c = t.Checker()
schema, url = t.fresh_schema("mig_schema")
r = t.run_migrate(url)
if r.returncode != 0:
    print(r.stderr)
    raise SystemExit(1)

conn = t.connect(url)
cur = conn.cursor()


def refused(sql, args, error, what):
    try:
        cur.execute(sql, args)
    except error:
        c.check(True, what)
        return
    except psycopg2.Error as other:
        c.check(False, what, "got %s: %s" % (type(other).__name__, other))
        return
    c.check(False, what, "the statement succeeded")


# Ids far from other tests' (the notification channel is shared by the whole database).
base = random.randint(10**12, 10**15)

# region_index
cur.execute("INSERT INTO region_index (id, code, cron_schedule) VALUES (%s, 'r1', '* * * * *') "
            "RETURNING name, bbox, timezone, active, handlers, tick_sql, updated_at", (base,))
name, bbox, tz, active, handlers, tick_sql, updated_at = cur.fetchone()
c.check((name, bbox, tz, active, handlers, tick_sql) == ("", None, "UTC", True, ["region"], None),
        "region_index defaults: name '', bbox NULL, UTC, active, {region}, no tick_sql")
c.check(updated_at is not None, "updated_at is set on insert")
cur.execute("INSERT INTO region_index (code, cron_schedule, bbox) VALUES ('r-auto', '0 * * * *', "
            "'{1.5,2,3,4}') RETURNING id")
c.check(cur.fetchone()[0] is not None, "an id is generated when none is given; bbox takes 4 numbers")
refused("INSERT INTO region_index (code, cron_schedule) VALUES ('', '* * * * *')", None,
        e.CheckViolation, "an empty code is refused")
refused("INSERT INTO region_index (code, cron_schedule) VALUES ('r1', '* * * * *')", None,
        e.UniqueViolation, "a duplicate code is refused")
refused("INSERT INTO region_index (code, cron_schedule) VALUES (NULL, '* * * * *')", None,
        e.NotNullViolation, "a NULL code is refused")
refused("INSERT INTO region_index (code, cron_schedule) VALUES ('r2', '  ')", None,
        e.CheckViolation, "a blank cron_schedule is refused")
refused("INSERT INTO region_index (code, cron_schedule, bbox) VALUES ('r3', '* * * * *', '{1,2,3}')",
        None, e.CheckViolation, "a bbox of 3 numbers is refused")
refused("INSERT INTO region_index (code, cron_schedule, handlers) VALUES ('r4', '* * * * *', NULL)",
        None, e.NotNullViolation, "NULL handlers are refused")

cur.execute("UPDATE region_index SET name = 'x', updated_at = '2000-01-01Z' WHERE id = %s "
            "RETURNING updated_at > '2020-01-01Z'", (base,))
c.check(cur.fetchone()[0], "the BEFORE UPDATE trigger keeps updated_at current")

# Notifications: one per INSERT, UPDATE and DELETE, the row's id as payload, at commit.
listener = t.connect(url)
lcur = listener.cursor()
lcur.execute("LISTEN tickd_region_changed")
cur.execute("INSERT INTO region_index (id, code, cron_schedule) VALUES (%s, 'n1', '* * * * *')", (base + 1,))
cur.execute("UPDATE region_index SET active = false WHERE id = %s", (base + 1,))
cur.execute("DELETE FROM region_index WHERE id = %s", (base + 1,))
conn.autocommit = False
cur.execute("INSERT INTO region_index (id, code, cron_schedule) VALUES (%s, 'n2', '* * * * *')", (base + 2,))
conn.rollback()
conn.autocommit = True
payloads = []
deadline = time.monotonic() + 3
while time.monotonic() < deadline and len(payloads) < 3:
    select.select([listener], [], [], 0.2)
    listener.poll()
    while listener.notifies:
        n = listener.notifies.pop(0)
        if n.channel == "tickd_region_changed" and n.payload in (str(base + 1), str(base + 2)):
            payloads.append(n.payload)
time.sleep(0.3)
listener.poll()
payloads += [n.payload for n in listener.notifies if n.payload == str(base + 2)]
c.check(payloads == [str(base + 1)] * 3, "INSERT, UPDATE and DELETE each notify tickd_region_changed "
        "with the id; a rolled-back insert does not", payloads)

# job_run (a partition per day, sql/008: the day of these rows first)
region = base
cur.execute("SELECT tickd_job_run_add_partitions('2026-01-01', '2026-01-01')")
refused("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
        "VALUES (%s, '2025-06-01T00:00:00Z', 'a', 'running')", (region,), e.CheckViolation,
        "a row of a day without a partition is refused (there is no default partition)")
cur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
            "VALUES (%s, '2026-01-01T00:00:00Z', 'a', 'running') RETURNING id, details, started_at",
            (region,))
run_id, details, started_at = cur.fetchone()
c.check(details == {} and started_at is not None, "job_run defaults: details {}, started_at now()")
refused("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
        "VALUES (%s, '2026-01-01T00:01:00Z', 'b', 'running')", (region,), e.UniqueViolation,
        "a second running tick of a region is refused by the database")
refused("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
        "VALUES (%s, '2026-01-01T00:00:00Z', 'b', 'ok', now())", (region,), e.UniqueViolation,
        "a second claim of (region, scheduled_for) is refused")
refused("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
        "VALUES (%s, '2026-01-01T00:02:00Z', 'b', 'done', now())", (region,), e.CheckViolation,
        "an unknown status is refused")
refused("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
        "VALUES (%s, '2026-01-01T00:02:00Z', 'b', 'ok')", (region,), e.CheckViolation,
        "a finished status without finished_at is refused")
refused("UPDATE job_run SET finished_at = now() WHERE id = %s", (run_id,), e.CheckViolation,
        "a running row with finished_at is refused")
refused("INSERT INTO job_run (id, region_id, scheduled_for, replica_id, status) "
        "VALUES (1, %s, '2026-01-01T00:03:00Z', 'b', 'running')", (region,), e.GeneratedAlways,
        "job_run.id cannot be chosen by the writer")
refused("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
        "VALUES (-1, '2026-01-01T00:03:00Z', 'b', 'running')", None, e.ForeignKeyViolation,
        "a job_run of an unknown region is refused")
cur.execute("UPDATE job_run SET status = 'ok', finished_at = now() WHERE id = %s", (run_id,))
cur.execute("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
            "VALUES (%s, '2026-01-01T00:01:00Z', 'b', 'running')", (region,))
c.check(True, "once the running tick finished, the next may run")
cur.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = "
            "'job_run_running_by_replica'", (schema,))
row = cur.fetchone()
c.check(row is not None and "(replica_id) WHERE (status = 'running'::text)" in row[0],
        "running ticks are indexed by replica", row)
cur.execute("DELETE FROM region_index WHERE id = %s", (region,))
cur.execute("SELECT count(*) FROM job_run WHERE region_id = %s", (region,))
c.check(cur.fetchone()[0] == 0, "deleting a region deletes its job_run rows")

# tickd_replica
cur.execute("INSERT INTO tickd_replica (replica_id) VALUES ('a') RETURNING started_at, heartbeat_at")
started, heartbeat = cur.fetchone()
c.check(started is not None and heartbeat is not None, "tickd_replica timestamps default to now()")
refused("INSERT INTO tickd_replica (replica_id) VALUES ('a')", None, e.UniqueViolation,
        "a replica id is recorded once")

conn.close()
listener.close()
c.done()
