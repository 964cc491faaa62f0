#!/usr/bin/env python3
"""`tickd migrate` failures: exit status, a message that says what failed, never the password."""
import os
import tempfile

from tickd_rig import migrate as t
from tickd_rig.util import with_options

c = t.Checker()
SECRET = "hunter2-Secret"

r = t.run_migrate(None)
c.check(r.returncode == 2 and "DATABASE_URL is not set" in r.stderr,
        "without DATABASE_URL: exit 2 and says so", (r.returncode, r.stderr))

r = t.run_migrate(None, "--frobnicate")
c.check(r.returncode == 2 and "unexpected argument '--frobnicate'" in r.stderr,
        "an unknown argument: exit 2", (r.returncode, r.stderr))

r = t.run_migrate(None, "--help")
c.check(r.returncode == 0 and "usage: tickd migrate" in r.stdout, "--help prints usage", r.stdout)

with tempfile.TemporaryDirectory() as d:
    bad = os.path.join(d, "bad.toml")
    with open(bad, "w") as f:
        f.write("log_level = \"info\"\nconcurrency = 0\n")
    r = t.run_migrate(t.base_url(), "--config", bad)
    c.check(r.returncode == 2 and "%s:2: concurrency: 0 is out of range" % bad in r.stderr,
            "an invalid config file: exit 2 naming file, line and key", (r.returncode, r.stderr))

    schema, url = t.fresh_schema("mig_err")
    good = os.path.join(d, "good.toml")
    with open(good, "w") as f:
        f.write('database_url = "%s"\n' % url.replace("\\", "\\\\").replace('"', '\\"'))
    r = t.run_migrate(None, "--config", good)
    c.check(r.returncode == 0 and "job_run" in t.tables_in(schema),
            "database_url from --config is used", (r.returncode, r.stderr))

r = t.run_migrate("postgresql://tickd:%s@127.0.0.1:1/tickd" % SECRET)
c.check(r.returncode == 1, "an unreachable server: exit 1", r.returncode)
c.check("connecting to postgresql://tickd:***@127.0.0.1:1/tickd" in r.stderr,
        "the message names the redacted URL", r.stderr)
c.check(SECRET not in r.stderr + r.stdout, "the password is not printed", r.stderr)

r = t.run_migrate("host=127.0.0.1 port=1 user=tickd password=%s connect_timeout=5" % SECRET)
c.check(r.returncode == 1 and SECRET not in r.stderr and "password=***" in r.stderr,
        "key=value form: exit 1, the password redacted", r.stderr)

# A server that answers, a database that does not exist.
import urllib.parse
parts = urllib.parse.urlsplit(t.base_url())
if parts.scheme.startswith("postgres"):
    netloc = "%s:%s@%s:%s" % (parts.username or "postgres", SECRET, parts.hostname, parts.port)
    missing = urllib.parse.urlunsplit((parts.scheme, netloc, "/no_such_db_tickd", "", ""))
    r = t.run_migrate(missing)
    c.check(r.returncode == 1 and "no_such_db_tickd" in r.stderr and SECRET not in r.stderr,
            "a missing database: exit 1, named, password hidden", r.stderr)

r = t.run_migrate(with_options(t.base_url(), "-csearch_path=no_such_schema_tickd"))
c.check(r.returncode == 1 and "search_path names no existing schema" in r.stderr,
        "a search_path without an existing schema: exit 1 and says so", r.stderr)

# A migration that fails half-way leaves nothing behind (one transaction).
schema, url = t.fresh_schema("mig_atomic")
conn = t.connect(url)
with conn.cursor() as cur:
    cur.execute("CREATE TABLE job_run (x int)")  # 001_init creates region_index, then fails here
conn.close()
r = t.run_migrate(url)
c.check(r.returncode == 1 and "applying migration 001_init" in r.stderr and "job_run" in r.stderr,
        "a failing migration: exit 1, naming the migration and the server's error", r.stderr)
c.check(t.tables_in(schema) == ["job_run"], "nothing of a failed migration remains, not even the ledger",
        t.tables_in(schema))

# A role without CREATE on the schema.
schema, url = t.fresh_schema("mig_perm")
role = "tickd_noperm_" + schema.split("_")[-1]
admin = t.connect()
with admin.cursor() as cur:
    cur.execute('CREATE ROLE "%s" LOGIN' % role)
    cur.execute('GRANT USAGE ON SCHEMA "%s" TO "%s"' % (schema, role))
try:
    parts = urllib.parse.urlsplit(t.base_url())
    if parts.scheme.startswith("postgres"):
        netloc = "%s@%s:%s" % (role, parts.hostname, parts.port)
        as_role = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        r = t.run_migrate(with_options(as_role, "-csearch_path=" + schema))
        c.check(r.returncode == 1 and "permission denied" in r.stderr,
                "without CREATE on the schema: exit 1, permission denied", r.stderr)
finally:
    with admin.cursor() as cur:
        cur.execute('REVOKE USAGE ON SCHEMA "%s" FROM "%s"' % (schema, role))
        cur.execute('DROP ROLE "%s"' % role)
    admin.close()

c.done()
