#!/usr/bin/env python3
"""`tickd migrate` through pgbouncer in transaction pooling: three at once, two server
connections, applied exactly once (the advisory lock is transaction-scoped, so pooling cannot
leak or share it)."""
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import migrate_testlib as t

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
if not os.path.exists(PGBOUNCER):
    print("pgbouncer is not installed: skipping")
    raise SystemExit(t.SKIP)

c = t.Checker()
base = t.base_url()
parts = urllib.parse.urlsplit(base)
if not parts.scheme.startswith("postgres"):
    print("TICKD_TEST_DATABASE_URL is not a URI: skipping")
    raise SystemExit(t.SKIP)
dbname = parts.path.lstrip("/") or "postgres"

# pgbouncer passes no `options`, so the schema comes from a role whose search_path selects it.
schema, _ = t.fresh_schema("mig_bouncer")
role = "tickd_bouncer_" + schema.split("_")[-1]
admin = t.connect()
with admin.cursor() as cur:
    cur.execute('CREATE ROLE "%s" LOGIN' % role)
    cur.execute('ALTER SCHEMA "%s" OWNER TO "%s"' % (schema, role))
    cur.execute('ALTER ROLE "%s" SET search_path = "%s"' % (role, schema))

workdir = tempfile.mkdtemp(prefix="tickd-pgbouncer-")
proc = None
try:
    port = t.free_port()
    ini = os.path.join(workdir, "pgbouncer.ini")
    with open(os.path.join(workdir, "users.txt"), "w") as f:
        f.write('"%s" ""\n' % role)
    with open(ini, "w") as f:
        f.write("""[databases]
%(db)s = host=%(host)s port=%(port)s dbname=%(db)s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %(listen)d
unix_socket_dir =
auth_type = trust
auth_file = %(dir)s/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 50
server_reset_query =
logfile = %(dir)s/pgbouncer.log
""" % {"db": dbname, "host": parts.hostname, "port": parts.port or 5432, "listen": port, "dir": workdir})
    cmd = [PGBOUNCER, ini]
    if os.getuid() == 0:  # pgbouncer refuses to run as root
        os.system("chown -R postgres:postgres %s" % workdir)
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "postgresql://%s@127.0.0.1:%d/%s" % (role, port, dbname)
    deadline = time.monotonic() + 10
    while True:
        try:
            t.connect(url).close()
            break
        except Exception as err:
            if time.monotonic() > deadline or proc.poll() is not None:
                print(open(os.path.join(workdir, "pgbouncer.log")).read() if os.path.exists(
                    os.path.join(workdir, "pgbouncer.log")) else "")
                raise SystemExit("pgbouncer did not come up: %s" % err)
            time.sleep(0.1)

    for round_ in range(3):
        if round_:
            with admin.cursor() as cur:
                # Every table of the schema, whatever the migrations have come to hold.
                cur.execute("SELECT string_agg(format('%%I.%%I', schemaname, tablename), ', ') "
                            "FROM pg_tables WHERE schemaname = %s", (schema,))
                cur.execute('DROP TABLE IF EXISTS %s CASCADE' % cur.fetchone()[0])
                cur.execute('DROP FUNCTION IF EXISTS "%s".tickd_region_touch(), "%s".tickd_region_notify()'
                            % (schema, schema))
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
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(workdir, ignore_errors=True)
    with admin.cursor() as cur:
        cur.execute('DROP SCHEMA IF EXISTS "%s" CASCADE' % schema)
        cur.execute('DROP ROLE IF EXISTS "%s"' % role)
    admin.close()
c.done()
