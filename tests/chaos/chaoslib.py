"""Helpers of the chaos suite: a private PostgreSQL cluster (so restarting it breaks no other
test), a private PgBouncer, a metrics scraper that survives kill -9 of the processes it
watches, and the analysis of a window of ticks (duplicates, missing ticks, stuck rows).

It builds on tests/e2e/rig.py (imported, unchanged): a Rig made after `use_cluster()` makes its
schema in the private cluster.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import rig  # noqa: E402
from rig import Skip  # noqa: E402,F401

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def as_owner(cmd):
    """`cmd` run as the postgres OS user when we are root (initdb, pg_ctl and pgbouncer refuse
    to run as root)."""
    if os.getuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def chown_postgres(path):
    if os.getuid() == 0:
        shutil.chown(path, "postgres", "postgres")


# ---- a private PostgreSQL cluster ---------------------------------------------------------

class Cluster:
    """initdb into a temp dir, a random loopback port, fsync off (the OS does not crash here;
    synchronous_commit stays on, so `restart("immediate")`, a crash of the server, loses no
    committed claim). `restart()`,
    `stop()`, `start()`; `close()` stops it and removes the directory."""

    def __init__(self):
        self.bin = os.environ.get("TICKD_TEST_PG_BIN") or "/usr/lib/postgresql/15/bin"
        if not os.path.exists(os.path.join(self.bin, "initdb")):
            raise Skip("no PostgreSQL server binaries in %s (set TICKD_TEST_PG_BIN)" % self.bin)
        if os.getuid() == 0:
            try:
                import pwd
                pwd.getpwnam("postgres")
            except KeyError:
                raise Skip("running as root and there is no 'postgres' OS user to run initdb")
        self.root = tempfile.mkdtemp(prefix="tickd-chaos-pg-")
        os.chmod(self.root, 0o755)
        chown_postgres(self.root)
        self.data = os.path.join(self.root, "data")
        self.port = rig.free_port()
        r = subprocess.run(as_owner([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                                     "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("initdb failed:\n%s%s" % (r.stdout, r.stderr))
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 300\n"
                    "log_min_messages = warning\nlog_line_prefix = '%m [%p] '\nfsync = off\n"
                    "full_page_writes = off\n")
        self.start()

    def _ctl(self, *args):
        r = subprocess.run(as_owner([os.path.join(self.bin, "pg_ctl"), "-D", self.data] + list(args)),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            log = ""
            try:
                with open(os.path.join(self.data, "server.log")) as f:
                    log = "".join(f.readlines()[-20:])
            except OSError:
                pass
            raise AssertionError("pg_ctl %s failed: %s%s\n%s" % (" ".join(args), r.stdout, r.stderr, log))

    def start(self):
        self._ctl("-o", "-p %d" % self.port, "-l", os.path.join(self.data, "server.log"), "-w", "-t", "60",
                  "start")

    def stop(self, mode="fast"):
        self._ctl("-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode="fast"):
        self.stop(mode)
        self.start()

    def url(self, db="postgres", user="postgres"):
        return "postgresql://%s@127.0.0.1:%d/%s" % (user, self.port, db)

    def close(self):
        try:
            self._ctl("-m", "immediate", "-w", "-t", "60", "stop")
        except Exception:  # noqa: BLE001
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def use_cluster(cluster):
    """Makes rig.Rig (which reads TICKD_TEST_DATABASE_URL) use the private cluster."""
    os.environ["TICKD_TEST_DATABASE_URL"] = cluster.url()


# ---- PgBouncer ------------------------------------------------------------------------------

class Bouncer:
    """A private pgbouncer in transaction pooling mode in front of (host, port, db), auth_type
    trust with an auth_file naming `users`."""

    def __init__(self, host, port, db, users, pool_size=3):
        self.exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(self.exe):
            raise Skip("pgbouncer is not installed (Debian package pgbouncer)")
        self.dir = tempfile.mkdtemp(prefix="tickd-chaos-bouncer-")
        os.chmod(self.dir, 0o755)
        self.port = rig.free_port()
        self.db = db
        with open(os.path.join(self.dir, "users.txt"), "w") as f:
            for u in users:
                f.write('"%s" ""\n' % u)
        self.ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(self.ini, "w") as f:
            f.write("[databases]\n%(db)s = host=%(host)s port=%(port)d dbname=%(db)s\n\n"
                    "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %(listen)d\nunix_socket_dir =\n"
                    "auth_type = trust\nauth_file = %(dir)s/users.txt\npool_mode = transaction\n"
                    "default_pool_size = %(pool)d\nmin_pool_size = 0\nreserve_pool_size = 0\n"
                    "max_client_conn = 400\nserver_reset_query =\nignore_startup_parameters = options\n"
                    "logfile = %(dir)s/pgbouncer.log\npidfile = %(dir)s/pgbouncer.pid\n"
                    % {"db": db, "host": host, "port": port, "listen": self.port, "dir": self.dir,
                       "pool": pool_size})
        for name in os.listdir(self.dir):
            chown_postgres(os.path.join(self.dir, name))
        chown_postgres(self.dir)
        self.proc = subprocess.Popen(as_owner([self.exe, self.ini]), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def url(self, user):
        return "postgresql://%s@127.0.0.1:%d/%s" % (user, self.port, self.db)

    def log(self):
        try:
            with open(os.path.join(self.dir, "pgbouncer.log")) as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- metrics that survive kill -9 ------------------------------------------------------------

class Scraper:
    """Scrapes every live tickd process of a rig every `interval` seconds and keeps the last
    sample of each process, so counters of a process killed with SIGKILL are still counted (up to
    the last scrape; `scrape(t)` right before a kill makes that exact enough)."""

    def __init__(self, r, interval=0.5):
        self.r = r
        self.interval = interval
        self.last = {}  # id(Tickd) -> parsed metrics
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def scrape(self, t):
        if not t.alive():
            return
        try:
            m = rig.parse_metrics(rig.http_get(t.port, "/metrics", timeout=2)[1])
        except Exception:  # noqa: BLE001 -- a process that is stopped or dying
            return
        with self.lock:
            self.last[id(t)] = m

    def _loop(self):
        while not self.stop.wait(self.interval):
            for t in list(self.r.procs):
                self.scrape(t)

    def snapshot(self):
        for t in list(self.r.procs):
            self.scrape(t)
        with self.lock:
            return dict(self.last)

    @staticmethod
    def delta(before, after, name, **labels):
        """Sum over processes of (after - before) of one series."""
        total = 0.0
        for key, m in after.items():
            v = rig.metric(m, name, **labels) or 0.0
            b = rig.metric(before.get(key, {}), name, **labels) or 0.0
            total += max(0.0, v - b)
        return total

    def close(self):
        self.stop.set()


# ---- watching running rows ---------------------------------------------------------------------

class RunningWatch:
    """Polls the age of the oldest `running` row (by the database's clock) every 0.2 s; `peak()`
    is the largest age seen since the last `reset()`."""

    def __init__(self, url):
        self.url = url
        self._peak = 0.0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        import psycopg2
        conn = None
        while not self.stop.wait(0.2):
            try:
                if conn is None or conn.closed:
                    conn = psycopg2.connect(self.url, connect_timeout=2)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT coalesce(max(extract(epoch FROM clock_timestamp() - started_at)), 0) "
                                "FROM job_run WHERE status = 'running'")
                    age = float(cur.fetchone()[0])
                with self.lock:
                    self._peak = max(self._peak, age)
            except Exception:  # noqa: BLE001 -- the database is being restarted
                try:
                    if conn is not None:
                        conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None

    def reset(self):
        with self.lock:
            self._peak = 0.0

    def peak(self):
        with self.lock:
            return self._peak

    def close(self):
        self.stop.set()


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return ("%%.%df" % digits) % v
    return str(v)


def print_table(rows, columns):
    """rows: list of dicts; columns: list of (key, header)."""
    cells = [[h for _, h in columns]] + [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    out = []
    for n, c in enumerate(cells):
        out.append("| " + " | ".join(x.ljust(w) for x, w in zip(c, widths)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    text = "\n".join(out)
    print(text)
    sys.stdout.flush()
    return text


_ = statistics  # (kept for callers that want means)
