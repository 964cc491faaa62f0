"""Helpers for the migration tests (tests/db): a fresh schema per test, running `tickd migrate`.

Each test takes the server from TICKD_TEST_DATABASE_URL (skipped with exit 77 when unset),
creates its own schema and reaches it through `options=-csearch_path=<schema>`, so tests can
run in parallel on one server.
"""
import atexit
import os
import secrets
import subprocess
import sys

import psycopg2

from tickd_rig.util import SKIP, Skip, test_database_url, with_options

SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "sql")
# Key of tickd's migration lock (tickd/db/migrations.hpp): "tickdMGR" in ASCII.
MIGRATION_LOCK_KEY = 0x7469636B644D4752


def base_url():
    """TICKD_TEST_DATABASE_URL (a URI or a key=value conninfo); exits 77 when it is unset."""
    try:
        return test_database_url(require_uri=False)
    except Skip as e:
        print("SKIP: %s" % e)
        sys.exit(SKIP)


def connect(url=None, autocommit=True):
    conn = psycopg2.connect(url or base_url())
    conn.autocommit = autocommit
    return conn


def fresh_schema(prefix="t"):
    """Creates an empty schema, dropped at exit; returns (schema, url selecting it)."""
    schema = "%s_%s" % (prefix, secrets.token_hex(4))
    admin = connect()
    with admin.cursor() as cur:
        cur.execute('CREATE SCHEMA "%s"' % schema)
    admin.close()

    def drop():
        conn = connect()
        with conn.cursor() as cur:
            cur.execute('DROP SCHEMA IF EXISTS "%s" CASCADE' % schema)
        conn.close()

    atexit.register(drop)
    return schema, with_options(base_url(), "-csearch_path=" + schema)


def tickd_binary():
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH_TO_TICKD" % sys.argv[0])
    return os.path.abspath(sys.argv[1])


def migrate_env(database_url, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DATABASE_LISTEN_URL", "LOG_LEVEL", "LOG_FORMAT")}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_migrate(database_url, *args, timeout=60, **extra_env):
    return subprocess.run([tickd_binary(), "migrate", *args], env=migrate_env(database_url, **extra_env),
                          capture_output=True, text=True, timeout=timeout)


def sql_versions():
    """The versions of sql/NNN_name.sql in the source tree, in order."""
    return sorted(int(f[:3]) for f in os.listdir(SQL_DIR) if f.endswith(".sql"))


def ledger(url):
    conn = connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT version, name, applied_at FROM tickd_schema_migrations ORDER BY version")
        rows = cur.fetchall()
    conn.close()
    return rows


def tables_in(schema):
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "ORDER BY table_name", (schema,))
        rows = [r[0] for r in cur.fetchall()]
    conn.close()
    return rows


class Checker:
    """Collects failures so one run reports all of them; exit status 1 if any."""

    def __init__(self):
        self.failures = 0
        self.passed = 0

    def check(self, condition, what, detail=""):
        if condition:
            self.passed += 1
            print("ok   %s" % what)
        else:
            self.failures += 1
            print("FAIL %s %s" % (what, detail))

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failures))
        sys.exit(1 if self.failures else 0)



def apply_sql_up_to(url, version):
    """Applies sql/NNN_*.sql up to `version` as tickd migrate would (one transaction, the
    ledger recorded), so that a test can put rows in an older schema and migrate them."""
    conn = connect(url, autocommit=False)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE tickd_schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
                    "applied_at timestamptz NOT NULL DEFAULT now())")
        for f in sorted(os.listdir(SQL_DIR)):
            if f.endswith(".sql") and int(f[:3]) <= version:
                with open(os.path.join(SQL_DIR, f)) as sql:
                    cur.execute(sql.read())
                cur.execute("INSERT INTO tickd_schema_migrations (version, name) VALUES (%s, %s)",
                            (int(f[:3]), f[4:-4]))
    conn.commit()
    conn.close()
