"""The process-level test rig: a fresh schema, `tickd migrate`, `tickd run` processes, HTTP and
SQL helpers, and cleanup; and a TCP proxy that tests can cut and stall.

Every test is a script `python3 test.py PATH_TO_TICKD`, run by meson with PYTHONPATH naming
tests/lib (by hand: `PYTHONPATH=tests/lib python3 tests/e2e/NAME.py build/tickd`). The
PostgreSQL server comes from TICKD_TEST_DATABASE_URL (a libpq URI); without it the test exits
77 (skipped). Each test makes its own schema (random name) and points tickd at it with the URI
parameter `options=-csearch_path=<schema>`, so tests run in parallel on one server.

Usage:

    from tickd_rig import rig
    from tickd_rig.util import wait_for

    def test(r):                      # r: rig.Rig
        r.sql("INSERT INTO region_index (code, cron_schedule) VALUES ('a', '* * * * * *')")
        t = r.start_tickd()
        wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run") >= 2, 5, "two rows")

    rig.main(test)

`rig.main` runs the test, kills every process it started, drops the schema, and on failure
prints the assertion and the log of every tickd process.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

from tickd_rig.util import (check, free_port, http_get, metric, parse_metrics, run_main, test_database_url,
                            wait_for, with_options)


# ---- tickd processes ---------------------------------------------------------------------

class Tickd:
    def __init__(self, rig, name, env, port, log_path):
        self.rig = rig
        self.name = name
        self.env = env
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([rig.tickd, "run"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._log)
        self.started = time.time()

    @property
    def replica_id(self):
        return self.env["TICKD_REPLICA_ID"]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def get(self, path, timeout=5):
        return http_get(self.port, path, timeout)

    def metrics_text(self):
        status, body, _ = self.get("/metrics")
        check(status == 200, "/metrics 200", "%s: %r" % (status, body[:200]))
        return body

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def metric(self, name, **labels):
        return metric(self.metrics(), name, **labels)

    def status(self):
        status, body, _ = self.get("/status")
        check(status == 200, "/status 200", "%s: %r" % (status, body[:200]))
        return json.loads(body)

    def status_regions(self):
        return {r["code"]: r for r in self.status()["regions"]}

    def status_invalid(self):
        return {r["code"]: r for r in self.status()["invalid"]}

    def ready(self):
        try:
            return self.get("/readyz", timeout=2)[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout=10):
        def ok():
            if not self.alive():
                raise AssertionError("tickd %s exited with %s before /readyz was 200"
                                     % (self.name, self.proc.returncode))
            return self.ready()
        wait_for(ok, timeout, "tickd %s: /readyz 200" % self.name)

    def signal(self, sig=signal.SIGTERM):
        if self.alive():
            self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """The exit code, or None when still running after `timeout` seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def close(self):
        self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


class Rig:
    def __init__(self, tickd):
        self.tickd = tickd
        self.base = test_database_url()
        self.schema = "e2e_%s" % secrets.token_hex(5)
        self.url = with_options(self.base, "-csearch_path=" + self.schema)
        self.procs = []
        self.cleanups = []
        self._ids_spread = False
        self.tmp = tempfile.mkdtemp(prefix="tickd-e2e-")
        self._conn = None
        admin = psycopg2.connect(self.base)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute('CREATE SCHEMA "%s"' % self.schema)
        admin.close()

    # -- database --
    def conn(self):
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.url)
            self._conn.autocommit = True
        return self._conn

    def sql(self, statement, params=None):
        """Runs one statement (autocommit: it has committed when this returns); the rows, if any."""
        with self.conn().cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None

    def sql_value(self, statement, params=None):
        rows = self.sql(statement, params)
        return rows[0][0] if rows else None

    def migrate(self):
        env = self.env_for(self.url)
        r = subprocess.run([self.tickd, "migrate"], env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("tickd migrate: expected exit 0, seen %d; stderr:\n%s" % (r.returncode, r.stderr))

    def add_region(self, code, cron="* * * * * *", **cols):
        """INSERT a region; returns its id."""
        if not self._ids_spread:
            # Claim locks are advisory locks keyed by (region id, instant), and advisory locks
            # are database-wide: tests running side by side in one database, each in its own
            # schema with ids from 1, took each other's claim locks and lost ticks. Each
            # schema's ids start at a random point instead.
            self.sql("SELECT setval(pg_get_serial_sequence('region_index', 'id'), %s)",
                     [secrets.randbelow(1 << 30) + 1])
            self._ids_spread = True
        cols = dict(cols, code=code, cron_schedule=cron)
        names = ", ".join(cols)
        marks = ", ".join(["%s"] * len(cols))
        return self.sql_value("INSERT INTO region_index (%s) VALUES (%s) RETURNING id" % (names, marks),
                              list(cols.values()))

    # -- processes --
    def env_for(self, database_url, **extra):
        # tickd's settings come only from the test (config/tickd.example.toml lists them).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TICKD_", "DATABASE_", "STORAGE_", "PUBLISH_", "CDN_", "SYNC_", "JOB_",
                                    "UPLOAD_"))
               and not k.endswith(("_MS", "_BYTES"))
               and k not in ("CONCURRENCY", "DB_POOL_SIZE", "LOG_LEVEL", "LOG_FORMAT", "RETENTION_DAYS")}
        env["DATABASE_URL"] = database_url
        env["LOG_LEVEL"] = "debug"
        # upload reads local files only from here: the test's own directory (make_file's).
        env["UPLOAD_ROOT"] = self.tmp
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start_tickd(self, name="a", database_url=None, wait_ready=True, **extra_env):
        """Starts `tickd run` on a free port (retrying if the port was taken meanwhile)."""
        replica = "%s-%s" % (self.schema, name)
        url = database_url or self.url
        if "application_name=" not in url:
            # Names this process's backends in pg_stat_activity.
            url += ("&" if "?" in url else "?") + "application_name=" + replica
        for attempt in range(5):
            port = free_port()
            env = self.env_for(url, TICKD_HTTP_ADDR="127.0.0.1:%d" % port, TICKD_REPLICA_ID=replica, **extra_env)
            log_path = os.path.join(self.tmp, "tickd-%s-%d.log" % (name, attempt))
            t = Tickd(self, name, env, port, log_path)
            self.procs.append(t)
            # The HTTP server binds before anything else: a taken port ends the process at once.
            time.sleep(0.05)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and t.alive():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.02)
            if not t.alive() and re.search(r"(?i)address (already )?in use", t.log()):
                continue
            if wait_ready:
                t.wait_ready()
            return t
        raise AssertionError("could not start tickd on a free port after 5 attempts")

    def print_logs(self):
        for t in self.procs:
            sys.stdout.write("\n----- log of tickd %s (replica %s, port %d, exit %s) -----\n"
                             % (t.name, t.replica_id, t.port, t.proc.returncode))
            sys.stdout.write(t.log())
        sys.stdout.flush()

    def close(self):
        for t in self.procs:
            try:
                t.close()
            except Exception:  # noqa: BLE001
                pass
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:  # noqa: BLE001
                pass
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        try:
            admin = psycopg2.connect(self.base, connect_timeout=10)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute('DROP SCHEMA IF EXISTS "%s" CASCADE' % self.schema)
            admin.close()
        except Exception as e:  # noqa: BLE001
            print("warning: could not drop schema %s: %s" % (self.schema, e))


def main(test, migrate=True):
    """Runs test(rig) on a fresh Rig (migrated unless `migrate` is false) and exits with
    util.run_main's protocol; on failure it prints every tickd log, and it always cleans up."""
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH_TO_TICKD" % sys.argv[0])
    tickd = os.path.abspath(sys.argv[1])
    made = []  # the Rig, once made

    def body():
        made.append(Rig(tickd))
        if migrate:
            made[0].migrate()
        test(made[0])

    def on_failure():
        if made:
            made[0].print_logs()

    def cleanup():
        if made:
            made[0].close()

    run_main(body, on_failure, cleanup)


# ---- a TCP proxy that tests can cut and restore -----------------------------------------

class TcpProxy:
    """Forwards 127.0.0.1:port -> (host, target_port). `cut()` closes every connection and
    refuses new ones (closes the listening socket); `restore()` listens again on the same port.
    `stall()` keeps every connection open but forwards nothing (a black hole that heals:
    connections made meanwhile are accepted and wait too); `resume()` forwards again."""

    def __init__(self, host, target_port):
        self.target = (host, target_port)
        self.flowing = threading.Event()
        self.flowing.set()
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.port = None
        self._listen(0)

    def _listen(self, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        self.listener = s
        self.port = s.getsockname()[1]
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.flowing.wait()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if listener is not self.listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            listener, self.listener = self.listener, None
            conns, self.conns = self.conns, []
        if listener:
            listener.close()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self):
        with self.lock:
            if self.listener is not None:
                return
        self._listen(self.port)

    def stall(self):
        self.flowing.clear()

    def resume(self):
        self.flowing.set()

    def close(self):
        self.flowing.set()
        self.cut()
