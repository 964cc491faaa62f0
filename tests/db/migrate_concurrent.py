#!/usr/bin/env python3
"""Three `tickd migrate` at once: all succeed, the migrations are applied exactly once.

To make the race certain rather than likely, the test holds the migration lock itself until
all three processes are queued on it, then lets them go.
"""
import subprocess
import time

from tickd_rig import migrate as t

c = t.Checker()


def waiting_migrators(cur):
    cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid = %s AND objid = %s AND objsubid = 1",
                (t.MIGRATION_LOCK_KEY >> 32, t.MIGRATION_LOCK_KEY & 0xFFFFFFFF))
    return cur.fetchone()[0]


def start_three(url):
    return [subprocess.Popen([t.tickd_binary(), "migrate"], env=t.migrate_env(url),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]


def finish(procs):
    return [(p.wait(timeout=60), *p.communicate()) for p in procs]


def judge(label, schema, url, results):
    c.check(all(rc == 0 for rc, _, _ in results), "%s: all three exit 0" % label,
            [err for _, _, err in results])
    applied = sum(err.count("applying migration 001_init") for _, _, err in results)
    c.check(applied == 1, "%s: 001_init is applied by exactly one of them" % label, applied)
    c.check([r[0] for r in t.ledger(url)] == t.sql_versions(), "%s: each version recorded once" % label)
    c.check("job_run" in t.tables_in(schema), "%s: the schema is there" % label)


# 1. Queued behind the lock, released together.
schema, url = t.fresh_schema("mig_conc")
holder = t.connect(autocommit=False)
with holder.cursor() as cur:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (t.MIGRATION_LOCK_KEY,))
procs = start_three(url)
watcher = t.connect()
deadline = time.monotonic() + 30
with watcher.cursor() as cur:
    while waiting_migrators(cur) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    queued = waiting_migrators(cur)
c.check(queued >= 3, "all three wait for the advisory lock before doing anything", queued)
c.check(t.tables_in(schema) == [], "nothing is created before the lock is taken", t.tables_in(schema))
holder.commit()
holder.close()
watcher.close()
judge("queued", schema, url, finish(procs))

# 2. Started together without help, a few times.
for round_ in range(3):
    schema, url = t.fresh_schema("mig_race")
    judge("race %d" % round_, schema, url, finish(start_three(url)))

c.done()
