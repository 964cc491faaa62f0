"""Shared pieces of the bench/ scripts: a schema with N regions, tickd replicas, and
figures read from job_run, /metrics and /proc. Built on the test rig (tickd_rig in
tests/lib): bench/run puts tests/lib and bench/ on PYTHONPATH."""

import datetime
import os
import statistics
import subprocess
import sys
import time

from tickd_rig.util import wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")


def apt_install(package):
    """Installs a Debian package (refreshing the package lists only if the first try fails)."""
    print("installing %s ..." % package, file=sys.stderr, flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(install, env=env, check=True, stdout=subprocess.DEVNULL)


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def insert_regions(r, n, cron, prefix="b", tick_sql=None):
    """N regions in one statement (generate_series), all with the same expression."""
    r.sql("INSERT INTO region_index (code, cron_schedule, tick_sql) "
          "SELECT %s || g, %s, %s FROM generate_series(1, %s) g", (prefix, cron, tick_sql, n))


def start_tickd(r, name, n, wait=True, **env):
    """A tickd replica as every benchmark runs it: CONCURRENCY max(n, 1000), DB_POOL_SIZE 8,
    warnings only, no periodic full reconcile; `env` adds or overrides. Waits until its n
    regions are scheduled unless `wait` is false."""
    settings = dict(CONCURRENCY=max(n, 1000), DB_POOL_SIZE=8, LOG_LEVEL="warn", REGION_REFRESH_INTERVAL_MS=3600000)
    settings.update(env)
    t = r.start_tickd(name=name, **settings)
    if wait:
        wait_scheduled(t, n)
    return t


def start_replicas(r, count, n, name="r", **env):
    """`count` replicas as start_tickd starts them, named NAME1..NAMEcount (their replica ids:
    the rig's schema, a dash and that name), all started before any is waited for; returns
    once each has its n regions scheduled."""
    procs = [start_tickd(r, "%s%d" % (name, i + 1), n, wait=False, **env) for i in range(count)]
    for t in procs:
        wait_scheduled(t, n)
    return procs


def wait_scheduled(t, n, timeout=120):
    wait_for(lambda: (t.metric("tickd_schedules") or 0) >= n, timeout,
             "tickd_schedules to reach %d" % n, interval=0.2)


def histogram_quantile(samples, name, q):
    """Quantile estimate from a Prometheus histogram's buckets (linear within a bucket)."""
    buckets = []
    for (metric, labels), value in samples.items():
        if metric == name + "_bucket":
            le = dict(labels)["le"]
            buckets.append((float("inf") if le == "+Inf" else float(le), value))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return buckets[-1][0]


def fmt_ms(seconds):
    if seconds is None:  # a percentile of nothing
        return "-"
    return "%.1f ms" % (seconds * 1000.0)


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(row[i])) for row in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |"
    out = [line, "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
    return "\n".join(out)


def median(values):
    return statistics.median(values) if values else float("nan")


def next_minute_boundary(min_lead=8.0):
    """The next wall-clock minute at least `min_lead` seconds away (Unix seconds)."""
    now = time.time()
    t = (int(now) // 60 + 1) * 60
    if t - now < min_lead:
        t += 60
    return t


def utc(ts):
    """Unix seconds as an aware UTC datetime."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
