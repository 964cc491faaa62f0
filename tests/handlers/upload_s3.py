"""upload on S3: against the SigV4-verifying peer (awkward keys, multipart above the
threshold, 500s retried until it recovers, a 403 that fails the job at once without a storage
retry, 500s past the storage layer's attempts that reschedule the job), against s3rver when installed, and against storage that cannot be reached (the tick
fails, the job is rescheduled). The secret and the source token never appear in logs,
/metrics or /status."""
import json
import os

from tickd_rig import handlers as hrig, rig, s3
from tickd_rig.util import check, wait_for

NAMES = ["plain.wav", "with space.wav", "plus+eq=comma,.wav", "tilde~bang!quote'()*.wav", "ünï 日本.wav"]


def wait_done(r, rid, n, timeout=20):
    wait_for(lambda: r.sql_value("SELECT count(*) FROM upload_jobs WHERE region_id = %s AND status IN "
                                 "('COMPLETED', 'FAILED')", (rid,)) == n, timeout, "%d jobs done" % n)


def test(r):
    with s3.S3Peer(page_size=3) as peer:
        peer.control("fail", json.dumps({"method": "PUT", "status": 500, "count": 2}))
        rid = r.add_region("s3a", "* * * * * *", handlers=["upload"])
        for i, name in enumerate(NAMES):
            path = hrig.make_file(r, "in/%s" % name, "bytes of %s" % name)
            r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (rid, path))
        big = hrig.make_file(r, "in/big.bin", os.urandom(12 << 20))
        r.sql("INSERT INTO upload_jobs (region_id, local_path, object_key) VALUES (%s, %s, 's3a/big/big.bin')",
              (rid, big))
        t = r.start_tickd(STORAGE_URL=peer.storage_url(), STORAGE_ACCESS_KEY_ID=peer.access_key,
                          STORAGE_SECRET_ACCESS_KEY=peer.secret_key, PUBLISH_SOURCE_TOKEN=hrig.TOKEN,
                          STORAGE_MULTIPART_THRESHOLD_BYTES=5 << 20)
        wait_done(r, rid, 6, 30)
        check(hrig.statuses(r) == {"COMPLETED": 6}, "all COMPLETED", hrig.statuses(r))
        objects = json.loads(peer.control("objects"))
        for (jid, path, url) in r.sql("SELECT id, local_path, url FROM upload_jobs WHERE region_id = %s "
                                      "AND object_key IS NULL", (rid,)):
            key = "tickd/s3a/%d/%s" % (jid, os.path.basename(path))
            check(key in objects and objects[key]["size"] == os.path.getsize(path), "object %s" % key, objects)
            check(url.startswith(peer.endpoint + "/tickd/s3a/%d/" % jid), "a storage url", url)
        check(objects["tickd/s3a/big/big.bin"]["etag"].endswith("-3"), "multipart: 3 parts",
              objects["tickd/s3a/big/big.bin"])
        log = json.loads(peer.control("log"))
        check(sum(1 for e in log if e["status"] == 500) == 2, "two 500s answered (and retried)", log[:5])
        check(all(e["status"] in (200, 204, 500) for e in log), "no signature refused", [e for e in log if e["status"] not in (200, 204, 500)])

        # A 403: permanent, as for publish: the job is FAILED at once (retry_count 0), and the
        # storage layer did not retry it.
        path = hrig.make_file(r, "in/refused.wav", "no")
        peer.control("reset")
        peer.control("fail", json.dumps({"method": "PUT", "status": 403, "count": 1, "match": "refused"}))
        jid = r.sql_value("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s) RETURNING id", (rid, path))
        wait_for(lambda: r.sql_value("SELECT status FROM upload_jobs WHERE id = %s", (jid,)) == "FAILED", 10,
                 "the 403 failed the job")
        status, error, retries = r.sql("SELECT status, error, retry_count FROM upload_jobs WHERE id = %s", (jid,))[0]
        check(status == "FAILED" and retries == 0 and "HTTP 403" in error and "refused.wav" in error,
              "FAILED at once, error with 403", (status, retries, error))
        check(sum(1 for e in json.loads(peer.control("log")) if e["method"] == "PUT") == 1, "one PUT (no retry)",
              peer.control("log"))
        check(t.metric("tickd_queue_job_attempts_total", queue="upload", result="failed") == 1, "1 failed", "")

        # 500s past the storage layer's 5 attempts: the job is rescheduled (retry_count 1) and
        # completes once the storage recovers.
        path = hrig.make_file(r, "in/flaky.wav", "later")
        peer.control("reset")
        peer.control("fail", json.dumps({"method": "PUT", "status": 500, "count": 5, "match": "flaky"}))
        jid = r.sql_value("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s) RETURNING id", (rid, path))
        wait_for(lambda: r.sql_value("SELECT retry_count FROM upload_jobs WHERE id = %s", (jid,)) == 1, 20,
                 "the 500s counted as one retry")
        status, error = r.sql("SELECT status, error FROM upload_jobs WHERE id = %s", (jid,))[0]
        check(status == "COMPLETED" or (status in ("PENDING", "UPLOADING") and "HTTP 500" in (error or "")),
              "rescheduled, error with 500", (status, error))
        r.sql("UPDATE upload_jobs SET next_attempt_at = now() WHERE id = %s", (jid,))
        wait_for(lambda: r.sql_value("SELECT status FROM upload_jobs WHERE id = %s", (jid,)) == "COMPLETED", 10,
                 "the job completes once the storage accepts it")
        check(t.metric("tickd_queue_job_attempts_total", queue="upload", result="retried") == 1, "1 retried", "")
        check((t.metric("tickd_storage_requests_total", op="put", result="error") or 0) >= 3, "errors counted", "")
        hrig.assert_no_secrets(t, hrig.SECRET, hrig.TOKEN)
        t.kill()

    # Storage that cannot be reached: the tick fails, the job is rescheduled, not failed.
    dead = r.add_region("dead", "* * * * * *", handlers=["upload"])
    path = hrig.make_file(r, "in/dead.wav", "x")
    jid = r.sql_value("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s) RETURNING id", (dead, path))
    r.sql("UPDATE region_index SET active = false WHERE id = %s", (rid,))
    t = r.start_tickd("b", STORAGE_URL="s3://tickd?endpoint=http://127.0.0.1:1&region=us-east-1",
                      STORAGE_ACCESS_KEY_ID="k", STORAGE_SECRET_ACCESS_KEY=hrig.SECRET)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND status = 'failed'",
                                 (dead,)) >= 1, 30, "a failed tick")
    error = r.sql_value("SELECT error FROM job_run WHERE region_id = %s AND status = 'failed' LIMIT 1", (dead,))
    check("upload" in error and "storage put" in error, "the tick's error names the storage", error)
    status, retries = r.sql("SELECT status, retry_count FROM upload_jobs WHERE id = %s", (jid,))[0]
    check(status in ("PENDING", "UPLOADING") and retries >= 1, "rescheduled, not failed", (status, retries))
    hrig.assert_no_secrets(t, hrig.SECRET)

    with s3.S3rver.maybe() as s3rver:
        if s3rver is None:
            print("note: s3rver is not installed: its case is left out")
            return
        t.kill()
        sid = r.add_region("s3r", "* * * * * *", handlers=["upload"])
        for name in NAMES:
            path = hrig.make_file(r, "s3r/%s" % name, "s3rver %s" % name)
            r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (sid, path))
        r.sql("UPDATE region_index SET active = false WHERE id = %s", (dead,))
        r.start_tickd("c", STORAGE_URL=s3rver.storage_url(), STORAGE_ACCESS_KEY_ID="S3RVER",
                      STORAGE_SECRET_ACCESS_KEY="S3RVER")
        wait_done(r, sid, len(NAMES))
        check(r.sql_value("SELECT count(*) FROM upload_jobs WHERE region_id = %s AND status = 'COMPLETED'", (sid,))
              == len(NAMES), "all COMPLETED on s3rver", hrig.statuses(r))


rig.main(test)
