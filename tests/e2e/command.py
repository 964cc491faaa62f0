"""The `command` handler, one replica, real processes from a COMMAND_DIR of shell scripts:
- a command sees its argv and tickd's environment without its secrets (by name, by
  HTTP_ENV_ALLOW, and any variable holding a secret value) plus TICKD_REGION_ID, _CODE,
  _SCHEDULED_FOR (the run's scheduled_for), _RUN_ID (its job_run id) and _ATTEMPT; stdin empty;
- exit 3 fails the tick with the status and its stderr, retried as max_attempts allows;
- 7 MB of stdout: ok, quickly, details.command.stdout exactly its last 4 KiB, every byte counted;
- a command that ignores SIGTERM under timeout_ms 1000 ends 'timed out after 1000 ms', killed
  (SIGKILL) about 5 s after the SIGTERM, and none of its processes is left;
- a command's background process does not outlive it, nor hold its tick open;
- a cancel ends a sleeping command's tick 'cancelled' at once, its processes gone;
- 20 regions running a command every second: every tick ok;
- argv[0] with '/' or '..', a symlink, a plain file, a missing file, and (another replica)
  COMMAND_DIR unset: the regions are listed invalid with the reason;
- no zombie child of tickd at any check; at shutdown a running command's processes go too.
"""
import datetime
import os
import signal
import subprocess
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

YEARLY = "0 0 1 1 *"  # never fires during the test: these regions run when triggered
SECRETS = dict(TICKD_API_TOKEN="tok-s3cret-for-command-test", NOTIFY_SECRET="notify-s3cret-value",
               PGPASSWORD="pg-s3cret-password", HTTP_ENV_ALLOW="MY_API_KEY", MY_API_KEY="my-api-key-value",
               LEAKY_VAR="prefix-tok-s3cret-for-command-test-suffix", PLAIN_VAR="plain value")

SCRIPTS = {
    "env.sh": 'printf "arg:%s\\n" "$@"; env | sort; cat; echo stdin-end\n',
    "fail.sh": 'echo "about to fail"; echo "first line" >&2; echo "disk full: /backup" >&2; exit 3\n',
    "big.sh": "seq 1 1000000\n",
    # Ignores SIGTERM (so does its sleep, which inherits that): only SIGKILL ends them.
    "stubborn.sh": 'trap "" TERM; sleep 600 & echo $$ $! > "$1"; wait; wait\n',
    "background.sh": 'sleep 600 & echo $! > "$1"; echo started\n',
    "sleeper.sh": 'sleep 600 & echo $$ $! > "$1"; wait\n',
    "quick.sh": "echo ok\n",
}
NOT_EXECUTABLE = "notes.txt"


def make_command_dir(base):
    d = os.path.join(base, "commands")
    os.mkdir(d)
    for name, body in SCRIPTS.items():
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
    with open(os.path.join(d, NOT_EXECUTABLE), "w") as f:
        f.write("not a program\n")
    os.symlink("/bin/true", os.path.join(d, "true-link"))
    return d


def cli(r, *args):
    p = subprocess.run([r.tickd, *args], env=r.env_for(r.url), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def trigger(r, code):
    rc, out, err = cli(r, "region", "trigger", code, "--by", "command-test")
    check(rc == 0, "tickd region trigger %s: exit 0" % code, (rc, out, err))


def run_rows(r, region_id):
    return r.sql("SELECT status, error, details, attempt, id, extract(epoch FROM scheduled_for)::float8, "
                 "extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8 "
                 "FROM job_run WHERE region_id = %s ORDER BY id", [region_id])


def ended(r, region_id):
    rows = run_rows(r, region_id)
    return rows[0] if rows and rows[0][0] != "running" else None


def alive(pid):
    """Running (a zombie is dead: it only waits for its parent)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def group_members(pgid):
    """Live processes of process group `pgid`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(entry))
    return out


def zombie_children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] == "Z":
            out.append(int(entry))
    return out


def pids_in(path):
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def wait_pids(path, n=2):
    return wait_for(lambda: os.path.exists(path) and len(pids_in(path)) == n and pids_in(path), 5,
                    "the command writes its pids to %s" % path)


def check_gone(pids, what):
    wait_for(lambda: not any(alive(p) for p in pids), 2, "%s: processes %s gone" % (what, pids))


def test(r):
    cmd_dir = make_command_dir(r.tmp)
    files = lambda name: os.path.join(r.tmp, name)  # noqa: E731
    ids = {
        "env": r.add_region("env", YEARLY, handlers=["command"], command=["env.sh", "one", "two words"]),
        "fail": r.add_region("fail", YEARLY, handlers=["command"], command=["fail.sh"], max_attempts=2,
                             retry_backoff_ms=100),
        "big": r.add_region("big", YEARLY, handlers=["command"], command=["big.sh"]),
        "stubborn": r.add_region("stubborn", YEARLY, handlers=["command"],
                                 command=["stubborn.sh", files("stubborn.pids")], timeout_ms=1000),
        "background": r.add_region("background", YEARLY, handlers=["command"],
                                   command=["background.sh", files("background.pid")]),
        "sleeper": r.add_region("sleeper", YEARLY, handlers=["command"],
                                command=["sleeper.sh", files("sleeper.pids")], timeout_ms=60000),
    }
    bad = {
        "slash": ["/bin/true"],
        "dotdot": ["../commands/quick.sh"],
        "symlink": ["true-link"],
        "plain": [NOT_EXECUTABLE],
        "missing": ["missing.sh"],
    }
    for code, argv in bad.items():
        r.add_region(code, YEARLY, handlers=["command"], command=argv)
    r.add_region("no-command", YEARLY, handlers=["command"])
    many = [r.add_region("many-%02d" % i, "* * * * * *", handlers=["command"], command=["quick.sh"])
            for i in range(20)]
    t = r.start_tickd("a", COMMAND_DIR=cmd_dir, CONCURRENCY=32, DB_POOL_SIZE=16, **SECRETS)
    tickd_pid = t.proc.pid

    # --- refused rows: listed invalid, saying why ---
    invalid = wait_for(lambda: (lambda inv: inv if len(inv) == len(bad) + 1 else None)(t.status_invalid()), 5,
                       "/status lists the %d refused regions" % (len(bad) + 1))
    why = {code: invalid[code]["error"] for code in invalid}
    for code in ("slash", "dotdot"):
        check("must be a file name, without '/'" in why[code], "%s: refused for its '/'" % code, why[code])
    check("a symlink" in why["symlink"], "symlink: refused as a symlink", why["symlink"])
    check("Permission denied" in why["plain"], "plain: refused, not executable", why["plain"])
    check("No such file" in why["missing"] and cmd_dir in why["missing"], "missing: refused, naming COMMAND_DIR",
          why["missing"])
    check("`command` column is not set" in why["no-command"], "no-command: refused", why["no-command"])

    for code in ("env", "fail", "big", "background"):
        trigger(r, code)

    # --- environment and argv ---
    status, error, details, attempt, run_id, scheduled, _, _ = wait_for(lambda: ended(r, ids["env"]), 10,
                                                                         "env's run ends")
    check(status == "ok", "env: ok", (status, error))
    out = details["command"]["stdout"]
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and not line.startswith("arg:"))
    check("arg:one\narg:two words\n" in out, "env: argv passed as given, no shell", out[:200])
    check(env.get("TICKD_REGION_CODE") == "env" and env.get("TICKD_REGION_ID") == str(ids["env"]),
          "env: TICKD_REGION_CODE and TICKD_REGION_ID", out)
    check(env.get("TICKD_RUN_ID") == str(run_id) and env.get("TICKD_ATTEMPT") == "1",
          "env: TICKD_RUN_ID (the job_run id) and TICKD_ATTEMPT", out)
    sf = env.get("TICKD_SCHEDULED_FOR", "")
    check(sf.endswith("Z") and abs(datetime.datetime.fromisoformat(sf.replace("Z", "+00:00")).timestamp()
                                   - scheduled) < 1e-5,
          "env: TICKD_SCHEDULED_FOR is the run's scheduled_for (RFC 3339, UTC)", (sf, scheduled))
    check(env.get("PLAIN_VAR") == "plain value" and "COMMAND_DIR" in env, "env: tickd's own variables pass", out)
    leaked = [k for k in ("DATABASE_URL", "TICKD_API_TOKEN", "NOTIFY_SECRET", "PGPASSWORD", "MY_API_KEY",
                          "LEAKY_VAR") if k in env]
    check(not leaked, "env: no secret (by name, HTTP_ENV_ALLOW, or by value)", leaked)
    check(out.endswith("stdin-end\n") and "\ncat" not in out, "env: stdin is empty", out[-100:])
    check(details["command"]["exit_code"] == 0 and details["command"]["signal"] is None, "env: exit_code 0",
          details)

    # --- exit 3: failed with its status and stderr, retried as max_attempts allows ---
    status, error, details, attempt, *_ = wait_for(lambda: ended(r, ids["fail"]), 10, "fail's run ends")
    check(status == "failed" and "exit status 3" in error and "disk full: /backup" in error,
          "fail: failed, the error names the exit status and stderr's last line", error)
    check(attempt == 2, "fail: retried (max_attempts 2)", attempt)
    c = details["command"]
    check(c["exit_code"] == 3 and c["stderr"] == "first line\ndisk full: /backup\n"
          and c["stdout"] == "about to fail\n", "fail: details.command has the exit code and both streams", c)

    # --- big output: the last 4 KiB exactly ---
    status, error, details, *_ = wait_for(lambda: ended(r, ids["big"]), 20, "big's run ends")
    whole = "".join("%d\n" % i for i in range(1, 1000001))
    c = details["command"]
    check(status == "ok", "big: ok", (status, error))
    check(c["stdout"] == whole[-4096:], "big: details.command.stdout is exactly the last 4096 bytes",
          (len(c["stdout"]), c["stdout"][:40]))
    check(c["stdout_bytes"] == len(whole) and c["stderr_bytes"] == 0, "big: every byte counted",
          (c["stdout_bytes"], len(whole)))
    check(details["command"]["seconds"] < 5, "big: read at pipe speed", details["command"]["seconds"])

    # --- a background process does not outlive its command ---
    status, error, details, *_ = wait_for(lambda: ended(r, ids["background"]), 10, "background's run ends")
    check(status == "ok" and details["command"]["seconds"] < 3, "background: ok at once",
          (status, error, details["command"]["seconds"]))
    check_gone(pids_in(files("background.pid")), "background")

    # --- timeout: SIGTERM ignored, SIGKILL 5 s later, nothing left ---
    trigger(r, "stubborn")
    pids = wait_pids(files("stubborn.pids"))
    status, error, details, _, _, _, started, finished = wait_for(lambda: ended(r, ids["stubborn"]), 12,
                                                                  "stubborn's run ends")
    check(status == "failed" and error.startswith("timed out after 1000 ms"), "stubborn: timed out", error)
    check(5.5 <= finished - started <= 8.5, "stubborn: killed about 5 s after the SIGTERM at 1 s",
          "%.2f s" % (finished - started))
    check(details["command"]["signal"] == "SIGKILL", "stubborn: details.command.signal SIGKILL", details)
    check_gone(pids, "stubborn")
    check(not group_members(pids[0]), "stubborn: its process group is empty", group_members(pids[0]))

    # --- cancel ---
    trigger(r, "sleeper")
    pids = wait_pids(files("sleeper.pids"))
    t_cancel = time.monotonic()
    rc, out, err = cli(r, "region", "cancel", "sleeper", "--by", "ops")
    check(rc == 0, "cancel: exit 0", (rc, out, err))
    status, error, details, *_ = wait_for(lambda: ended(r, ids["sleeper"]), 3, "sleeper's run ends")
    check(status == "cancelled" and "cancelled by ops" in error, "sleeper: cancelled", (status, error))
    check(time.monotonic() - t_cancel < 3, "sleeper: at once", time.monotonic() - t_cancel)
    check(details["command"]["signal"] == "SIGTERM", "sleeper: ended by SIGTERM", details)
    check_gone(pids, "sleeper")

    # --- 20 regions every second ---
    def enough():
        return all(len([row for row in run_rows(r, i) if row[0] != "running"]) >= 3 for i in many) or None
    wait_for(enough, 10, "three ended ticks of each of the 20 'many' regions")
    not_ok = [(row[0], row[1]) for i in many for row in run_rows(r, i) if row[0] not in ("ok", "running")]
    check(not not_ok, "many: every tick ok", not_ok[:5])
    check(not zombie_children(tickd_pid), "no zombie child of tickd", zombie_children(tickd_pid))

    # --- shutdown: a running command's processes go with it ---
    os.unlink(files("sleeper.pids"))
    trigger(r, "sleeper")
    pids = wait_pids(files("sleeper.pids"))
    t.signal(signal.SIGTERM)
    check(t.wait_exit(10) is not None, "tickd exits at SIGTERM", None)
    check_gone(pids, "sleeper at shutdown")

    # --- without COMMAND_DIR every command region is refused ---
    b = r.start_tickd("b", **SECRETS)
    invalid = wait_for(lambda: (lambda inv: inv if len(inv) == len(ids) + len(bad) + 1 + len(many) else None)(
        b.status_invalid()), 5, "every command region invalid without COMMAND_DIR")
    check(all(v["error"] == "command: COMMAND_DIR is not set" for k, v in invalid.items() if k != "no-command"),
          "the reason: COMMAND_DIR is not set", {k: v["error"] for k, v in list(invalid.items())[:3]})


rig.main(test)
