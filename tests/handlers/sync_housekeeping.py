"""sync on the file backend and on S3 (the verifying peer, listings of several pages):
expected objects found become UPLOADED with size and MD5 etag, old absent ones MISSING, young
ones stay PENDING, strays are counted as unexpected. Then housekeeping (RETENTION_DAYS) and
the tickd_queue_jobs gauges sampled from start."""
import hashlib
import os

from tickd_rig import handlers as hrig, rig, s3
from tickd_rig.util import check, wait_for


def expect(r, rid, code):
    for key in ("%s/a/found.wav" % code, "%s/a/young.wav" % code):
        r.sql("INSERT INTO file_upload (region_id, object_key) VALUES (%s, %s)", (rid, key))
    r.sql("INSERT INTO file_upload (region_id, object_key, created_at) VALUES (%s, %s, now() - interval '2 hours')",
          (rid, "%s/a/old.wav" % code))


def check_synced(r, rid, code, content):
    rows = dict((k, (s, n, e)) for k, s, n, e in r.sql(
        "SELECT object_key, status, size_bytes, etag FROM file_upload WHERE region_id = %s", (rid,)))
    check(rows["%s/a/found.wav" % code] == ("UPLOADED", len(content), hashlib.md5(content).hexdigest()),
          "found: UPLOADED with size and etag", rows)
    check(rows["%s/a/old.wav" % code][0] == "MISSING", "old: MISSING", rows)
    check(rows["%s/a/young.wav" % code][0] == "PENDING", "young: PENDING", rows)


def test(r):
    content = b"expected object"
    storage = os.path.join(r.tmp, "storage")
    fid = r.add_region("syf", "* * * * * *", handlers=["sync"])
    expect(r, fid, "syf")
    os.makedirs(os.path.join(storage, "syf", "a"))
    open(os.path.join(storage, "syf", "a", "found.wav"), "wb").write(content)
    open(os.path.join(storage, "syf", "a", "stray.wav"), "wb").write(b"?")
    # Housekeeping: old finished rows go, recent and unfinished ones stay.
    hk = r.add_region("hk", "* * * * * *", handlers=["housekeeping"])
    r.sql("SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - 4, "
          "(now() AT TIME ZONE 'UTC')::date - 3)")  # the old rows' days (sql/008)
    r.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
          "SELECT %s, now() - g * interval '1 minute' - interval '3 days', 'old', 'ok', now() - interval '3 days' "
          "FROM generate_series(1, 1200) g", (hk,))
    r.sql("INSERT INTO upload_jobs (region_id, local_path, status, updated_at) VALUES "
          "(%s, '/x', 'COMPLETED', now() - interval '3 days'), (%s, '/y', 'PENDING', now() - interval '3 days')",
          (hk, hk))
    t = r.start_tickd(STORAGE_URL="file://" + storage, RETENTION_DAYS=2)
    # The maintenance thread samples at its start, which readiness does not wait for.
    wait_for(lambda: t.metric("tickd_queue_jobs", queue="file_upload", status="PENDING") == 3, 3,
             "tickd_queue_jobs sampled at start: 3 PENDING file_upload rows")
    wait_for(lambda: r.sql_value("SELECT count(*) FROM file_upload WHERE region_id = %s AND status = 'PENDING'",
                                 (fid,)) == 1, 10, "sync done")
    check_synced(r, fid, "syf", content)
    wait_for(lambda: hrig.details(r, fid, "sync").get("unexpected", 0) >= 1, 5, "the stray counted")
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE replica_id = 'old'") == 0, 20,
             "old job_run rows deleted")
    # The old days' partitions go first in a pass, the expired rows of other tables after them.
    wait_for(lambda: r.sql("SELECT local_path FROM upload_jobs WHERE region_id = %s", (hk,)) == [("/y",)],
             10, "the old COMPLETED upload deleted, the PENDING one kept")
    wait_for(lambda: hrig.details(r, hk, "housekeeping").get("partitions_dropped", 0) >= 1, 10,
             "the old days' partitions dropped, counted")
    check(hrig.details(r, hk, "housekeeping").get("deleted", 0) >= 1, "the upload row's delete counted",
          hrig.details(r, hk, "housekeeping"))
    t.kill()

    with s3.S3Peer(page_size=3) as peer:
        sid = r.add_region("sys", "* * * * * *", handlers=["sync"])
        expect(r, sid, "sys")
        r.sql("UPDATE region_index SET active = false WHERE id IN (%s, %s)", (fid, hk))
        src = hrig.make_file(r, "found.wav", content)
        # Objects put by tickd's own storage layer through a throwaway upload region: 7 keys, 3 pages.
        up = r.add_region("sys_up", "* * * * * *", handlers=["upload"])
        r.sql("INSERT INTO upload_jobs (region_id, local_path, object_key) VALUES (%s, %s, 'sys/a/found.wav')",
              (up, src))
        for i in range(6):
            r.sql("INSERT INTO upload_jobs (region_id, local_path, object_key) VALUES (%s, %s, %s)",
                  (up, src, "sys/b/stray %d.wav" % i))
        r.start_tickd("b", STORAGE_URL=peer.storage_url(), STORAGE_ACCESS_KEY_ID=peer.access_key,
                      STORAGE_SECRET_ACCESS_KEY=peer.secret_key)
        wait_for(lambda: r.sql_value("SELECT count(*) FROM file_upload WHERE region_id = %s AND status = 'PENDING'",
                                     (sid,)) == 1, 15, "sync on S3 done")
        check_synced(r, sid, "sys", content)
        wait_for(lambda: hrig.details(r, sid, "sync").get("unexpected", 0) >= 6, 10, "6 strays counted")
        check("continuation-token=" in peer.control("log"), "several pages listed", "")


rig.main(test)
