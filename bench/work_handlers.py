#!/usr/bin/env python3
"""Throughput of the work handlers, for docs/BENCHMARKS.md ("Work handlers"). Not a test.

    bench/run work_handlers.py [what...]    (a throwaway PostgreSQL; TICKD=... picks the binary)

or against a PostgreSQL of one's own, with TICKD_TEST_DATABASE_URL set:

    PYTHONPATH=tests/lib /usr/bin/python3 bench/work_handlers.py build/tickd [what...]

what: small (uploads/s of 1 KiB files), big (MB/s of one 200 MB file), publish (12-megapixel
JPEGs/s); default all. Backends: file, s3-peer (tests/storage/s3_peer.py, Python, in memory:
it verifies every signature and is the slower side), s3rver (when TICKD_NODE_MODULES has it).
"""
import os
import subprocess
import sys
import time

from tickd_rig import handlers as hrig, rig, s3
from tickd_rig.util import wait_for

N_SMALL = int(os.environ.get("BENCH_SMALL", "2000"))
BIG_MB = int(os.environ.get("BENCH_BIG_MB", "200"))
N_IMAGES = int(os.environ.get("BENCH_IMAGES", "24"))


def backends(r, stack):
    storage = os.path.join(r.tmp, "storage-%d" % time.monotonic_ns())
    os.makedirs(storage)  # tickd run refuses a file:// STORAGE_URL that is not a directory
    yield "file", {"STORAGE_URL": "file://" + storage}
    peer = stack.append(s3.S3Peer()) or stack[-1]
    yield "s3-peer", {"STORAGE_URL": peer.storage_url(), "STORAGE_ACCESS_KEY_ID": peer.access_key,
                      "STORAGE_SECRET_ACCESS_KEY": peer.secret_key}
    if s3.S3rver.binary():
        s3rver = stack.append(s3.S3rver()) or stack[-1]
        yield "s3rver", {"STORAGE_URL": s3rver.storage_url(), "STORAGE_ACCESS_KEY_ID": "S3RVER",
                         "STORAGE_SECRET_ACCESS_KEY": "S3RVER"}


def done(r, table, ids, status):
    return r.sql_value("SELECT count(*) FROM %s WHERE id = ANY(%%s) AND status = %%s" % table, (ids, status))


def bench_small(r, name, env, n):
    regions = [r.add_region("%s_small%d" % (name.replace("-", "_"), i), "* * * * * *", handlers=["upload"])
               for i in range(4)]
    src = hrig.make_file(r, "small.bin", os.urandom(1024))
    ids = []
    for i in range(n):
        ids.append(r.sql_value("INSERT INTO upload_jobs (region_id, local_path, next_attempt_at) "
                               "VALUES (%s, %s, 'infinity') RETURNING id", (regions[i % 4], src)))
    t = r.start_tickd("small-" + name, CONCURRENCY=4, **env)
    r.sql("UPDATE upload_jobs SET next_attempt_at = now() WHERE id = ANY(%s)", (ids,))
    start = time.monotonic()
    wait_for(lambda: done(r, "upload_jobs", ids, "COMPLETED") == n, 600, "small uploads", interval=0.05)
    seconds = time.monotonic() - start
    t.kill()
    for region in regions:
        r.sql("UPDATE region_index SET active = false WHERE id = %s", (region,))
    return "%d x 1 KiB in %.1f s: %.0f uploads/s (4 regions, CONCURRENCY 4)" % (n, seconds, n / seconds)


def bench_big(r, name, env, mb):
    region = r.add_region("%s_big" % name.replace("-", "_"), "* * * * * *", handlers=["upload"])
    path = os.path.join(r.tmp, "big.bin")
    if not os.path.exists(path) or os.path.getsize(path) != mb << 20:
        with open(path, "wb") as f:
            for _ in range(mb):
                f.write(os.urandom(1 << 20))
    t = r.start_tickd("big-" + name, **env)
    jid = r.sql_value("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s) RETURNING id", (region, path))
    wait_for(lambda: r.sql_value("SELECT status FROM upload_jobs WHERE id = %s", (jid,)) != "PENDING", 30,
             "claimed", interval=0.01)
    start = time.monotonic()
    wait_for(lambda: r.sql_value("SELECT status FROM upload_jobs WHERE id = %s", (jid,)) == "COMPLETED", 600,
             "big upload", interval=0.02)
    seconds = time.monotonic() - start
    t.kill()
    r.sql("UPDATE region_index SET active = false WHERE id = %s", (region,))
    how = "one file copy" if name == "file" else "multipart above 64 MiB: 4 parts"
    return "%d MB in %.2f s: %.0f MB/s (%s)" % (mb, seconds, mb / seconds, how)


def bench_publish(r, name, env, n):
    region = r.add_region("%s_pub" % name.replace("-", "_"), "* * * * * *", handlers=["publish"])
    noise = os.path.join(r.tmp, "noise.v")
    src = os.path.join(r.tmp, "12mp.jpg")
    if not os.path.exists(src):
        subprocess.check_call(["vips", "gaussnoise", noise, "4000", "3000", "--mean", "128", "--sigma", "40"])
        subprocess.check_call(["vips", "bandjoin", "%s %s %s" % (noise, noise, noise), os.path.join(r.tmp, "rgb.v")])
        subprocess.check_call(["vips", "cast", os.path.join(r.tmp, "rgb.v"), src, "uchar"])
    t = r.start_tickd("pub-" + name, **env)
    # The source goes up through tickd's own upload handler, so each backend has it.
    up = r.add_region("%s_pubsrc" % name.replace("-", "_"), "* * * * * *", handlers=["upload"])
    sid = r.sql_value("INSERT INTO upload_jobs (region_id, local_path, object_key) VALUES (%s, %s, 'bench/12mp.jpg') "
                      "RETURNING id", (up, src))
    wait_for(lambda: r.sql_value("SELECT status FROM upload_jobs WHERE id = %s", (sid,)) == "COMPLETED", 60, "source")
    ids = [r.sql_value("INSERT INTO publish_jobs (region_id, source) VALUES (%s, 'bench/12mp.jpg') RETURNING id",
                       (region,)) for _ in range(n)]
    wait_for(lambda: done(r, "publish_jobs", ids, "completed") == n, 600, "publish", interval=0.05)
    first, last = r.sql("SELECT min(started_at), max(completed_at) FROM publish_jobs WHERE id = ANY(%s)", (ids,))[0]
    seconds = (last - first).total_seconds()
    t.kill()
    r.sql("UPDATE region_index SET active = false WHERE id IN (%s, %s)", (region, up))
    return "%d x 4000x3000 JPEG (RGB noise, %.1f MB) -> thumb 400 + display 1600 WebP in %.1f s: %.2f images/s " \
           "(PUBLISH_CONCURRENCY 3)" % (n, os.path.getsize(src) / 1e6, seconds, n / seconds)


def main(r):
    what = sys.argv[2:] or ["small", "big", "publish"]
    stack = []
    try:
        for name, env in backends(r, stack):
            if "small" in what:
                print("%-8s small:   %s" % (name, bench_small(r, name, env, N_SMALL)), flush=True)
            if "big" in what:
                print("%-8s big:     %s" % (name, bench_big(r, name, env, BIG_MB)), flush=True)
            if "publish" in what and name == "file":
                print("%-8s publish: %s" % (name, bench_publish(r, name, env, N_IMAGES)), flush=True)
    finally:
        for p in stack:
            p.close()


rig.main(main)
