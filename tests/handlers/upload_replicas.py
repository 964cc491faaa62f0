"""upload across replicas (S3, the verifying peer): kill -9 of a replica mid-upload (its job
is taken over once its lease runs out and moves to COMPLETED exactly once), two replicas
draining the queues of several regions (no job twice), and SIGTERM mid-upload (the upload in
flight finishes, the rest of the batch goes back to PENDING, nothing is left UPLOADING)."""
import collections
import json
import os
import signal
import time

from tickd_rig import handlers as hrig, rig, s3
from tickd_rig.util import check, wait_for


def env(peer, **extra):
    e = dict(STORAGE_URL=peer.storage_url(), STORAGE_ACCESS_KEY_ID=peer.access_key,
             STORAGE_SECRET_ACCESS_KEY=peer.secret_key, JOB_LEASE_MS=2000, TICK_LEASE_MS=1000)
    e.update(extra)
    return e


def test(r):
    hrig.audit_completions(r)
    with s3.S3Peer() as peer:
        # -- kill -9 mid-upload --
        rid = r.add_region("kil", "* * * * * *", handlers=["upload"])
        big = hrig.make_file(r, "in/slow.bin", os.urandom(6 << 20))
        jid = r.sql_value("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s) RETURNING id", (rid, big))
        peer.control("delay", json.dumps({"seconds": 0.5}))  # per MiB read: about 3 s per upload
        a = r.start_tickd("a", **env(peer))
        wait_for(lambda: r.sql_value("SELECT lease_owner FROM upload_jobs WHERE id = %s AND status = 'UPLOADING'",
                                     (jid,)), 10, "replica a uploading")
        time.sleep(1.5)  # a lease renewal or two while the bytes flow
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(5)
        peer.control("delay", json.dumps({"seconds": 0}))
        b = r.start_tickd("b", **env(peer))
        wait_for(lambda: r.sql_value("SELECT status FROM upload_jobs WHERE id = %s", (jid,)) == "COMPLETED", 20,
                 "the job taken over and completed")
        owners = r.sql("SELECT lease_owner FROM upload_jobs_audit WHERE job_id = %s", (jid,))
        check(len(owners) == 1 and owners[0][0].startswith(b.replica_id + "/"), "one completion, by b", owners)
        objects = json.loads(peer.control("objects"))
        check(objects["tickd/kil/%d/slow.bin" % jid]["size"] == 6 << 20, "the whole object", objects)

        # -- two replicas, several regions, 160 jobs --
        a = r.start_tickd("a2", **env(peer))
        # The peer's log from here on: uploads start while the jobs are still being inserted.
        peer.control("reset")
        regions = [r.add_region("dr%d" % i, "* * * * * *", handlers=["upload"]) for i in range(4)]
        for region in regions:
            for i in range(40):
                path = hrig.make_file(r, "drain/%d/f%d.txt" % (region, i), "%d-%d" % (region, i))
                r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (region, path))
        wait_for(lambda: r.sql_value("SELECT count(*) FROM upload_jobs WHERE status = 'COMPLETED'") == 161, 40,
                 "160 more jobs completed")
        dup = r.sql("SELECT job_id, count(*) FROM upload_jobs_audit GROUP BY job_id HAVING count(*) > 1")
        check(not dup, "no job completed twice", dup)
        puts = collections.Counter(e["path"] for e in json.loads(peer.control("log")) if e["method"] == "PUT")
        check(len(puts) == 160 and max(puts.values()) == 1, "each object PUT once", puts.most_common(3))
        by = collections.Counter(o.split("/")[0] for (o,) in r.sql(
            "SELECT lease_owner FROM upload_jobs_audit WHERE job_id <> %s", (jid,)))
        print("completions by replica:", dict(by))
        check(sum(by.values()) == 160, "160 completions", by)

        # -- SIGTERM mid-upload --
        b.signal(signal.SIGTERM)
        b.wait_exit(15)
        sid = r.add_region("trm", "* * * * * *", handlers=["upload"])
        slow = [hrig.make_file(r, "term/%d.bin" % i, os.urandom(3 << 20)) for i in range(3)]
        ids = [r.sql_value("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s) RETURNING id", (sid, p))
               for p in slow]
        peer.control("delay", json.dumps({"seconds": 0.5}))
        wait_for(lambda: r.sql_value("SELECT count(*) FROM upload_jobs WHERE region_id = %s AND status = 'UPLOADING'",
                                     (sid,)) == 3, 10, "a batch of 3 claimed")
        time.sleep(0.5)
        a.signal(signal.SIGTERM)
        code = a.wait_exit(20)
        check(code == 0, "exit 0 after SIGTERM", code)
        rows = dict(r.sql("SELECT id, status FROM upload_jobs WHERE id = ANY(%s)", (ids,)))
        check(list(rows.values()).count("COMPLETED") == 1 and list(rows.values()).count("PENDING") == 2,
              "the upload in flight finished, the other two handed back", rows)
        check(r.sql_value("SELECT count(*) FROM upload_jobs WHERE status = 'UPLOADING'") == 0, "nothing UPLOADING",
              hrig.statuses(r))
        check("released\":2" in r.sql_value("SELECT details::text FROM job_run WHERE region_id = %s "
                                            "AND status <> 'running' ORDER BY id DESC LIMIT 1", (sid,)).replace(" ", ""),
              "released 2 in the tick's details", r.sql("SELECT details FROM job_run WHERE region_id = %s", (sid,)))


rig.main(test)
