"""Shared pieces of the side-by-side benchmarks: the npm peers (node-cron, croner) installed
into a git-ignored folder, running one of them under bench/peers/engine.cjs with its CPU and
RSS read from /proc, lateness histograms (the same log-spaced bins for every system), and
the data files bench/plot.py draws from."""

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time

import benchlib as B
from tickd_rig.util import sleep_until

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
ENGINE = os.path.join(BENCH, "peers", "engine.cjs")

PEERS = {"node-cron": "node-cron@4", "croner": "croner@11"}


def data_dir():
    """Where the lateness distributions go for bench/plot.py (git-ignored)."""
    d = os.environ.get("TICKD_BENCH_DATA") or os.path.join(ROOT, ".cache", "bench")
    os.makedirs(d, exist_ok=True)
    return d


def node_modules():
    """$TICKD_NODE_MODULES, else .cache/node/node_modules, installing the peers there when
    missing (like scripts/test)."""
    env = os.environ.get("TICKD_NODE_MODULES")
    if env and all(os.path.isdir(os.path.join(env, p)) for p in PEERS):
        return os.path.abspath(env)
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            subprocess.run(["bash", "-c", "source scripts/lib/deps.sh && deps_install"], cwd=ROOT,
                           check=True)
            break
    prefix = os.path.join(ROOT, ".cache", "node")
    nm = os.path.join(prefix, "node_modules")
    if not all(os.path.isdir(os.path.join(nm, p)) for p in PEERS):
        os.makedirs(prefix, exist_ok=True)
        if not os.path.exists(os.path.join(prefix, "package.json")):
            with open(os.path.join(prefix, "package.json"), "w") as f:
                f.write('{ "private": true }\n')
        print("installing %s into .cache/node ..." % " ".join(PEERS.values()), file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"] +
                       list(PEERS.values()), cwd=prefix, check=True, stdout=subprocess.DEVNULL)
    return nm


def peer_version(name):
    with open(os.path.join(node_modules(), name, "package.json")) as f:
        return json.load(f)["version"]


# ---- lateness histograms: [[upper bound in ms, count], ...], bins 1% wide ----------------

BIN0, GROWTH = 0.01, 1.01


def hist_from_seconds(values):
    counts = {}
    lg = math.log(GROWTH)
    for v in values:
        ms = v * 1000.0
        b = 0 if ms <= BIN0 else int(math.ceil(math.log(ms / BIN0) / lg))
        counts[b] = counts.get(b, 0) + 1
    return [[BIN0 * GROWTH ** b, c] for b, c in sorted(counts.items())]


def hist_count(hist):
    return sum(c for _, c in hist)


def hist_quantile_ms(hist, p):
    """The p-th percentile (0-100) in ms: the upper bound of the bin that holds it (within 1%)."""
    total = hist_count(hist)
    if total == 0:
        return float("nan")
    rank = max(1, math.ceil(total * p / 100.0))
    seen = 0
    for upper, c in hist:
        seen += c
        if seen >= rank:
            return upper
    return hist[-1][0]


def save_dist(name, label, hist, **extra):
    """Writes one lateness distribution for bench/plot.py: DATA/NAME.json."""
    path = os.path.join(data_dir(), name + ".json")
    with open(path, "w") as f:
        json.dump(dict(extra, label=label, hist=hist), f)
    return path


def fmt_late(ms):
    if ms != ms:  # nan
        return "-"
    return "%.0f ms" % ms if ms >= 10 else "%.1f ms" % ms


def ratio(a, b):
    """a / b as 'N.Nx' (how many times b is better than a, for lateness and misses)."""
    if b is None or a is None or a != a or b != b:
        return "-"
    if b <= 0:
        return "inf" if a > 0 else "-"
    r = a / b
    return ("%.0fx" % r) if r >= 10 else ("%.1fx" % r)


# ---- one peer engine ---------------------------------------------------------------------

class Sampler:
    """Samples a process's RSS every 0.2 s in a thread; .max is the largest seen."""

    def __init__(self, pid):
        self.pid, self.max, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max = max(self.max, B.proc_rss_bytes(self.pid))
            except OSError:
                return
            self._stop.wait(0.2)

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.max


def run_engine(engine, mode, n, seconds=60):
    """Runs bench/peers/engine.cjs; returns its results plus cpu_pct (over the measured
    window), cpu_s, rss (largest seen) and schedule_s."""
    nm = node_modules()
    proc = subprocess.Popen(["node", "--max-old-space-size=16384", ENGINE,
                             engine, mode, str(n), str(seconds), nm],
                            stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        sampler = Sampler(proc.pid)
        start = ready["start_ms"] / 1000.0
        # CPU over the window: from the first instant (a burst: 1 s before it) to its end.
        sleep_until(start - (1.0 if mode == "burst" else 0.0))
        cpu0, w0 = B.proc_cpu_seconds(proc.pid), time.time()
        if mode == "steady":
            sleep_until(ready["end_ms"] / 1000.0)
            cpu1, w1 = B.proc_cpu_seconds(proc.pid), time.time()
            res = json.loads(proc.stdout.readline())
        else:
            res = json.loads(proc.stdout.readline())  # once every task ran, or after 59 s
            cpu1, w1 = B.proc_cpu_seconds(proc.pid), time.time()
        res["rss"] = sampler.stop()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    res.update(schedule_s=ready["schedule_s"], cpu_s=cpu1 - cpu0, cpu_pct=100.0 * (cpu1 - cpu0) / (w1 - w0),
               start=start, end=ready["end_ms"] / 1000.0, version=peer_version(engine))
    res["missed"] = res["expected"] - res["ran"]
    return res


# ---- CPU of a PostgreSQL cluster ---------------------------------------------------------

def _stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def cluster_cpu_seconds(postmaster):
    """CPU seconds of a PostgreSQL cluster so far: the postmaster, its live processes, and the
    ones that exited (reaped into the postmaster's cutime/cstime), so that short-lived
    backends (pg_cron connects once per run) count too."""
    f = _stat(postmaster)
    total = sum(int(x) for x in f[11:15])
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            s = _stat(int(name))
        except OSError:
            continue
        if int(s[1]) == postmaster:
            total += int(s[11]) + int(s[12])
    return total / B.CLK_TCK


def postmaster_of(r):
    """The postmaster's pid, from a backend of rig `r`'s connection."""
    return int(_stat(r.sql_value("SELECT pg_backend_pid()"))[1])
