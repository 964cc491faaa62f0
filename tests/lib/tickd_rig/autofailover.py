"""A pg_auto_failover formation on loopback for tests: a monitor and two PostgreSQL 15 nodes
(primary + synchronous secondary) in a temp dir, run as the `postgres` OS user.

    f = Formation()          # raises Skip when pg_autoctl is missing (Debian postgresql-15-auto-failover;
                             # TICKD_TEST_PG_AUTOCTL names another path, TICKD_TEST_PG_BIN the server's)
    try:
        f.start()            # ~15-25 s: monitor, node1 (primary), node2 (secondary), healthy
        url = f.url()        # postgresql://postgres@127.0.0.1:P1,127.0.0.1:P2/tickd?target_session_attrs=read-write
        f.switchover()       # planned: pg_autoctl perform failover --wait
        f.crash_primary()    # kill -9 of the primary's keeper, its children and its postmaster
        f.wait_primary(...)  # the other node is promoted (7-9 s with the monitor's lowered timeouts)
        f.restart_node(n)    # the killed node rejoins as secondary (pg_rewind)
    finally:
        f.close()            # kills every process of the formation (process groups), removes the dir

The traps this works around (see shared testing-notes, "pg_auto_failover"): `--hostname` on
every create (else pg_autoctl probes a public address), PGHOST=/var/run/postgresql (pg_autoctl
never passes -k), the monitor's listen_addresses set through `pg_autoctl config set`,
shared_buffers overridden after pg_autoctl's include line (it picks 25% of RAM per instance),
wal_retrieve_retry_interval=1s (a 5 s stall after a crash otherwise), the monitor's health-check
and demote timeouts lowered so a crash fails over in seconds rather than ~50 s, and ALTER SYSTEM
one statement per psql call.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from tickd_rig.util import Skip, free_port, wait_for

PG_BIN = os.environ.get("TICKD_TEST_PG_BIN") or "/usr/lib/postgresql/15/bin"
DBNAME = "tickd"

# The monitor's failure detection (pgautofailover.* GUCs; defaults in brackets). A node is
# probed every 1 s [5 s], a probe gives up after 1 s [5 s] with 1 retry [2] 500 ms later [2 s];
# a node that failed its checks for 3 s [20 s] is unhealthy; a primary that lost the monitor
# demotes itself after 3 s [30 s]. Result: a crashed primary is replaced in ~7-9 s.
MONITOR_SETTINGS = [
    ("pgautofailover.health_check_period", "1000"),
    ("pgautofailover.health_check_timeout", "1000"),
    ("pgautofailover.health_check_max_retries", "1"),
    ("pgautofailover.health_check_retry_delay", "500"),
    ("pgautofailover.node_considered_unhealthy_timeout", "3000"),
    ("pgautofailover.primary_demote_timeout", "3000"),
]

# Appended to each instance's postgresql.conf, after pg_autoctl's include line (later lines
# win). fsync off: the OS does not crash here, only processes do (full_page_writes stays on:
# pg_rewind needs it when a killed primary rejoins).
INSTANCE_SETTINGS = """
# tests/lib/tickd_rig/autofailover.py
shared_buffers = '32MB'
max_connections = 200
fsync = off
wal_retrieve_retry_interval = '1s'
log_min_messages = warning
log_line_prefix = '%m [%p] '
"""


class CommandFailed(RuntimeError):
    """A pg_autoctl or psql command exited non-zero (not an AssertionError, so wait_for
    polls through it)."""


def _is_root():
    return os.getuid() == 0


class Formation:
    def __init__(self, log=None):
        self.autoctl = os.environ.get("TICKD_TEST_PG_AUTOCTL") or shutil.which("pg_autoctl") or "/usr/bin/pg_autoctl"
        if not os.path.exists(self.autoctl):
            raise Skip("pg_autoctl is not installed (Debian package postgresql-15-auto-failover)")
        if not os.path.exists(os.path.join(PG_BIN, "pg_ctl")):
            raise Skip("no PostgreSQL server binaries in %s (set TICKD_TEST_PG_BIN)" % PG_BIN)
        self.user = None
        if _is_root():
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise Skip("running as root and there is no 'postgres' OS user to run pg_autoctl")
        if not os.path.isdir("/var/run/postgresql"):
            raise Skip("/var/run/postgresql does not exist (pg_autoctl connects through its socket)")
        self._log = log or (lambda msg: (sys.stdout.write(msg + "\n"), sys.stdout.flush()))
        self.root = tempfile.mkdtemp(prefix="tickd-pgaf-")
        os.chmod(self.root, 0o755)
        for sub in ("home", "config", "data", "run"):
            os.mkdir(os.path.join(self.root, sub), 0o700)
        self._chown(self.root)
        self.ports = {}
        self.pgdata = {}
        self.procs = {}  # name -> Popen of `pg_autoctl run` (its own session and process group)
        self.logs = {}   # name -> path of that process's output
        self.monitor_uri = None
        self.started_at = None
        self.steps = []  # (what, seconds) of start()
        self._mon = None  # a connection to the monitor (states()), used by one thread at a time
        self._mon_lock = threading.Lock()

    # ---- plumbing --------------------------------------------------------------------------

    def _chown(self, path):
        if self.user is not None:
            for dirpath, dirnames, filenames in os.walk(path):
                os.chown(dirpath, self.user.pw_uid, self.user.pw_gid)
                for f in filenames:
                    os.chown(os.path.join(dirpath, f), self.user.pw_uid, self.user.pw_gid)

    def env(self):
        return {
            "PATH": "%s:/usr/bin:/bin" % PG_BIN,
            "HOME": os.path.join(self.root, "home"),
            "XDG_CONFIG_HOME": os.path.join(self.root, "config"),
            "XDG_DATA_HOME": os.path.join(self.root, "data"),
            "XDG_RUNTIME_DIR": os.path.join(self.root, "run"),
            "PGHOST": "/var/run/postgresql",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }

    def _cmd(self, args):
        if self.user is not None:
            return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "env", "-i"] + \
                ["%s=%s" % kv for kv in self.env().items()] + args
        return ["env", "-i"] + ["%s=%s" % kv for kv in self.env().items()] + args

    def run(self, *args, timeout=120, check=True):
        """Runs `pg_autoctl ARGS` (or, when args[0] is an absolute path, that program) as the
        postgres user; its CompletedProcess (text)."""
        prog = list(args) if args[0].startswith("/") else [self.autoctl] + list(args)
        r = subprocess.run(self._cmd(prog), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, cwd=self.root)
        if check and r.returncode != 0:
            raise CommandFailed("%s: exit %d\n%s%s" % (" ".join(prog), r.returncode, r.stdout[-3000:],
                                                        r.stderr[-3000:]))
        return r

    def psql(self, port, sql, db="postgres"):
        """One statement through psql as the postgres superuser (ALTER SYSTEM needs its own call)."""
        r = self.run(os.path.join(PG_BIN, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                     "-p", str(port), "-U", "postgres", "-d", db, "-c", sql, timeout=30)
        return r.stdout.strip()

    def _spawn(self, name):
        """`pg_autoctl run` for one instance, in a new session (so close() can kill its group)."""
        path = os.path.join(self.root, "%s.log" % name)
        self.logs[name] = path
        out = open(path, "ab")
        try:
            self.procs[name] = subprocess.Popen(self._cmd([self.autoctl, "run", "--pgdata", self.pgdata[name]]),
                                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                                cwd=self.root, start_new_session=True)
        finally:
            out.close()

    def _append_settings(self, name):
        conf = os.path.join(self.pgdata[name], "postgresql.conf")
        with open(conf, "a") as f:
            f.write(INSTANCE_SETTINGS)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout=120):
        """Creates and runs the monitor and two nodes; returns once node1 is primary and node2
        its secondary."""
        t0 = t = time.monotonic()
        self.started_at = time.time()
        for name in ("monitor", "node1", "node2"):
            self.ports[name] = free_port()
            self.pgdata[name] = os.path.join(self.root, name)
        # The monitor.
        self.run("create", "monitor", "--pgdata", self.pgdata["monitor"], "--pgport", str(self.ports["monitor"]),
                 "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl")
        self.run("config", "set", "--pgdata", self.pgdata["monitor"], "postgresql.listen_addresses", "127.0.0.1")
        self._append_settings("monitor")
        t = self._step("create monitor", t)
        self._spawn("monitor")
        self.monitor_uri = "postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable" % self.ports["monitor"]
        wait_for(lambda: self._monitor_sql("SELECT 1") == "1", 30, "the pg_auto_failover monitor to accept connections",
                 interval=0.1)
        for k, v in MONITOR_SETTINGS:
            self.psql(self.ports["monitor"], "ALTER SYSTEM SET %s = %s" % (k, v), db="pg_auto_failover")
        self.psql(self.ports["monitor"], "SELECT pg_reload_conf()", db="pg_auto_failover")
        t = self._step("run monitor", t)
        # node1: created as a single node, becomes primary.
        self._create_node("node1")
        self._append_settings("node1")
        t = self._step("create node1", t)
        self._spawn("node1")
        wait_for(lambda: self.states().get("node1") == ("single", "single"), 60, "node1 to be 'single'",
                 interval=0.1)
        t = self._step("run node1", t)
        # node2: base backup of node1 (settings included), then secondary.
        self._create_node("node2")
        t = self._step("create node2", t)
        self._spawn("node2")
        self.wait_healthy(max(10.0, timeout - (time.monotonic() - t0)))
        self._step("run node2 until healthy", t)
        self._log("pg_auto_failover formation up in %.1f s (%s): monitor :%d, node1 :%d, node2 :%d (%s)"
                  % (time.monotonic() - t0, ", ".join("%s %.1f s" % x for x in self.steps), self.ports["monitor"],
                     self.ports["node1"], self.ports["node2"], self.root))

    def _step(self, what, t0):
        now = time.monotonic()
        self.steps.append((what, now - t0))
        return now

    def _create_node(self, name):
        self.run("create", "postgres", "--pgdata", self.pgdata[name], "--pgport", str(self.ports[name]),
                 "--listen", "127.0.0.1", "--hostname", "127.0.0.1", "--name", name, "--dbname", DBNAME,
                 "--monitor", self.monitor_uri, "--auth", "trust", "--no-ssl", "--ssl-mode", "disable",
                 timeout=180)

    def _monitor_sql(self, sql):
        return self.psql(self.ports["monitor"], sql, db="pg_auto_failover")

    def states(self):
        """{node name: (reported state, goal state)} from the monitor."""
        import psycopg2
        with self._mon_lock:
            return self._states(psycopg2)

    def _states(self, psycopg2):
        if self._mon is None or self._mon.closed:
            self._mon = psycopg2.connect("postgresql://postgres@127.0.0.1:%d/pg_auto_failover?connect_timeout=5"
                                         % self.ports["monitor"])
            self._mon.autocommit = True
        try:
            with self._mon.cursor() as cur:
                cur.execute("SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node "
                            "ORDER BY nodeid")
                return {n: (rep, goal) for n, rep, goal in cur.fetchall()}
        except psycopg2.Error:
            self._mon.close()
            raise

    def primary(self):
        """The node whose reported and goal state are 'primary' or 'wait_primary' (it accepts
        writes), or None."""
        for n, (rep, goal) in self.states().items():
            if rep == goal and rep in ("primary", "wait_primary", "single"):
                return n
        return None

    def healthy(self):
        st = self.states()
        reps = sorted((rep, goal) for rep, goal in st.values())
        return len(st) == 2 and reps == [("primary", "primary"), ("secondary", "secondary")]

    def wait_healthy(self, timeout=90):
        wait_for(self.healthy, timeout, "the formation to be healthy (one primary, one secondary)", interval=0.2)

    def wait_primary(self, other_than=None, timeout=60):
        """Waits until a node other than `other_than` is primary (or wait_primary, alone);
        returns its name."""
        def ok():
            p = self.primary()
            return p if p and p != other_than else None
        return wait_for(ok, timeout, "a new primary (not %s)" % other_than, interval=0.1)

    def url(self, user="postgres", **params):
        """The multi-host libpq URI of the formation's database: both nodes, read-write
        sessions only (libpq tries each host in turn and keeps the one that accepts writes)."""
        q = dict({"target_session_attrs": "read-write"}, **params)
        hosts = ",".join("127.0.0.1:%d" % self.ports[n] for n in ("node1", "node2"))
        return "postgresql://%s@%s/%s?%s" % (user, hosts, DBNAME, "&".join("%s=%s" % kv for kv in q.items()))

    # ---- faults ----------------------------------------------------------------------------

    def switchover(self, timeout=60):
        """A planned failover (pg_autoctl perform failover --wait): the primary is demoted and the
        secondary promoted; returns (old primary, new primary, seconds the command took)."""
        old = self.primary()
        t0 = time.monotonic()
        self.run("perform", "failover", "--monitor", self.monitor_uri, "--wait", str(timeout), timeout=timeout + 30)
        took = time.monotonic() - t0
        new = self.wait_primary(other_than=old, timeout=30)
        return old, new, took

    def keeper_pid(self, name):
        """The pid of `pg_autoctl run` for node `name` (its pid file under XDG_RUNTIME_DIR)."""
        for dirpath, _, files in os.walk(os.path.join(self.root, "run")):
            if "pg_autoctl.pid" in files and os.path.normpath(dirpath).endswith(os.path.normpath(self.pgdata[name])):
                with open(os.path.join(dirpath, "pg_autoctl.pid")) as f:
                    first = f.readline().strip()
                return int(first) if first.isdigit() else None
        p = self.procs.get(name)
        return p.pid if p is not None and p.poll() is None else None

    def postmaster_pid(self, name):
        try:
            with open(os.path.join(self.pgdata[name], "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def crash(self, name):
        """kill -9 of node `name`: its keeper, every descendant of the keeper and its
        postmaster (with the postmaster's children). Everything is stopped (SIGSTOP) first so
        that nothing is restarted in between, then killed. Returns the time of the kill."""
        pids = set()
        keeper = self.keeper_pid(name)
        if keeper:
            pids.add(keeper)
            pids |= descendants(keeper)
        pm = self.postmaster_pid(name)
        if pm:
            pids.add(pm)
            pids |= descendants(pm)
        p = self.procs.get(name)
        if p is not None:
            pids.add(p.pid)  # setpriv execs: the same process as the keeper
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in sorted(pids):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        at = time.time()
        if p is not None:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # Nothing of the node is left (postmaster children may take a moment to be reaped).
        wait_for(lambda: not any(alive(x) for x in pids), 10, "the processes of %s to be gone" % name,
                 interval=0.05)
        return at

    def crash_primary(self):
        """crash() of the current primary; returns (its name, the time of the kill)."""
        name = self.primary()
        if name is None:
            raise AssertionError("no primary to crash; states %s" % self.states())
        return name, self.crash(name)

    def restart_node(self, name, timeout=60):
        """Runs node `name` again after a crash: its keeper learns from the monitor that it was
        demoted, rewinds and rejoins as secondary. Waits until the formation is healthy."""
        t0 = time.monotonic()
        self._spawn(name)
        self.wait_healthy(timeout)
        return time.monotonic() - t0

    # ---- teardown ---------------------------------------------------------------------------

    def log_tail(self, lines=30):
        out = []
        for name, path in self.logs.items():
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace").splitlines()
            except OSError:
                continue
            out.append("----- pg_autoctl %s, last %d of %d lines -----" % (name, min(lines, len(text)), len(text)))
            out += text[-lines:]
        return "\n".join(out)

    def kill_now(self):
        """SIGKILL to every process of the formation (its process groups, the pids in its pid
        files and their descendants), without waiting: safe in a signal handler. Returns the
        pids signalled."""
        pids = set()
        for p in self.procs.values():
            pids.add(p.pid)
            pids |= descendants(p.pid)
        for name in self.pgdata:
            for pid in (self.keeper_pid(name), self.postmaster_pid(name)):
                if pid and _owned_by_formation(pid, self.root):
                    pids.add(pid)
                    pids |= descendants(pid)
        for p in self.procs.values():
            try:
                os.killpg(p.pid, signal.SIGKILL)  # start_new_session: the group id is the leader's pid
            except (ProcessLookupError, PermissionError):
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def close(self):
        """Stops everything this formation started (kill -9: a test formation has nothing to
        save), waits until it is gone, then removes the directory."""
        if self._mon is not None:
            try:
                self._mon.close()
            except Exception:  # noqa: BLE001
                pass
        pids = self.kill_now()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(x) for x in pids):
            time.sleep(0.05)
        left = [x for x in pids if alive(x)]
        if left:
            self._log("warning: pg_auto_failover processes still alive after kill -9: %s" % left)
        shutil.rmtree(self.root, ignore_errors=True)


# ---- processes ---------------------------------------------------------------------------------

def _children_map():
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces or parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def descendants(pid):
    """Every live descendant of `pid` (children, grandchildren, ...)."""
    kids = _children_map()
    out, todo = set(), [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def _owned_by_formation(pid, root):
    """True when `pid` runs with a command line or working directory inside `root` (a pid in
    a stale pid file may have been reused by an unrelated process)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if root.encode() in f.read():
                return True
        return os.readlink("/proc/%d/cwd" % pid).startswith(root)
    except OSError:
        return False


def main():
    """By hand: python3 autofailover.py  -- starts a formation, prints its URL and states, does a
    switchover and a crash, and tears it down."""
    f = Formation()
    try:
        f.start()
        print(f.url())
        print(json.dumps(f.states()))
        print("switchover: %s -> %s in %.1f s" % f.switchover())
        name, at = f.crash_primary()
        new = f.wait_primary(other_than=name)
        print("crash of %s: %s primary after %.1f s" % (name, new, time.time() - at))
        print("%s back as secondary in %.1f s" % (name, f.restart_node(name)))
        print(json.dumps(f.states()))
        for n in ("node1", "node2"):
            print(n, [f.psql(f.ports[n], "SHOW %s" % k) for k in ("shared_buffers", "wal_retrieve_retry_interval",
                                                                   "synchronous_commit", "synchronous_standby_names",
                                                                   "fsync", "full_page_writes")])
        print("monitor", [f.psql(f.ports["monitor"], "SHOW %s" % k, db="pg_auto_failover") for k, _ in MONITOR_SETTINGS])
    finally:
        f.close()


if __name__ == "__main__":
    main()
