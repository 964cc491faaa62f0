"""upload on the file backend: completed jobs get their CDN URL and the file, a missing local
file and a refused object_key fail at once naming the path or key, counts land in
job_run.details, and a region without `upload` in its handlers keeps its rows untouched."""
import os
import subprocess

from tickd_rig import handlers as hrig, rig
from tickd_rig.util import check, metric, wait_for


def test(r):
    storage = os.path.join(r.tmp, "storage")
    # tickd run refuses a file:// STORAGE_URL that is not a directory, at start.
    p = subprocess.run([r.tickd, "run"], env=r.env_for(r.url, STORAGE_URL="file://" + storage),
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "STORAGE_URL: %s is not an existing directory" % storage in p.stderr,
          "a missing storage directory: exit 2 at start, naming it", (p.returncode, p.stderr))
    os.makedirs(storage)
    rid = r.add_region("aud", "* * * * * *", handlers=["upload"])
    other = r.add_region("idle", "* * * * * *", handlers=["region"])
    good = [hrig.make_file(r, "in/track %d.wav" % i, "audio %d" % i) for i in range(5)]
    for i, path in enumerate(good):
        r.sql("INSERT INTO upload_jobs (region_id, target_entity_id, job_type, local_path) VALUES (%s, %s, 'AUDIO', %s)",
              (rid, "track-%d" % i, path))
    custom = hrig.make_file(r, "in/cover.jpg", "jpeg bytes")
    r.sql("INSERT INTO upload_jobs (region_id, job_type, local_path, object_key) VALUES (%s, 'IMAGE', %s, %s)",
          (rid, custom, "releases/ü 1+1=2/cover~(1).jpg"))
    missing = os.path.join(r.tmp, "in", "gone.wav")
    r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (rid, missing))
    r.sql("INSERT INTO upload_jobs (region_id, local_path, object_key) VALUES (%s, %s, '../escape.wav')", (rid, custom))
    r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (other, custom))

    t = r.start_tickd(STORAGE_URL="file://" + storage, CDN_BASE_URL="https://cdn.example.com/m")
    wait_for(lambda: r.sql_value("SELECT count(*) FROM upload_jobs WHERE region_id = %s AND status IN "
                                 "('COMPLETED', 'FAILED')", (rid,)) == 8, 15, "all 8 jobs of aud done")

    rows = r.sql("SELECT id, local_path, object_key, status, url, error, retry_count FROM upload_jobs "
                 "WHERE region_id = %s ORDER BY id", (rid,))
    for (jid, path, key, status, url, error, retries) in rows[:5]:
        name = os.path.basename(path)
        check(status == "COMPLETED", "COMPLETED", status)
        check(url == "https://cdn.example.com/m/aud/%d/%s" % (jid, name.replace(" ", "%20")), "CDN url", url)
        with open(os.path.join(storage, "aud", str(jid), name)) as f:
            check(f.read() == open(path).read(), "the file's content in storage", "different")
    _, _, key, status, url, _, _ = rows[5]
    check(status == "COMPLETED", "COMPLETED (custom key)", status)
    check(url == "https://cdn.example.com/m/releases/%C3%BC%201%2B1%3D2/cover~%281%29.jpg", "encoded url", url)
    check(os.path.exists(os.path.join(storage, key)), "the object at its full key", "absent")
    _, _, _, status, _, error, retries = rows[6]
    check(status == "FAILED" and retries == 0, "FAILED at once", (status, retries))
    check(missing in error and "No such file" in error, "error naming the full path", error)
    _, _, _, status, _, error, retries = rows[7]
    check(status == "FAILED" and retries == 0, "FAILED at once", (status, retries))
    check("'../escape.wav'" in error and "'..' segment" in error, "error naming the key", error)

    d = wait_for(lambda: (lambda d: d if d.get("completed") == 6 else None)(hrig.details(r, rid, "upload")), 5,
                 "details with the counts")
    check(d.get("claimed") == 8 and d.get("failed") == 2, "claimed 8, failed 2", d)
    check(r.sql_value("SELECT status FROM upload_jobs WHERE region_id = %s", (other,)) == "PENDING",
          "the idle region's job untouched", "changed")
    m = t.metrics()
    check(metric(m, "tickd_queue_job_attempts_total", queue="upload", result="completed") == 6,
          "6 completed attempts", metric(m, "tickd_queue_job_attempts_total", queue="upload", result="completed"))
    check(metric(m, "tickd_storage_requests_total", op="put", result="ok") == 6, "6 puts", m)
    check(metric(m, "tickd_storage_bytes_total", direction="upload") > 0, "bytes counted", m)
    check(metric(m, "tickd_queue_jobs", queue="publish", status="pending") is not None, "gauges from start", m)


rig.main(test)
