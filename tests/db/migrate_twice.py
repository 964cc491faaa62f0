#!/usr/bin/env python3
"""`tickd migrate` twice on a fresh schema: the first applies everything, the second nothing."""
import json

from tickd_rig import migrate as t

c = t.Checker()
schema, url = t.fresh_schema("mig_twice")

first = t.run_migrate(url)
c.check(first.returncode == 0, "the first run exits 0", first.stderr)
c.check("applying migration 001_init in schema %s" % schema in first.stderr,
        "the first run says what it applies and where", first.stderr)
c.check(first.stdout == "", "nothing on stdout", first.stdout)
rows = t.ledger(url)
c.check([r[0] for r in rows] == t.sql_versions(), "every sql/ file is recorded once", rows)
c.check(rows and rows[0][1] == "init", "a version is recorded with its name", rows)
c.check({"region_index", "job_run", "tickd_replica", "tickd_schema_migrations"} <= set(t.tables_in(schema)),
        "the tables are in the schema that search_path selects", t.tables_in(schema))

second = t.run_migrate(url)
c.check(second.returncode == 0, "the second run exits 0", second.stderr)
c.check("applying" not in second.stderr, "the second run applies nothing", second.stderr)
c.check("up to date at version %d" % t.sql_versions()[-1] in second.stderr,
        "the second run reports the schema up to date", second.stderr)
c.check(t.ledger(url) == rows, "the ledger is unchanged by the second run")

json_run = t.run_migrate(url, LOG_FORMAT="json")
lines = [l for l in json_run.stderr.splitlines() if l.strip()]
try:
    objects = [json.loads(l) for l in lines]
    ok = all({"ts", "level", "msg"} <= set(o) for o in objects) and len(objects) >= 2
except ValueError:
    ok = False
c.check(json_run.returncode == 0 and ok, "LOG_FORMAT=json logs one JSON object per line", json_run.stderr)
c.done()
