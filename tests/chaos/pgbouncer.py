#!/usr/bin/env python3
"""tickd behind PgBouncer in transaction pooling mode (Debian pgbouncer, pool of 3 server
connections for two replicas with DB_POOL_SIZE 8 each), against the test PostgreSQL.

Phase 1: DATABASE_URL through pgbouncer, DATABASE_LISTEN_URL direct. 20 regions every second
run exactly once over ~10 s (a row for every (region, second), none twice, each tick executed
once by the replica holding its row); the server sees no more connections of tickd's role than
the pool plus the two listeners; an UPDATE and an INSERT on region_index apply within 1 s on both
replicas (/status, and the rows follow from commit + 1 s on).

Phase 2: DATABASE_LISTEN_URL also through pgbouncer (LISTEN does not work through a transaction
pooler) and REGION_REFRESH_INTERVAL_MS=1000: changes still apply, by the periodic reconcile
(within 2.5 s), and ticks still run exactly once.

pgbouncer passes no `options`, so the schema comes from a role whose search_path selects it."""
import math
import signal
import subprocess
import time
import urllib.parse

from tickd_rig import pg, rig
from tickd_rig.util import check, pg_host_port, wait_for

REGIONS = 20
POOL = 3
EXEC_SQL = ("INSERT INTO bouncer_exec (region_id, scheduled_for, app) "
            "VALUES ($1, $2, current_setting('application_name'))")


def exactly_once(r, ids, t0, t1, replicas, label):
    rows = r.sql("SELECT region_id, extract(epoch FROM scheduled_for)::bigint, replica_id, status FROM job_run "
                 "WHERE region_id = ANY(%s) AND scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
                 [ids, t0, t1])
    have = {(a, s): (rep, st) for a, s, rep, st in rows}
    check(len(have) == len(rows), "%s: one row per (region, second)" % label, "%d rows, %d keys" % (len(rows), len(have)))
    missing = [(a, s) for a in ids for s in range(t0, t1 + 1) if (a, s) not in have]
    check(not missing, "%s: a row for every region and second in [%d, %d]" % (label, t0, t1),
          "%d missing, e.g. %s" % (len(missing), missing[:10]))
    bad = [(k, v) for k, v in have.items() if v[1] != "ok"]
    check(not bad, "%s: every row ok" % label, bad[:10])
    execs = r.sql("SELECT region_id, extract(epoch FROM scheduled_for)::bigint, array_agg(app) FROM bouncer_exec "
                  "WHERE region_id = ANY(%s) AND scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s) "
                  "GROUP BY 1, 2", [ids, t0, t1])
    twice = [e for e in execs if len(e[2]) > 1]
    check(not twice, "%s: no tick executed twice" % label, twice[:10])
    # Through pgbouncer application_name is the client's (pgbouncer forwards it), so the
    # executing replica is known: it must be the one whose row it is.
    foreign = [e for e in execs if (e[0], e[1]) in have and e[2][0] in replicas and e[2][0] != have[(e[0], e[1])][0]]
    check(not foreign, "%s: each tick executed by the replica that holds its row" % label, foreign[:10])
    check(len(execs) == len(rows), "%s: one execution per row" % label, "%d executions, %d rows" % (len(execs), len(rows)))
    per = {}
    for rep, _ in have.values():
        per[rep] = per.get(rep, 0) + 1
    print("%s: %d ticks exactly once; rows per replica %s" % (label, len(rows), per))


def hot_apply(r, ts, ids, bound, label):
    """UPDATE one region to every 3rd second and INSERT a new one; both replicas' /status shows
    them within `bound` s; rows from commit + bound on follow."""
    target = ids[0]
    code = r.sql_value("SELECT code FROM region_index WHERE id = %s", [target])
    new_code = "%s-new" % label
    r.sql("UPDATE region_index SET cron_schedule = '*/3 * * * * *' WHERE id = %s", [target])
    tc = time.time()
    new_id = r.add_region(new_code, "* * * * * *", tick_sql=EXEC_SQL)
    tc_new = time.time()
    seen = {}
    for t in ts:
        def applied(t=t):
            regs = t.status_regions()
            return regs.get(code, {}).get("cron_schedule") == "*/3 * * * * *" and new_code in regs
        wait_for(applied, bound + 3, "%s: %s shows the change" % (label, t.name), interval=0.02)
        seen[t.name] = time.time() - tc
    print("%s: change visible in /status after %s s" % (label, {k: round(v, 3) for k, v in seen.items()}))
    late = {k: v for k, v in seen.items() if v > bound}
    check(not late, "%s: UPDATE + INSERT applied on every replica within %.1f s" % (label, bound), seen)
    time.sleep(max(0.0, math.ceil(tc_new + bound) + 4.5 - time.time()))
    first = math.ceil(tc + bound)
    rows = [s for (s,) in r.sql("SELECT extract(epoch FROM scheduled_for)::bigint FROM job_run WHERE region_id = %s "
                                "AND scheduled_for >= to_timestamp(%s)", [target, first])]
    wrong = [s for s in rows if s % 3 != 0]
    check(rows and not wrong, "%s: from commit + %.1f s on, region %s runs only every 3rd second" % (label, bound, code),
          "seconds %s" % sorted(rows))
    first_new = math.ceil(tc_new + bound)
    last = math.floor(time.time()) - 1
    got = {s for (s,) in r.sql("SELECT extract(epoch FROM scheduled_for)::bigint FROM job_run WHERE region_id = %s",
                               [new_id])}
    lacking = [s for s in range(first_new, last + 1) if s not in got]
    check(not lacking, "%s: the inserted region runs every second from commit + %.1f s on" % (label, bound),
          "missing %s (have %s)" % (lacking, sorted(got)))
    r.sql("UPDATE region_index SET active = false WHERE id = %s", [new_id])
    return target, new_id


def test(r):
    base = r.base
    host, port = pg_host_port(base)
    db = urllib.parse.urlsplit(base).path.lstrip("/") or "postgres"
    role = "tickd_bnc_" + r.schema.split("_")[-1]
    r.sql('CREATE ROLE "%s" LOGIN' % role)

    def drop_role():
        r.sql('REASSIGN OWNED BY "%s" TO CURRENT_USER' % role)
        r.sql('DROP OWNED BY "%s"' % role)
        r.sql('DROP ROLE "%s"' % role)
    r.cleanups.append(drop_role)
    r.sql('ALTER SCHEMA "%s" OWNER TO "%s"' % (r.schema, role))
    r.sql('ALTER ROLE "%s" SET search_path = "%s"' % (role, r.schema))
    direct = "postgresql://%s@%s:%d/%s" % (role, host, port, db)

    bouncer = pg.Bouncer(host, port, db, [role], pool_size=POOL)
    r.cleanups.append(bouncer.close)
    pooled = bouncer.url(role)
    bouncer.wait_accepting(role)

    # Migrate through pgbouncer too (transaction-scoped migration lock).
    m = subprocess.run([r.tickd, "migrate"], env=r.env_for(pooled), capture_output=True, text=True, timeout=60)
    check(m.returncode == 0, "tickd migrate through pgbouncer exits 0", m.stderr)
    r.sql("CREATE TABLE bouncer_exec (region_id bigint, scheduled_for timestamptz, app text)")
    r.sql('ALTER TABLE bouncer_exec OWNER TO "%s"' % role)

    # -- phase 1: pooled claims, direct notifications --------------------------------------------
    ids = [r.add_region("p1-r%02d" % i, "* * * * * *", tick_sql=EXEC_SQL) for i in range(REGIONS)]
    env = dict(DATABASE_LISTEN_URL=direct, TICK_LEASE_MS=4000, LOG_LEVEL="info")
    a = r.start_tickd("a", database_url=pooled, **env)
    b = r.start_tickd("b", database_url=pooled, **env)
    t0 = math.floor(time.time()) + 2
    t1 = t0 + 9
    time.sleep(max(0.0, t1 + 1.6 - time.time()))
    exactly_once(r, ids, t0, t1, {a.replica_id, b.replica_id}, "phase 1")
    conns = r.sql_value("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role])
    check(conns <= POOL + 2, "at most %d server connections of tickd's role (pool %d + 2 listeners)" % (POOL + 2, POOL),
          conns)
    print("phase 1: %d server connections of the role for 2 replicas x DB_POOL_SIZE 8" % conns)
    for t in (a, b):
        log = t.log()
        check("listening for region changes" in log, "%s listens (direct connection)" % t.name, log[-2000:])
    hot_apply(r, (a, b), ids, 1.0, "phase 1")
    for t in (a, b):
        t.signal(signal.SIGTERM)
        check(t.wait_exit(10) == 0, "%s exits 0 on SIGTERM" % t.name, t.proc.returncode)
    r.sql("UPDATE region_index SET active = false WHERE id = ANY(%s)", [ids])

    # -- phase 2: notifications through pgbouncer too: the periodic reconcile applies changes ----
    ids = [r.add_region("p2-r%02d" % i, "* * * * * *", tick_sql=EXEC_SQL) for i in range(REGIONS)]
    env = dict(DATABASE_LISTEN_URL=pooled, REGION_REFRESH_INTERVAL_MS=1000, TICK_LEASE_MS=4000, LOG_LEVEL="info")
    c = r.start_tickd("c", database_url=pooled, **env)
    d = r.start_tickd("d", database_url=pooled, **env)
    t0 = math.floor(time.time()) + 2
    t1 = t0 + 7
    time.sleep(max(0.0, t1 + 1.6 - time.time()))
    exactly_once(r, ids, t0, t1, {c.replica_id, d.replica_id}, "phase 2")
    hot_apply(r, (c, d), ids, 2.5, "phase 2")
    for t in (c, d):
        check(t.alive(), "%s still running" % t.name, t.proc.returncode)
        t.signal(signal.SIGTERM)
        check(t.wait_exit(10) == 0, "%s exits 0 on SIGTERM" % t.name, t.proc.returncode)
    left = r.sql_value("SELECT count(*) FROM job_run WHERE status = 'running'")
    check(left == 0, "no running rows after SIGTERM", left)


if __name__ == "__main__":
    rig.main(test, migrate=False)
