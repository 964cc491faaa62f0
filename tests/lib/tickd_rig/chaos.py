"""Helpers of the chaos suite (tests/chaos): a metrics scraper that survives kill -9 of the
processes it watches, a watch on the oldest running row, and result tables. The private
PostgreSQL cluster and PgBouncer are in tickd_rig.pg, the formation in tickd_rig.autofailover.
"""
import sys
import threading

from tickd_rig.util import http_get, metric, parse_metrics

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


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
            m = parse_metrics(http_get(t.port, "/metrics", timeout=2)[1])
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
            v = metric(m, name, **labels) or 0.0
            b = metric(before.get(key, {}), name, **labels) or 0.0
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

