"""config/systemd: `systemd-analyze verify` on tickd.service and on an instance of the template
tickd@.service (ExecStart pointed at the tickd just built, as verify checks that it exists),
no warning at all; `systemd-analyze security --offline` rates the hardening at most 2.5
("OK"); and the unit stops tickd with SIGTERM after a wait longer than SHUTDOWN_GRACE_MS.
Skips without systemd-analyze."""
import os
import re
import shutil
import sys

from tickd_rig import ops
from tickd_rig.ops import run
from tickd_rig.util import run_main

UNITS = os.path.join(ops.ROOT, "config/systemd")
MAX_EXPOSURE = 2.5


def props(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def test():
    sa = ops.need("systemd-analyze", "Debian package systemd")
    tickd = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else shutil.which("tickd") or "/bin/true"
    tmp = ops.tempdir("tickd-ops-systemd-")
    files = []
    for src, dst in (("tickd.service", "tickd.service"), ("tickd@.service", "tickd@7.service")):
        text = open(os.path.join(UNITS, src), encoding="utf-8").read()
        p = props(text)
        assert p.get("ExecStart") == ["/usr/local/bin/tickd run"], "%s: ExecStart=/usr/local/bin/tickd run" % src
        assert p.get("KillSignal") == ["SIGTERM"], "%s: KillSignal=SIGTERM" % src
        stop = p.get("TimeoutStopSec", ["90"])[0]
        assert int(stop.rstrip("s")) > 30, "%s: TimeoutStopSec %s must exceed SHUTDOWN_GRACE_MS (30 s)" % (src, stop)
        for key in ("NoNewPrivileges", "ProtectSystem", "DynamicUser", "CapabilityBoundingSet",
                    "SystemCallFilter", "RestrictAddressFamilies", "EnvironmentFile"):
            assert key in p, "%s: no %s=" % (src, key)
        path = os.path.join(tmp, dst)
        with open(path, "w") as f:
            f.write(text.replace("/usr/local/bin/tickd", tickd))
        files.append(path)

    for path in files:
        r = run([sa, "verify", path], check=False)
        out = (r.stdout + r.stderr).strip()
        # Outside a booted systemd, verify may note that it cannot reach the manager; a
        # problem of the unit names the file.
        noise = [l for l in out.splitlines() if os.path.basename(path) in l or "Unknown" in l or "Invalid" in l]
        assert r.returncode == 0 and not noise, "systemd-analyze verify %s: exit %d\n%s" % (path, r.returncode, out)
        print("verify %s: ok" % os.path.basename(path))

        r = run([sa, "security", "--offline=yes", path], check=False)
        m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", r.stdout)
        if not m:
            if "--offline" in r.stderr or "offline" in r.stderr:
                print("systemd-analyze security --offline is not supported here: not rated")
                continue
            raise AssertionError("systemd-analyze security: no exposure level\n%s%s" % (r.stdout, r.stderr))
        level = float(m.group(1))
        print("security %s: exposure %.1f" % (os.path.basename(path), level))
        assert level <= MAX_EXPOSURE, "exposure %.1f > %.1f:\n%s" % (level, MAX_EXPOSURE, r.stdout)


if __name__ == "__main__":
    run_main(test)
