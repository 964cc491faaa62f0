#!/usr/bin/env python3
"""The claim floor: what the database behind tickd can do, with pgbench (-n -c 4 -j 2 -T 10,
prepared statements) on bench/run's cluster, in a schema made by `tickd migrate`, for:

- lock + INSERT: BEGIN; pg_try_advisory_xact_lock; INSERT ... ON CONFLICT DO NOTHING into
  job_run; COMMIT (one claim per transaction, the issue's floor);
- the INSERT alone;
- tickd's claim statement (src/db/sql.hpp kClaimBatch, verbatim) with 1 row, and with 500
  rows (the dispatcher's largest group).

Every claim is of a distinct (region, instant) whose region has no running row (each client
walks its own range of 500,000 regions), so each one inserts a row; the table counts the rows
actually inserted. Then tickd's own claims/s in an aligned burst of N regions on one replica
(bench/aligned_burst.py, same run) as a fraction of each.

usage: bench/claim_floor.py TICKD [--burst N] [--seconds 10] [--clients 4]
  --burst 0 skips tickd's burst (--tickd-claims X gives the figure instead)
(needs TICKD_TEST_DATABASE_URL; bench/run starts a PostgreSQL and sets it)"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import benchlib as B
from tickd_rig import rig

SQL_HPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "db", "sql.hpp")
RANGE = 500000  # regions per pgbench client
EPOCH = 1767225600  # 2026-01-01T00:00:00Z: instants are EPOCH + the client's transaction number
BATCH = 500


def sql_constant(name, path=SQL_HPP):
    """A statement constant as the C++ source spells it: its string literals joined, comments
    between them skipped, and the #define'd fragments it names (TICKD_...) put in."""
    src = open(path).read()
    i = src.find(name + " =")
    if i < 0:
        sys.exit("bench: %s not found in %s" % (name, path))
    # Fragments may come from the headers beside it (control_internal.hpp).
    folder = os.path.dirname(path)
    defines = "\n".join(open(os.path.join(folder, f)).read() for f in sorted(os.listdir(folder))
                         if f.endswith(".hpp"))
    return _literals(src, i + len(name + " ="), ";", defines)


def _literals(src, i, end, defines):
    out = []
    while i < len(src):
        c = src[i]
        if src.startswith(end, i):
            break
        if src.startswith("//", i):
            i = src.index("\n", i)
        elif c == '"':
            m = re.match(r'"((?:[^"\\]|\\.)*)"', src[i:])
            out.append(m.group(1))
            i += m.end()
        elif c == "T" and src.startswith("TICKD_", i):
            m = re.match(r"TICKD_[A-Z_]+", src[i:])
            out.append(_define(defines, m.group(0)))
            i += m.end()
        else:
            i += 1
    return "".join(out)


def _define(src, macro):
    i = src.find("#define " + macro)
    if i < 0:
        sys.exit("bench: #define %s not found" % macro)
    line_end = i
    while True:  # a #define ends at the first line not continued by a backslash
        line_end = src.index("\n", line_end + 1)
        if src[line_end - 1] != "\\":
            break
    return _literals(src[:line_end] + "\x00", i + len("#define " + macro), "\x00", src)


def claim_batch_sql(path=SQL_HPP):
    """kClaimBatch, verbatim."""
    return sql_constant("kClaimBatch", path)


def scripts(sql_hpp=SQL_HPP, epoch=EPOCH):
    """{variant: pgbench script}. :n counts the client's transactions (-D n=0), so that
    region and instant are new for every claim (instants from `epoch`, Unix seconds); a region
    id is client * RANGE + offset + 1."""
    head = ("\\set n :n + 1\n"
            "\\set r :client_id * %d + (:n %% %d) + 1\n"
            "\\set s %d + :n\n"
            "\\set k :r * 4294967296 + :s\n") % (RANGE, RANGE, epoch)
    insert = ("INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
              "VALUES (:r, to_timestamp(:s), 'floor', 'running') ON CONFLICT DO NOTHING;\n")
    claim = claim_batch_sql(sql_hpp)
    one = (claim.replace("$1::bigint[]", "ARRAY[:r]::bigint[]").replace("$2::bigint[]", "ARRAY[:k]::bigint[]")
           .replace("$3::timestamptz", "to_timestamp(:s)").replace("$4::text", "'floor'::text")
           .replace("$5::timestamptz[]", "ARRAY['infinity']::timestamptz[]")
           .replace("$6::text[]", "ARRAY['* * * * * *']::text[]").replace("$7::text[]", "ARRAY['UTC']::text[]"))
    batch_head = ("\\set n :n + 1\n"
                  "\\set r :client_id * %d + ((:n * %d) %% %d) + 1\n"
                  "\\set s %d + :n\n") % (RANGE, BATCH, RANGE, epoch)
    ids = "ARRAY(SELECT generate_series(:r, :r + %d))::bigint[]" % (BATCH - 1)
    batch = (claim.replace("$1::bigint[]", ids)
             .replace("$2::bigint[]", "ARRAY(SELECT g * 4294967296 + :s FROM generate_series(:r, :r + %d) g)::bigint[]"
                      % (BATCH - 1))
             .replace("$3::timestamptz", "to_timestamp(:s)").replace("$4::text", "'floor'::text")
             .replace("$5::timestamptz[]", "array_fill('infinity'::timestamptz, ARRAY[%d])" % BATCH)
             .replace("$6::text[]", "array_fill('* * * * * *'::text, ARRAY[%d])" % BATCH)
             .replace("$7::text[]", "array_fill('UTC'::text, ARRAY[%d])" % BATCH))
    for s in (one, batch):
        assert "$" not in s, s
    return [
        ("lock + INSERT, one claim per transaction", 1,
         head + "BEGIN;\nSELECT pg_try_advisory_xact_lock(:k);\n" + insert + "END;\n"),
        ("INSERT alone", 1, head + insert),
        ("tickd's kClaimBatch, 1 row", 1, head + one + ";\n"),
        ("tickd's kClaimBatch, %d rows" % BATCH, BATCH, batch_head + batch + ";\n"),
    ]


def pgbench(url, script, clients, threads, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(threads),
                              "-T", str(seconds), "-D", "n=0", "-f", f.name, url],
                             capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise AssertionError("pgbench failed:\n%s\n%s" % (out.stdout, out.stderr))
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    lat = re.search(r"latency average = ([0-9.]+) ms", out.stdout)
    return float(m.group(1)), float(lat.group(1)) if lat else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("--burst", type=int, default=20000)
    ap.add_argument("--tickd-claims", type=float)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sql-hpp", default=SQL_HPP, help="where kClaimBatch is read (default: src/db/sql.hpp)")
    args = ap.parse_args()

    r = rig.Rig(args.tickd)
    results = []
    try:
        r.migrate()
        sync = r.sql_value("SHOW synchronous_commit")
        fsync = r.sql_value("SHOW fsync")
        r.sql("ALTER TABLE region_index DISABLE TRIGGER region_index_notify")
        B.insert_regions(r, args.clients * RANGE, "0 0 1 1 *", prefix="f")
        # History, as a serving job_run has: one finished row for each of 200,000 regions, so
        # that the planner's statistics (prepared statements get generic plans) see a table
        # worth its indexes, not an empty one.
        r.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
              "SELECT g, to_timestamp(%s), 'history', 'ok', now() FROM generate_series(1, 200000) g",
              (EPOCH - 86400,))
        r.sql("VACUUM ANALYZE region_index")
        r.sql("VACUUM ANALYZE job_run")
        for name, rows_per_tx, script in scripts(args.sql_hpp):
            print("claim floor: %s ..." % name, file=sys.stderr, flush=True)
            tps, lat = pgbench(r.url, script, args.clients, args.threads, args.seconds)
            inserted = r.sql_value("SELECT count(*) FROM job_run WHERE replica_id = 'floor'")
            if inserted >= 0.9 * args.clients * RANGE:
                print("warning: %s: the clients' region ranges ran out; claims/s is too low" % name,
                      file=sys.stderr)
            results.append((name, tps, lat, inserted, inserted / args.seconds, rows_per_tx))
            r.sql("DELETE FROM job_run WHERE replica_id = 'floor'")
            r.sql("VACUUM job_run")
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()

    claims, burst_note = args.tickd_claims, "given"
    if claims is None and args.burst > 0:
        import aligned_burst
        print("claim floor: tickd aligned burst N=%d, 1 replica ..." % args.burst, file=sys.stderr, flush=True)
        res = aligned_burst.one_burst(args.tickd, args.burst, 1)
        claims = float(res["claims/s"])
        burst_note = "aligned burst N={:,}, 1 replica: all claimed {}, claims/s {}".format(
            args.burst, res["all claimed"], res["claims/s"])

    print("kClaimBatch from %s" % args.sql_hpp)
    print("Claim floor: pgbench -n -M prepared -c %d -j %d -T %d (synchronous_commit=%s, fsync=%s)\n"
          % (args.clients, args.threads, args.seconds, sync, fsync))
    headers = ["statement", "tps", "latency avg", "rows inserted", "claims/s"]
    if claims:
        headers.append("tickd %.0f claims/s as a fraction" % claims)
    rows = []
    for name, tps, lat, inserted, per_s, rows_per_tx in results:
        row = [name, "%.0f" % tps, "%.2f ms" % lat, "{:,}".format(inserted), "%.0f" % per_s]
        if claims:
            row.append("%.2f" % (claims / per_s) if "alone" not in name else "-")
        rows.append(row)
    print(B.table(headers, rows))
    if claims:
        print("\ntickd: %s" % burst_note)


if __name__ == "__main__":
    main()
