"""The container image, for real: scripts/build-image (buildah, a debootstrap-made
debian:bookworm base, the Dockerfile), then inside the image: `tickd --version`, the user is
10001, time zones work (tzdata), and, with TICKD_TEST_DATABASE_URL, `tickd migrate` and
`tickd run` against PostgreSQL: /readyz answers from the host, a region's ticks are claimed
by the containerised replica, the image's HEALTHCHECK passes inside the container, and
SIGTERM stops it with exit 0. The image config has the non-root user, TICKD_HTTP_ADDR,
HEALTHCHECK, ENTRYPOINT and CMD.

Several minutes (a cold base image and apt layers: more): runs only with TICKD_LONG_TESTS=1,
as root, with buildah (and debootstrap when the base image is not there yet)."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from tickd_rig import ops, rig
from tickd_rig.ops import run
from tickd_rig.util import Skip, free_port, http_get, run_main, wait_for

IMAGE = os.environ.get("TICKD_TEST_IMAGE", "localhost/tickd")
BUILDAH = ["buildah", "--storage-driver", os.environ.get("BUILDAH_STORAGE_DRIVER", "vfs")]


def version():
    text = open(os.path.join(ops.ROOT, "meson.build"), encoding="utf-8").read()
    return re.search(r"^\s*version:\s*'([^']+)'", text, re.M).group(1)


def preconditions():
    if os.environ.get("TICKD_LONG_TESTS") != "1":
        raise Skip("the image build takes minutes: run with TICKD_LONG_TESTS=1 "
                   "(or build it by hand: scripts/build-image)")
    ops.need("buildah", "Debian package buildah")
    if os.geteuid() != 0:
        raise Skip("buildah's chroot isolation and debootstrap need root")


class Container:
    def __init__(self, image):
        self.id = run(BUILDAH + ["from", "--pull-never", image]).stdout.strip().splitlines()[-1]

    def run(self, argv, env=None, check=True, timeout=120):
        cmd = BUILDAH + ["run", "--isolation", "chroot"]
        for k, v in (env or {}).items():
            cmd += ["--env", "%s=%s" % (k, v)]
        return run(cmd + [self.id, "--"] + argv, check=check, timeout=timeout)

    def popen(self, argv, env, log):
        cmd = BUILDAH + ["run", "--isolation", "chroot"]
        for k, v in env.items():
            cmd += ["--env", "%s=%s" % (k, v)]
        return subprocess.Popen(cmd + [self.id, "--"] + argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def remove(self):
        run(BUILDAH + ["rm", self.id], check=False)


def check_config(v):
    info = json.loads(run(BUILDAH + ["inspect", "--type", "image", "%s:%s" % (IMAGE, v)]).stdout)
    cfg = info["Docker"]["config"]
    assert cfg.get("User") == "10001:10001", "image user: %r" % cfg.get("User")
    assert "TICKD_HTTP_ADDR=0.0.0.0:9464" in cfg.get("Env", []), cfg.get("Env")
    assert cfg.get("Entrypoint") == ["tickd"] and cfg.get("Cmd") == ["run"], (cfg.get("Entrypoint"), cfg.get("Cmd"))
    hc = cfg.get("Healthcheck") or {}
    assert hc.get("Test") and "/healthz" in " ".join(hc["Test"]), "HEALTHCHECK kept (--format docker): %r" % hc
    assert "9464/tcp" in (cfg.get("ExposedPorts") or {}), cfg.get("ExposedPorts")
    return hc["Test"]


def descendants_named(root, name):
    """PIDs of the processes below `root` whose command name is `name` (from /proc)."""
    parent = {}
    comm = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        close = st.rfind(")")
        comm[int(d)] = st[st.index("(") + 1:close]
        parent[int(d)] = int(st[close + 2:].split()[1])
    out = []
    for pid in parent:
        p = pid
        while p > 1 and p != root:
            p = parent.get(p, 0)
        if p == root and pid != root and comm.get(pid) == name:
            out.append(pid)
    return out


def run_service(ctr, hc_test):
    """tickd migrate + tickd run inside the container against a fresh schema."""
    r = rig.Rig("/nonexistent")  # only its schema, SQL helpers and cleanup
    proc = None
    log_path = os.path.join(r.tmp, "tickd-in-container.log")
    log = open(log_path, "wb")
    try:
        ctr.run(["tickd", "migrate"], env={"DATABASE_URL": r.url})
        r.add_region("img", "* * * * * *")
        port = free_port()
        env = {"DATABASE_URL": r.url, "TICKD_HTTP_ADDR": "127.0.0.1:%d" % port,
               "TICKD_REPLICA_ID": "image-test", "SHUTDOWN_GRACE_MS": "5000"}
        proc = ctr.popen(["tickd", "run"], env, log)
        wait_for(lambda: proc.poll() is None and http_get(port, "/readyz", 2)[0] == 200, 30,
                 "/readyz 200 from the containerised tickd")
        wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE replica_id = 'image-test' AND status = 'ok'") >= 2,
                 10, "two ticks run by the containerised replica")
        # The image's HEALTHCHECK (CMD form), inside the container, on the port in use.
        assert hc_test[0] == "CMD", hc_test
        rc = ctr.run(hc_test[1:], env={"TICKD_HTTP_ADDR": "0.0.0.0:%d" % port}, check=False).returncode
        assert rc == 0, "the image's HEALTHCHECK failed inside the container (exit %d)" % rc
        # SIGTERM to tickd itself (as a container runtime sends it), not to buildah.
        pids = descendants_named(proc.pid, "tickd")
        assert len(pids) == 1, "one tickd process under buildah run, found %s" % pids
        os.kill(pids[0], signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            raise AssertionError("tickd in the container did not stop within 30 s of SIGTERM")
        assert rc == 0, "exit %d after SIGTERM" % rc
        log.flush()
        assert r.sql_value("SELECT count(*) FROM job_run WHERE status = 'running'") == 0, "no running row left"
        print("in the container: migrate, run, /readyz, ticks, HEALTHCHECK, SIGTERM: ok")
    except BaseException:
        log.flush()
        print(open(log_path, "rb").read().decode("utf-8", "replace")[-4000:])
        raise
    finally:
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        r.close()


def test():
    preconditions()
    v = version()
    t0 = time.monotonic()
    b = subprocess.run([os.path.join(ops.ROOT, "scripts/build-image"), "--tag", IMAGE],
                       capture_output=True, text=True, timeout=1700)
    if b.returncode != 0:
        raise AssertionError("scripts/build-image: exit %d\n%s" % (b.returncode, b.stderr[-6000:]))
    print("scripts/build-image: %.0f s" % (time.monotonic() - t0))
    print("\n".join(l for l in b.stderr.splitlines() if l.startswith("build-image:")))
    hc_test = check_config(v)

    ctr = Container("%s:%s" % (IMAGE, v))
    try:
        out = ctr.run(["tickd", "--version"]).stdout.strip()
        assert v in out, "tickd --version in the image: %r, expected %s" % (out, v)
        print("tickd --version:", out)
        uid = ctr.run(["id", "-u"]).stdout.strip()
        assert uid == "10001", "runs as uid 10001, got %s" % uid
        nxt = ctr.run(["tickd", "cron", "next", "30 2 * * *", "--tz", "America/New_York",
                       "--from", "2026-03-07T12:00:00Z", "--count", "1"]).stdout.strip()
        assert nxt == "2026-03-08T07:00:00Z", "time zones in the image (tzdata): %r" % nxt
        if os.environ.get("TICKD_TEST_DATABASE_URL"):
            run_service(ctr, hc_test)
        else:
            print("TICKD_TEST_DATABASE_URL is not set: the service was not run in the container")
    finally:
        ctr.remove()


if __name__ == "__main__":
    run_main(test)
