#!/usr/bin/env python3
"""A million regions on one replica (issue 17, item 4): with N regions in region_index, one
tickd's time from process start to /readyz 200 and to every region scheduled
(`tickd_schedules` = N), its RSS (VmRSS and the peak, VmHWM), hot apply latency (an UPDATE's
commit until /status shows the new expression and its next instant; p50/p95 over 30; and
until tickd logged it applied, without the /status request's own cost), the
cost of the /metrics and /status?code= requests at that size, and a full reconcile when
nothing changed: its duration and how many regions it re-armed (must be none).

The regions: a mix of yearly expressions `M H D MON *` (minute, hour, day 1-28 and month
from the region id) in four zones. Every region is armed (so the timeline holds N entries at
many distinct instants, and each expression is parsed on its own, as in real data), but the
months of this run and the next are left out, so nothing fires while it is measured.

usage: bench/million.py TICKD [N ...]       (default 1,000,000)
       [--refresh-ms MS]                    (REGION_REFRESH_INTERVAL_MS of the second replica)"""

import argparse
import datetime
import os
import re
import sys
import time

import benchlib as B
from tickd_rig import rig
from tickd_rig.util import metric, percentile, wait_for

SAMPLES = 30
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]


def quiet_months():
    """Months in which no instant can fall during this run: all but this one and the next."""
    this = datetime.datetime.now(datetime.timezone.utc).month
    return [m for m in range(1, 13) if m not in (this, this % 12 + 1)]


def insert_mix(r, n):
    months = quiet_months()
    # Without the notify and audit triggers: no tickd listens yet, and a million audit rows
    # would take minutes to write and measure nothing of tickd.
    r.sql("ALTER TABLE region_index DISABLE TRIGGER USER")
    r.sql("INSERT INTO region_index (code, cron_schedule, timezone) "
          "SELECT 'm' || g, (g %% 60) || ' ' || (g / 60 %% 24) || ' ' || (1 + g / 1440 %% 28) || ' ' "
          "       || (%s::int[])[1 + g %% cardinality(%s::int[])] || ' *', "
          "       (%s::text[])[1 + g %% cardinality(%s::text[])] "
          "FROM generate_series(1, %s) g", (months, months, ZONES, ZONES, n))
    r.sql("ALTER TABLE region_index ENABLE TRIGGER USER")
    # A table as it is after autovacuum, so the first read does not also set hint bits.
    r.sql("VACUUM ANALYZE region_index")


def proc_memory(pid):
    """(VmRSS, VmHWM) in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) * 1024
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def timed_get(t, path, times=5):
    """The median seconds of `times` GETs of `path`."""
    spent = []
    for _ in range(times):
        t0 = time.monotonic()
        status = t.get(path, timeout=60)[0]
        spent.append(time.monotonic() - t0)
        if status != 200:
            raise AssertionError("GET %s: %s" % (path, status))
    return B.median(spent)


def start_and_wait(r, name, n, **env):
    """Starts a replica; (it, seconds to /readyz 200, seconds to tickd_schedules = n)."""
    t0 = time.monotonic()
    t = r.start_tickd(name=name, wait_ready=False, CONCURRENCY=1000, **env)
    def ready():
        if not t.alive():
            raise AssertionError("tickd %s exited with %s" % (name, t.proc.returncode))
        return t.ready()
    wait_for(ready, 300, "tickd %s: /readyz 200" % name, interval=0.02)
    ready_s = time.monotonic() - t0
    B.wait_scheduled(t, n, timeout=300)
    return t, ready_s, time.monotonic() - t0


APPLIED_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z info  reconciled \(changes\)", re.M)


def applied_after(log, commits):
    """For each commit (Unix seconds), the seconds until the first `reconciled (changes)` log
    line at or after it: when tickd had applied it, without the time /status takes to show it
    (the log's clock is this machine's, to the millisecond)."""
    stamps = sorted(datetime.datetime.fromisoformat(m).replace(tzinfo=datetime.timezone.utc).timestamp()
                    for m in APPLIED_LINE.findall(log))
    out = []
    for c in commits:
        later = [x for x in stamps if x >= c - 0.001]
        if later:
            out.append(max(later[0] - c, 0.0))
    return out


def hot_apply(r, t, n):
    """Seconds from each UPDATE's commit until /status?code= shows it, SAMPLES times, and the
    commits' wall-clock times."""
    code = "m%d" % (n // 2)
    month = quiet_months()[0]
    latencies, commits = [], []
    for i in range(SAMPLES):
        minute = 2 + i % 50
        cron = "%d 3 1 %d *" % (minute, month)
        r.sql("UPDATE region_index SET cron_schedule = %s WHERE code = %s", (cron, code))
        t0 = time.monotonic()  # autocommit: the UPDATE has committed
        commits.append(time.time())
        while True:
            regions = t.get("/status?code=" + code, timeout=60)[1]
            if re.search(r'"cron_schedule": ?"%s"' % re.escape(cron), regions) and (":%02d:00Z" % minute) in regions:
                break
            if time.monotonic() - t0 > 10:
                raise AssertionError("update %d not applied within 10 s: %s" % (i, regions))
            time.sleep(0.001)
        latencies.append(time.monotonic() - t0)
    return latencies, commits


PASS_LINE = re.compile(r"reconcile \(full\): (?:\d+ versions, )?(\d+) rows read in ([\d.]+) ms, diffed and applied in ([\d.]+) ms; "
                       r"(\d+) re-armed")


def full_passes(r, n, refresh_ms, passes=3):
    """A replica that does a full pass every `refresh_ms`: the passes after its first (nothing
    changed in between) as [(read s, diff+apply s)] from its debug log (empty for a build
    without that line), their mean from tickd_reconcile_duration_seconds, the regions they
    re-armed (tickd_reconcile_rearmed_total, or None for a build without it), CPU per pass,
    and memory after them."""
    t, _, _ = start_and_wait(r, "full", n, LOG_LEVEL="debug", REGION_REFRESH_INTERVAL_MS=refresh_ms)
    s = t.metrics()
    count0 = metric(s, "tickd_reconcile_total", result="ok") or 0
    sum0 = metric(s, "tickd_reconcile_duration_seconds_sum") or 0
    armed0 = metric(s, "tickd_reconcile_rearmed_total")
    cpu0 = B.proc_cpu_seconds(t.proc.pid)
    lines0 = len(PASS_LINE.findall(t.log()))
    def counts():
        return metric(t.metrics(), "tickd_reconcile_total", result="ok") or 0
    # Scraped rarely: each /metrics request costs the loop a scan of every region.
    wait_for(lambda: counts() >= count0 + passes, 120 + passes * refresh_ms / 1000.0,
             "%d more full reconciles" % passes, interval=1.0)
    cpu1 = B.proc_cpu_seconds(t.proc.pid)
    s = t.metrics()
    count1 = metric(s, "tickd_reconcile_total", result="ok")
    sum1 = metric(s, "tickd_reconcile_duration_seconds_sum")
    armed1 = metric(s, "tickd_reconcile_rearmed_total")
    timings = [(float(read) / 1000, float(apply) / 1000)
               for rows, read, apply, armed in PASS_LINE.findall(t.log())[lines0:]]
    if armed0 is not None:
        rearmed = "%d" % (armed1 - armed0)
    else:
        # A build without the counter: a pass whose plan is not empty logs this line; the
        # first pass (every region added) is one of them.
        rearmed = "no counter; %d pass(es) with changes" % (t.log().count("reconciled (full)") - 1)
    memory = proc_memory(t.proc.pid)
    t.close()
    return {
        "timings": timings, "mean": (sum1 - sum0) / (count1 - count0), "rearmed": rearmed,
        "cpu": (cpu1 - cpu0) / (count1 - count0), "memory": memory, "passes": count1 - count0,
    }


def one(tickd, n, refresh_ms):
    r = rig.Rig(tickd)
    try:
        r.migrate()
        t0 = time.monotonic()
        insert_mix(r, n)
        inserted = time.monotonic() - t0
        print("  %d regions inserted in %.1f s" % (n, inserted), file=sys.stderr, flush=True)
        t, ready_s, loaded_s = start_and_wait(r, "a", n, LOG_LEVEL="info", REGION_REFRESH_INTERVAL_MS=3600000)
        rss, hwm = proc_memory(t.proc.pid)
        first_read = t.metric("tickd_reconcile_duration_seconds_sum")
        print("  ready in %.1f s, RSS %.0f MB (peak %.0f MB)" % (ready_s, rss / 1e6, hwm / 1e6), file=sys.stderr,
              flush=True)
        latencies, commits = hot_apply(r, t, n)
        applied = applied_after(t.log(), commits)
        get_status = timed_get(t, "/status?code=m%d" % (n // 3))
        get_metrics = timed_get(t, "/metrics")
        t.close()
        print("  hot apply p95 %s; full passes ..." % B.fmt_ms(percentile(latencies, 95)), file=sys.stderr,
              flush=True)
        full = full_passes(r, n, refresh_ms)
        worst = max((a + b for a, b in full["timings"]), default=None)
        return {
            "N": "{:,}".format(n),
            "to /readyz 200": "%.1f s" % ready_s,
            "to all scheduled": "%.1f s" % loaded_s,
            "first read": "%.1f s" % first_read,
            "RSS": "%.0f MB" % (rss / 1e6),
            "peak RSS (VmHWM)": "%.0f MB" % (hwm / 1e6),
            "hot apply p50": B.fmt_ms(percentile(latencies, 50)),
            "hot apply p95": B.fmt_ms(percentile(latencies, 95)),
            "hot apply max": B.fmt_ms(max(latencies)),
            "applied (log), p50 / p95": "%s / %s (%d of %d)" % (
                B.fmt_ms(percentile(applied, 50)), B.fmt_ms(percentile(applied, 95)), len(applied), SAMPLES),
            "GET /status?code=": B.fmt_ms(get_status),
            "GET /metrics": B.fmt_ms(get_metrics),
            "full pass, no change (metric mean)": B.fmt_ms(full["mean"]),
            "its read + diff/apply (worst)": (B.fmt_ms(worst) + " (%s + %s)" % tuple(
                B.fmt_ms(x) for x in max(full["timings"], key=sum))) if worst is not None else "-",
            "CPU per pass": "%.2f s" % full["cpu"],
            "regions re-armed by %d passes" % full["passes"]: full["rearmed"],
            "RSS, peak after them": "%.0f MB, %.0f MB" % tuple(x / 1e6 for x in full["memory"]),
            "load avg": "%.1f" % os.getloadavg()[0],
        }
    except BaseException:
        r.print_logs()
        raise
    finally:
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("n", nargs="*", type=int, default=[1000000])
    ap.add_argument("--refresh-ms", type=int, default=3000)
    args = ap.parse_args()
    results = []
    for n in args.n:
        print("million: N=%d (load average %.1f) ..." % (n, os.getloadavg()[0]), file=sys.stderr, flush=True)
        results.append(one(args.tickd, n, args.refresh_ms))
    # One row per figure, one column per N: the figures are many, the sizes few.
    headers = ["figure"] + [res["N"] for res in results]
    rows = [[k] + [res[k] for res in results] for k in results[0] if k != "N"]
    print(B.table(headers, rows))


if __name__ == "__main__":
    main()
