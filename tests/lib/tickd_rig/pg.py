"""Private PostgreSQL pieces for tests that must not disturb the shared test server: a
throwaway cluster (so restarting or crashing it breaks no other test) and a PgBouncer in
transaction pooling mode. As root, both run as the `postgres` OS user (initdb, pg_ctl and
pgbouncer refuse to run as root)."""
import os
import shutil
import subprocess
import tempfile

import psycopg2

from tickd_rig.util import Skip, free_port, wait_for


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
        self.port = free_port()
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
    """Makes tickd_rig.rig.Rig (which reads TICKD_TEST_DATABASE_URL) use the private cluster."""
    os.environ["TICKD_TEST_DATABASE_URL"] = cluster.url()


# ---- PgBouncer ------------------------------------------------------------------------------

class Bouncer:
    """A private pgbouncer in transaction pooling mode in front of (host, port, db), auth_type
    trust with an auth_file naming `users`, `pool_size` server connections per (db, user). It
    passes no `options` (ignored), so a schema must come from the role's search_path."""

    def __init__(self, host, port, db, users, pool_size=3, max_client_conn=400):
        self.exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(self.exe):
            raise Skip("pgbouncer is not installed (Debian package pgbouncer)")
        self.dir = tempfile.mkdtemp(prefix="tickd-pgbouncer-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
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
                    "max_client_conn = %(max_client)d\nserver_reset_query =\nignore_startup_parameters = options\n"
                    "logfile = %(dir)s/pgbouncer.log\npidfile = %(dir)s/pgbouncer.pid\n"
                    % {"db": db, "host": host, "port": port, "listen": self.port, "dir": self.dir,
                       "pool": pool_size, "max_client": max_client_conn})
        for name in os.listdir(self.dir):
            chown_postgres(os.path.join(self.dir, name))
        chown_postgres(self.dir)
        self.proc = subprocess.Popen(as_owner([self.exe, self.ini]), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def url(self, user):
        return "postgresql://%s@127.0.0.1:%d/%s" % (user, self.port, self.db)

    def wait_accepting(self, user, timeout=10):
        """Returns once a client of `user` can connect; fails with pgbouncer's log otherwise."""
        def up():
            if self.proc.poll() is not None:
                raise AssertionError("pgbouncer exited with %s; its log:\n%s" % (self.proc.returncode, self.log()))
            psycopg2.connect(self.url(user), connect_timeout=2).close()
            return True
        try:
            wait_for(up, timeout, "pgbouncer to accept %s" % user, interval=0.1)
        except AssertionError as e:
            if self.proc.poll() is not None:
                raise
            raise AssertionError("%s; pgbouncer's log:\n%s" % (e, self.log())) from None

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
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
