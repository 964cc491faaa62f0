#!/usr/bin/env python3
"""`tickd migrate` through pgbouncer in transaction pooling: three at once, two server
connections, applied exactly once (the advisory lock is transaction-scoped, so pooling cannot
leak or share it)."""
import subprocess
import urllib.parse

from tickd_rig import migrate as t
from tickd_rig.pg import Bouncer
from tickd_rig.util import SKIP, Skip

c = t.Checker()
base = t.base_url()
parts = urllib.parse.urlsplit(base)
if not parts.scheme.startswith("postgres"):
    print("SKIP: TICKD_TEST_DATABASE_URL is not a URI")
    raise SystemExit(SKIP)
dbname = parts.path.lstrip("/") or "postgres"

# pgbouncer passes no `options`, so the schema comes from a role whose search_path selects it.
schema, _ = t.fresh_schema("mig_bouncer")
role = "tickd_bouncer_" + schema.split("_")[-1]
admin = t.connect()
with admin.cursor() as cur:
    cur.execute('CREATE ROLE "%s" LOGIN' % role)
    cur.execute('ALTER SCHEMA "%s" OWNER TO "%s"' % (schema, role))
    cur.execute('ALTER ROLE "%s" SET search_path = "%s"' % (role, schema))

bouncer = None
try:
    try:
        bouncer = Bouncer(parts.hostname, parts.port or 5432, dbname, [role], pool_size=2, max_client_conn=50)
    except Skip as e:
        print("SKIP: %s" % e)
        raise SystemExit(SKIP)
    url = bouncer.url(role)
    bouncer.wait_accepting(role)

    for round_ in range(3):
        if round_:
            with admin.cursor() as cur:
                # Every table of the schema, whatever the migrations have come to hold.
                cur.execute("SELECT string_agg(format('%%I.%%I', schemaname, tablename), ', ') "
                            "FROM pg_tables WHERE schemaname = %s", (schema,))
                cur.execute('DROP TABLE IF EXISTS %s CASCADE' % cur.fetchone()[0])
                # And every function (the triggers' bodies) the migrations created there.
                cur.execute("SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p "
                            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s",
                            (schema,))
                functions = cur.fetchone()[0]
                if functions:
                    cur.execute('DROP FUNCTION %s' % functions)
        procs = [subprocess.Popen([t.tickd_binary(), "migrate"], env=t.migrate_env(url),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        results = [(p.wait(timeout=60), p.communicate()[1]) for p in procs]
        c.check(all(rc == 0 for rc, _ in results), "round %d: three migrators through pgbouncer exit 0"
                % round_, [err for _, err in results])
        applied = sum(err.count("applying migration 001_init") for _, err in results)
        c.check(applied == 1, "round %d: applied exactly once" % round_, applied)
        c.check([r[0] for r in t.ledger(url)] == t.sql_versions(), "round %d: ledger complete" % round_)
        c.check("region_index" in t.tables_in(schema), "round %d: tables in the role's schema" % round_)
    with admin.cursor() as cur:
        # Only this test's role's sessions (pgbouncer's server connections): tests running in
        # parallel on the same server take the same lock in their own migrations.
        cur.execute("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s AND a.usename = %s",
                    (t.MIGRATION_LOCK_KEY >> 32, t.MIGRATION_LOCK_KEY & 0xFFFFFFFF, role))
        c.check(cur.fetchone()[0] == 0, "no migration lock outlives the migrators")
finally:
    if bouncer is not None:
        bouncer.close()
    with admin.cursor() as cur:
        cur.execute('DROP SCHEMA IF EXISTS "%s" CASCADE' % schema)
        cur.execute('DROP ROLE IF EXISTS "%s"' % role)
    admin.close()
c.done()
