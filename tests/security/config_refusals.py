"""Issue 12, item 9: configuration and identity accepted silently. `--config` naming a
directory, /dev/zero or /dev/null started on defaults (`migrate` exited 0), a FIFO blocked the
start forever; a TICKD_REPLICA_ID that is not UTF-8 started, then every claim failed as
"database unreachable"; STORAGE_URL=file:///nonexistent and CDN_BASE_URL=https:// passed.

Each with a DATABASE_URL that works (so anything not refused would start or migrate): `tickd
run` and `tickd migrate` must exit 2 within 10 s, on stderr the file or the setting named and
what is wrong with it (STORAGE_URL only for `run`: migrate uses no storage). Then the same settings done right start and migrate, so that the
refusals are not of everything. Before the checks (the code before d91d7c2, 3e1ac03 and
98e80e5) /dev/null and the directory migrated with exit 0 and `run` did not exit."""
import os
import subprocess

from tickd_rig import rig
from tickd_rig.util import check, free_port


def refused(r, command, args, says, **env):
    try:
        p = subprocess.run([r.tickd, command] + args, env=r.env_for(r.url, TICKD_HTTP_ADDR="127.0.0.1:1", **env),
                           capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError("tickd %s %s %s: still running after 10 s (not refused, or blocked)"
                             % (command, " ".join(args), env))
    for what in says:
        check(p.returncode == 2 and what in p.stderr, "tickd %s %s %s: exit 2 saying %r" % (command, " ".join(args),
              env, what), (p.returncode, p.stderr[-2000:]))


def test(r):
    d = os.path.join(r.tmp, "conf.d")
    os.mkdir(d)
    fifo = os.path.join(r.tmp, "conf.fifo")
    os.mkfifo(fifo)
    link = os.path.join(r.tmp, "link.toml")
    os.symlink("/dev/null", link)
    bad_toml = os.path.join(r.tmp, "storage.toml")
    with open(bad_toml, "w") as f:
        f.write('log_level = "info"\nstorage_url = "file:///nonexistent"\n')
    for command in ("run", "migrate"):
        for path, what in ((d, "a directory"), ("/dev/null", "a device or special file"),
                           ("/dev/zero", "a device or special file"), (fifo, "a FIFO"),
                           (link, "a device or special file")):
            refused(r, command, ["--config", path], ["config file " + path, "not a regular file (%s)" % what])
    # Storage is checked where it is used, at the start of `run` (migrate needs none). From the
    # file it is named by its environment name too (checked after loading, not in the file).
    refused(r, "run", [], ["STORAGE_URL", "/nonexistent is not an existing directory"], STORAGE_URL="file:///nonexistent")
    refused(r, "run", ["--config", bad_toml], ["STORAGE_URL", "/nonexistent is not an existing directory"])
    for command in ("run", "migrate"):
        # os.fsencode turns the lone surrogates back into the bytes 0xff 0xfe.
        refused(r, command, [], ["TICKD_REPLICA_ID", "not valid UTF-8"], TICKD_REPLICA_ID="r\udcff\udcfe")
        refused(r, command, [], ["CDN_BASE_URL", "'https://' has no host"], CDN_BASE_URL="https://")

    # The same settings, well formed: accepted.
    good = os.path.join(r.tmp, "good.toml")
    storage = os.path.join(r.tmp, "storage")
    os.mkdir(storage)
    with open(good, "w") as f:
        f.write('storage_url = "file://%s"\ncdn_base_url = "https://cdn.example"\n' % storage)
    m = subprocess.run([r.tickd, "migrate", "--config", good], env=r.env_for(r.url), capture_output=True,
                       text=True, timeout=30)
    check(m.returncode == 0, "migrate --config with a regular file: exit 0", (m.returncode, m.stderr))
    name = r.schema + "-réplica-ü"
    port = free_port()
    env = r.env_for(r.url, TICKD_HTTP_ADDR="127.0.0.1:%d" % port, TICKD_REPLICA_ID=name,
                    STORAGE_URL="file://" + storage, CDN_BASE_URL="https://cdn.example/x")
    t = rig.Tickd(r, "good", env, port, os.path.join(r.tmp, "tickd-good.log"))
    r.procs.append(t)
    t.wait_ready()
    check(t.status()["replica_id"] == name, "a UTF-8 replica id starts", t.status()["replica_id"])

rig.main(test)
