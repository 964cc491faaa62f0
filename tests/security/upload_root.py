"""Issue 12, item 1: an upload job cannot publish tickd's secrets or any file outside
UPLOAD_ROOT. Each attack below is a row of upload_jobs, as anyone who can write the table
could add; each must fail at once naming its path, and no object may hold the file's bytes.
A file inside UPLOAD_ROOT still uploads."""
import os

from tickd_rig import handlers as hrig, rig
from tickd_rig.util import check, wait_for


def test(r):
    storage = os.path.join(r.tmp, "storage")
    os.makedirs(storage)
    root = os.path.join(r.tmp, "outbox")
    good = hrig.make_file(r, "outbox/in/ok.wav", "fine")
    with open(os.path.join(r.tmp, "secret.txt"), "w") as f:
        f.write("TOP-SECRET-OUTSIDE")
    os.symlink("/etc/hostname", os.path.join(root, "in", "link-out"))
    os.symlink(os.path.join(r.tmp, "secret.txt"), os.path.join(root, "in", "link-sibling"))
    os.symlink(r.tmp, os.path.join(root, "dirlink"))
    os.mkfifo(os.path.join(root, "in", "fifo"))
    rid = r.add_region("up", "* * * * * *", handlers=["upload"])
    attacks = {
        "/proc/self/environ": "outside UPLOAD_ROOT",
        "/etc/shadow": "outside UPLOAD_ROOT",
        root + "/../secret.txt": "'..' may not lead out",
        root + "/in/../../secret.txt": "'..' may not lead out",
        "../secret.txt": "'..' may not lead out",
        root + "/in/link-out": "a symlink",
        root + "/in/link-sibling": "a symlink",
        root + "/dirlink/secret.txt": "a symlink",
        root + "-evil/x": "outside UPLOAD_ROOT",
        root + "/in/fifo": "not a regular file",
        root + "/in": "not a regular file",
    }
    for path in attacks:
        r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (rid, path))
    r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (rid, good))
    r.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (%s, %s)", (rid, "in/ok.wav"))
    t = r.start_tickd(STORAGE_URL="file://" + storage, UPLOAD_ROOT=root)
    n = len(attacks) + 2
    wait_for(lambda: r.sql_value("SELECT count(*) FROM upload_jobs WHERE status IN ('COMPLETED', 'FAILED')")
             == n, 20, "every job done")
    rows = {p: (s, e) for p, s, e in r.sql("SELECT local_path, status, error FROM upload_jobs")}
    for path, says in attacks.items():
        status, error = rows[path]
        check(status == "FAILED" and path in (error or "") and says in (error or ""),
              "%s: FAILED, naming it (%s)" % (path, says), (status, error))
    check(rows[good][0] == "COMPLETED", "a file inside UPLOAD_ROOT uploads", rows[good])
    check(rows["in/ok.wav"][0] == "COMPLETED", "a path relative to UPLOAD_ROOT uploads", rows["in/ok.wav"])
    stored = b""
    for dirpath, _, files in os.walk(storage):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                stored += f.read()
    check(stored == b"finefine", "storage holds the two good files and nothing else", stored[:200])
    check(t.alive(), "tickd still running", None)


rig.main(test)
