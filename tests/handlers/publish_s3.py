"""publish on S3 (the SigV4-verifying peer), held to the rule upload follows too: a storage
403 fails the job at once, 500s past the storage layer's attempts reschedule it with backoff
(it completes once the storage recovers), and storage that cannot be reached fails the tick
and reschedules the job, not fails it."""
import json
import os
import shutil
import subprocess
from http.server import BaseHTTPRequestHandler

from tickd_rig import handlers as hrig, rig, s3
from tickd_rig.util import Skip, check, wait_for


class Source(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        path = os.path.join(self.server.root, self.path.lstrip("/"))
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def job_row(r, jid):
    return r.sql("SELECT status, retry_count, error FROM publish_jobs WHERE id = %s", (jid,))[0]


def test(r):
    if shutil.which("vips") is None:
        raise Skip("the vips command (Debian libvips-tools) is not installed")
    web = os.path.join(r.tmp, "web")
    os.makedirs(web)
    subprocess.check_call(["vips", "black", os.path.join(web, "img.jpg"), "500", "400", "--bands", "3"])
    source = hrig.serve(r, Source, web) + "/img.jpg"

    with s3.S3Peer() as peer:
        rid = r.add_region("ps3", "* * * * * *", handlers=["publish"])
        refused, flaky = (r.sql_value("INSERT INTO publish_jobs (region_id, source) VALUES (%s, %s) RETURNING id",
                                      (rid, source)) for _ in range(2))
        peer.control("fail", json.dumps({"method": "PUT", "status": 403, "count": 1,
                                         "match": "/ps3/%d/" % refused}))
        peer.control("fail", json.dumps({"method": "PUT", "status": 500, "count": 5,
                                         "match": "/ps3/%d/" % flaky}))
        t = r.start_tickd(STORAGE_URL=peer.storage_url(), STORAGE_ACCESS_KEY_ID=peer.access_key,
                          STORAGE_SECRET_ACCESS_KEY=peer.secret_key, PUBLISH_CONCURRENCY="1")
        wait_for(lambda: job_row(r, refused)[0] == "failed", 30, "the 403 failed the job")
        status, retries, error = job_row(r, refused)
        check(retries == 0 and "HTTP 403" in error, "failed at once, error with 403", (status, retries, error))
        puts = [e for e in json.loads(peer.control("log")) if e["method"] == "PUT" and "/ps3/%d/" % refused in e["path"]]
        check(len(puts) == 1, "one PUT of the refused job (no storage retry)", puts)

        wait_for(lambda: job_row(r, flaky)[1] == 1, 30, "the 500s counted as one retry")
        r.sql("UPDATE publish_jobs SET next_attempt_at = now() WHERE id = %s AND status = 'pending'", (flaky,))
        wait_for(lambda: job_row(r, flaky)[0] == "completed", 30, "the job completes once the storage accepts it")
        check(job_row(r, flaky)[1] == 1, "one retry in all", job_row(r, flaky))
        check(t.metric("tickd_queue_job_attempts_total", queue="publish", result="retried") == 1, "1 retried", "")
        check(t.metric("tickd_queue_job_attempts_total", queue="publish", result="failed") == 1, "1 failed", "")
        t.kill()

    # Storage that cannot be reached: the tick fails, the job is rescheduled, not failed.
    r.sql("UPDATE region_index SET active = false WHERE id = %s", (rid,))
    dead = r.add_region("pdead", "* * * * * *", handlers=["publish"])
    jid = r.sql_value("INSERT INTO publish_jobs (region_id, source) VALUES (%s, %s) RETURNING id", (dead, source))
    t = r.start_tickd("b", STORAGE_URL="s3://tickd?endpoint=http://127.0.0.1:1&region=us-east-1",
                      STORAGE_ACCESS_KEY_ID="k", STORAGE_SECRET_ACCESS_KEY=hrig.SECRET)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE region_id = %s AND status = 'failed'",
                                 (dead,)) >= 1, 30, "a failed tick")
    error = r.sql_value("SELECT error FROM job_run WHERE region_id = %s AND status = 'failed' LIMIT 1", (dead,))
    check("publish" in error and "storage put" in error, "the tick's error names the storage", error)
    status, retries, _ = job_row(r, jid)
    check(status in ("pending", "processing") and retries >= 1, "rescheduled, not failed", (status, retries))
    hrig.assert_no_secrets(t, hrig.SECRET)


rig.main(test)
