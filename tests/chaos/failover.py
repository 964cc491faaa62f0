#!/usr/bin/env python3
"""A real PostgreSQL primary failover under three tickd replicas (issue 11, item 6).

A pg_auto_failover formation (autofailover.py: a monitor, a primary and a synchronous secondary
on loopback) serves the database; tickd is given only the multi-host URL

    postgresql://postgres@127.0.0.1:P1,127.0.0.1:P2/tickd?target_session_attrs=read-write

as both DATABASE_URL and DATABASE_LISTEN_URL: libpq tries both hosts and keeps the one that
accepts writes, so tickd follows the primary by reconnecting. `tickd migrate` runs through the
same URL. Three replicas run 120 regions every second (TICK_LEASE_MS=2000); each tick's
tick_sql appends (region, instant, application_name, clock_timestamp()) to failover_exec, a
table without constraints, so a second execution of a tick would show.

Phases: steady (~10 s); a planned switchover (`pg_autoctl perform failover`, run aside: it
returns only when the old primary is secondary again) until ~10 s after the new primary; a
crash of the primary at 0.75 s past a second (kill -9 of its keeper, the keeper's children and
its postmaster; the next instant's ticks are then claimed, CLAIM_AHEAD_MS, but not started: the
hard case, every time) until ~15 s after the monitor promotes the secondary (~7-12 s); then the
killed node runs again and rejoins as secondary (pg_rewind; measured, no failover).

Measured per phase:
- write unavailability: a probe inserts a row every 50 ms through the multi-host URL (its own
  connection, reconnecting after an error); from the start of the first failed (or > 0.5 s)
  attempt to the end of the first successful one after the last failure. A failed attempt whose
  row is in the table afterwards is an "unknown outcome" commit (synchronous replication: the
  commit reached the standby, the client saw the connection die);
- ticks missing: (region, second) of the phase without a job_run row. Allowed for instants
  whose claim-to-deadline interval [s - CLAIM_AHEAD, s + 1) overlaps the measured unavailability
  window widened by SLACK_BEFORE / SLACK_AFTER (see below); outside it only where the contract
  excuses them ("excused": another tick of the region running, a replica at its CONCURRENCY cap,
  a claim after the start deadline: chaos.py's rules); anything else is "unexplained" and fails.
  The counts are reported, not predicted;
- lost acknowledged commits: every probe write the database acknowledged must be in the table
  afterwards (synchronous replication); a lost one means the formation was not synchronous
  then, and the phase fails saying so (the missing ticks are then the database's, not tickd's);
- duplicates: two executions of one (region, second) in failover_exec (must be 0, whole run),
  executions by a replica that does not hold the tick's job_run row ("foreign", must be 0), and
  'ok' rows without their tick_sql's row (a commit lost in the failover, must be 0);
- stuck: rows still `running` TICK_LEASE_MS after things settle (must be 0; per phase, as seen
  at its end);
- readiness: every replica's /readyz is 200 again within READY_LIMIT of the new primary;
- hot apply: as soon as every replica is ready again, an UPDATE of a region's cron_schedule and
  an INSERT of a new region; every replica's /status must show both within HOT_APPLY_LIMIT;
- from the tickd logs: database and listener (LISTEN connection) outages, ends given up,
  takeovers ("marked abandoned") and fenced writes.

Usage: failover.py PATH_TO_TICKD   (exit 77 when pg_autoctl is not installed). About 2 minutes.
The tickd logs and a dump of job_run stay in the rig's temp dir (printed).
"""
import calendar
import math
import os
import re
import signal
import sys
import threading
import time

import psycopg2

from tickd_rig import autofailover as af, chaos as cl, rig
from tickd_rig.util import run_main, wait_for

LEASE_MS = 2000
CLAIM_AHEAD_MS = 500
N_REGIONS = 120
REPLICAS = ("a", "b", "c")
BASE_ENV = dict(TICK_LEASE_MS=LEASE_MS, CLAIM_AHEAD_MS=CLAIM_AHEAD_MS, CONCURRENCY=32, DB_POOL_SIZE=8,
                LOG_LEVEL="info", TICK_SQL_TIMEOUT_MS=10000, SHUTDOWN_GRACE_MS=2000)
STEADY_S, AFTER_SWITCHOVER_S, AFTER_CRASH_S, AFTER_REJOIN_S = 10, 10, 15, 5
PROBE_EVERY = 0.05
PROBE_SLOW = 0.5       # a probe write slower than this counts as unavailable
# Missing ticks are allowed for instants s whose [s - CLAIM_AHEAD, s + 1) overlaps
# [unavailable from - SLACK_BEFORE, unavailable until + SLACK_AFTER]:
# - SLACK_BEFORE: a claim sent just before the probe's first failure may still fail with it
#   (the probe writes every 50 ms, so it notices up to 50 ms late) -> 0.1 s;
# - SLACK_AFTER: after the probe's first success tickd needs one more claim round: its pooled
#   connections to the old primary fail once each before it reconnects (a claim attempt per
#   instant, each instant's claim made CLAIM_AHEAD before it) -> 1.0 s.
SLACK_BEFORE = 0.1
SLACK_AFTER = 1.0
HOT_APPLY_LIMIT = 2.0  # seconds from commit to every replica's /status (the spec: 1 s)
READY_LIMIT = 15.0     # seconds from the new primary to every replica's /readyz 200

EXEC_SQL = ("INSERT INTO failover_exec (region_id, scheduled_for, app, at) "
            "VALUES ($1, $2, current_setting('application_name'), clock_timestamp())")
RE_FULL = re.compile(r"^(\S+?)Z warning \d+ tick\(s\) skipped: no free slot", re.M)
RE_LATE = re.compile(r"region (\S+): tick (\S+) skipped: its claim reached the database after the start deadline")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z (\w+) (.*)$")


def log(msg):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S", time.gmtime()) + ("%.3f" % (time.time() % 1))[1:], msg))
    sys.stdout.flush()


def parse_log_time(stamp):
    whole, _, frac = stamp.partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)


# ---- the write probe ----------------------------------------------------------------------------

class WriteProbe:
    """Inserts one row every 50 ms through `url` (the multi-host URL) on its own connection,
    reconnecting after any error; keeps (seq, start, end, ok, error) of every attempt."""

    def __init__(self, url):
        self.url = url + "&application_name=failover-probe&connect_timeout=2"
        self.attempts = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        conn = None
        seq = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            seq += 1
            start = time.time()
            ok, err = True, None
            try:
                if conn is None or conn.closed:
                    conn = psycopg2.connect(self.url)
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO failover_probe (seq, sent_at) VALUES (%s, to_timestamp(%s))", [seq, start])
            except Exception as e:  # noqa: BLE001 -- recorded
                ok, err = False, "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
                try:
                    if conn is not None:
                        conn.close()
                except Exception:  # noqa: BLE001
                    pass
                conn = None
            with self.lock:
                self.attempts.append((seq, start, time.time(), ok, err))
            next_at = max(next_at + PROBE_EVERY, time.monotonic())
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        if conn is not None:
            conn.close()

    def acknowledged(self, a, b):
        """The seq of every attempt started in [a, b) whose commit was acknowledged."""
        with self.lock:
            return [x[0] for x in self.attempts if a <= x[1] < b and x[3]]

    def window(self, a, b):
        """The attempts started in [a, b): (unavailable from, until, failed attempts, errors seen)
        or None when every attempt there succeeded quickly."""
        with self.lock:
            att = [x for x in self.attempts if a <= x[1] < b]
        bad = [i for i, x in enumerate(att) if not x[3] or x[2] - x[1] > PROBE_SLOW]
        if not bad:
            return None
        u0 = att[bad[0]][1]
        last = bad[-1]
        u1 = None
        if att[last][3]:
            u1 = att[last][2]  # a slow success: available again when it returned
        else:
            for x in att[last + 1:]:
                if x[3]:
                    u1 = x[2]
                    break
        errors = {}
        for i in bad:
            e = att[i][4] or "slow (%.2f s)" % (att[i][2] - att[i][1])
            key = re.sub(r"\d+", "N", e)[:120]
            errors[key] = errors.get(key, 0) + 1
        failed = [att[i][0] for i in bad if not att[i][3]]
        return {"from": u0, "until": u1, "failed": len(failed), "failed_seqs": failed, "errors": errors}

    def close(self):
        self.stop.set()
        self.thread.join(15)


# ---- readiness ------------------------------------------------------------------------------------

class ReadyWatch:
    """Polls every replica's /readyz every 100 ms; keeps each replica's transitions."""

    def __init__(self, replicas):
        self.replicas = replicas  # name -> rig.Tickd (read live: a restarted replica is followed)
        self.changes = {}         # name -> [(time, ready)]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.wait(0.1):
            for name, t in list(self.replicas.items()):
                ready = t.ready()
                with self.lock:
                    ch = self.changes.setdefault(name, [])
                    if not ch or ch[-1][1] != ready:
                        ch.append((time.time(), ready))

    def not_ready_spans(self, a, b):
        """{name: [(from, until or None)]} of the spans in [a, b) when a replica was not ready."""
        out = {}
        with self.lock:
            for name, ch in self.changes.items():
                spans, since = [], None
                for when, ready in ch:
                    if not ready and since is None:
                        since = when
                    elif ready and since is not None:
                        if when >= a and since < b:
                            spans.append((since, when))
                        since = None
                if since is not None and since < b:
                    spans.append((since, None))
                out[name] = spans
        return out

    def close(self):
        self.stop.set()
        self.thread.join(5)


class Background(threading.Thread):
    """fn() in a thread; `error` is what it raised, `note` what it adds to the description."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.error = None
        self.note = ""
        self.start()

    def run(self):
        try:
            old, new, took = self.fn()
            self.note = " to %s (the command took %.1f s: it waits for %s to be secondary again)" % (new, took, old)
        except BaseException as e:  # noqa: BLE001 -- re-raised by the caller
            self.error = e


class PrimaryWatch:
    """Polls the monitor every 100 ms; keeps (time, primary node or None) at each change."""

    def __init__(self, f):
        self.f = f
        self.changes = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.wait(0.1):
            try:
                p = self.f.primary()
            except Exception:  # noqa: BLE001 -- the monitor is busy; try again
                continue
            with self.lock:
                if not self.changes or self.changes[-1][1] != p:
                    self.changes.append((time.time(), p))

    def promoted(self, old, since, timeout=60):
        """When (wall time) a node other than `old` became primary after `since`."""
        def seen():
            with self.lock:
                for when, p in self.changes:
                    if when >= since and p is not None and p != old:
                        return when
            return None
        return wait_for(seen, timeout, "a new primary other than %s" % old, interval=0.05)

    def close(self):
        self.stop.set()
        self.thread.join(5)


# ---- the test ---------------------------------------------------------------------------------------

class Run:
    def __init__(self, r, f):
        self.r = r
        self.f = f
        self.rep = {}
        self.results = []
        self.failures = []
        self.notes = []
        self.hot_n = 0
        self.probe = self.ready = self.primaries = None

    def sql(self, q, p=None):
        """One statement through the multi-host URL, retried across a failover."""
        last = None
        for _ in range(100):
            try:
                return self.r.sql(q, p)
            except psycopg2.Error as e:
                last = e
                try:
                    self.r._conn.close()
                except Exception:  # noqa: BLE001
                    pass
                self.r._conn = None
                time.sleep(0.2)
        raise AssertionError("SQL failed for 20 s: %s: %s" % (q, last))

    def sql_value(self, q, p=None):
        rows = self.sql(q, p)
        return rows[0][0] if rows else None

    def start_replicas(self):
        for name in REPLICAS:
            # The rig's URL: the formation's multi-host URL with this test's search_path (the
            # listener's session also records the replica's liveness lock in tickd_replica).
            listen = self.r.url + "&application_name=%s-%s-listen" % (self.r.schema, name)
            self.rep[name] = self.r.start_tickd(name, DATABASE_LISTEN_URL=listen, **BASE_ENV)

    def hot_apply(self, kind):
        """UPDATE the 'hot' region's cron_schedule and INSERT a new region; returns the seconds
        from the commit until every replica's /status shows both, and each replica's."""
        self.hot_n += 1
        cron = "%d 0 0 1 1 *" % self.hot_n
        code = "hot-%s" % kind
        self.sql("UPDATE region_index SET cron_schedule = %s WHERE code = 'hot'", [cron])
        # ON CONFLICT: sql() retries, and a commit may succeed while the client sees an error.
        self.sql("INSERT INTO region_index (code, cron_schedule) VALUES (%s, '0 0 0 1 1 *') "
                 "ON CONFLICT (code) DO NOTHING", [code])
        committed = time.time()
        seen = {}
        deadline = committed + 15
        while len(seen) < len(self.rep) and time.time() < deadline:
            for name, t in self.rep.items():
                if name in seen:
                    continue
                try:
                    regions = t.status_regions()
                except Exception:  # noqa: BLE001
                    continue
                if regions.get("hot", {}).get("cron_schedule") == cron and code in regions:
                    seen[name] = time.time() - committed
            time.sleep(0.02)
        worst = max(seen.values()) if len(seen) == len(self.rep) else None
        if worst is None or worst > HOT_APPLY_LIMIT:
            self.failures.append("%s: hot apply: every replica's /status within %.1f s of the commit; seen %s "
                                 "(not within 15 s: %s)" % (kind, HOT_APPLY_LIMIT,
                                                            {k: round(v, 2) for k, v in sorted(seen.items())},
                                                            sorted(set(self.rep) - set(seen))))
        return worst, seen

    # -- one failover --
    def failover(self, kind, fault, after_s):
        """Starts `fault()` (returns (description, old primary, a thread still finishing it or
        None)), waits for the new primary and every replica's readiness, checks hot apply at
        once, runs on until `after_s` seconds after the new primary, then analyses the phase."""
        a = time.time()
        desc, old, pending = fault()
        promoted = self.primaries.promoted(old, a)
        log("%s: %s; %s primary %.1f s after the fault began" % (kind, desc, self.f.primary(), promoted - a))
        for name, t in self.rep.items():
            try:
                t.wait_ready(max(0.1, promoted + READY_LIMIT - time.time()))
            except AssertionError as e:
                self.failures.append("%s: replica %s not ready within %.0f s of the new primary: %s"
                                     % (kind, name, READY_LIMIT, e))
        ready_at = time.time()
        hot_s, hot_each = self.hot_apply(kind)
        if pending is not None:
            pending.join(120)
            if pending.error:
                raise pending.error
            desc += pending.note
        time.sleep(max(0.0, promoted + after_s - time.time()))
        b = time.time()
        spans = self.ready.not_ready_spans(a, b)
        last_ready = max([y for sp in spans.values() for x, y in sp if y] + [a])
        extra = {"primary_after_s": promoted - a, "ready_after_s": last_ready - a, "hot_apply_s": hot_s}
        res = self.analyse(kind, desc, a, b, extra)
        res["notes"].append("hot apply (commit -> /status) per replica: %s s, checked %.1f s after the fault began"
                            % ({k: round(v, 2) for k, v in sorted(hot_each.items())}, ready_at - a))
        res["notes"] += self.log_events(a, b)
        return res

    # -- analysis --
    def analyse(self, phase, fault, a, b, extra):
        """Instants [ceil(a), floor(b) - 1] of the phase."""
        t0, t1 = math.ceil(a), math.floor(b) - 1
        regions = [x[0] for x in self.sql("SELECT id FROM region_index WHERE code LIKE 'r%%' ORDER BY id")]
        rows = self.sql("SELECT region_id, extract(epoch FROM scheduled_for)::bigint, replica_id, status, "
                        "extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8 "
                        "FROM job_run WHERE scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s) "
                        "AND region_id = ANY(%s)", [t0 - 2, t1 + 2, regions])
        have = {(rid, s): (rep, st) for rid, s, rep, st, _, _ in rows if t0 <= s <= t1}
        # When each region had a tick running. A row still running longer than the lease is
        # stuck (counted below), not a tick in progress: it excuses nothing.
        now = self.sql_value("SELECT extract(epoch FROM clock_timestamp())::float8")
        busy = {}
        for rid, s, rep, st, started, finished in rows:
            if finished is None and started < now - LEASE_MS / 1000.0:
                continue
            busy.setdefault(rid, []).append((s, started, finished if finished is not None else now))
        statuses = {}
        for rep, st in have.values():
            statuses[st] = statuses.get(st, 0) + 1
        full_at, late = self.overload_from_logs()
        un = self.probe.window(a, b)
        lo = hi = None
        if un is not None:
            until = un["until"] if un["until"] is not None else b
            lo, hi = un["from"] - SLACK_BEFORE, until + SLACK_AFTER
        missing, outside, excused = [], [], 0
        for rid in regions:
            for s in range(t0, t1 + 1):
                if (rid, s) in have:
                    continue
                missing.append((rid, s))
                if lo is not None and s - CLAIM_AHEAD_MS / 1000.0 < hi and s + 1 > lo:
                    continue
                # Outside the window, the contract still excuses (as chaos.py does): the region
                # had another tick running meanwhile (no overlap), or a replica was at its
                # CONCURRENCY cap or its claim came after the start deadline (overload: seen
                # when the 2 cores are shared with a build or another test).
                occupied = any(other != s and started < s + 1 and finished > s
                               for other, started, finished in busy.get(rid, []))
                if occupied or s in full_at or (rid, s) in late:
                    excused += 1
                else:
                    outside.append((rid, s))
        # Running rows older than the lease now (the phase has run on for seconds since).
        stuck = self.sql("SELECT j.replica_id, count(*), min(g.code), min(j.scheduled_for) FROM job_run j "
                         "JOIN region_index g ON g.id = j.region_id WHERE j.status = 'running' "
                         "AND j.started_at < clock_timestamp() - make_interval(secs => %s) GROUP BY 1 ORDER BY 1",
                         [LEASE_MS / 1000.0])
        res = {
            "phase": phase, "fault": fault, "window_s": t1 - t0 + 1, "expected": len(regions) * (t1 - t0 + 1),
            "rows": len(have), "failed": statuses.get("failed", 0), "abandoned": statuses.get("abandoned", 0),
            "missing": len(missing), "excused": excused, "outside": len(outside),
            "stuck_now": sum(x[1] for x in stuck),
            "unavail_s": ((un["until"] - un["from"]) if un["until"] else float("inf")) if un else None,
            "probe_failed": un["failed"] if un else 0,
        }
        res.update(extra)
        note = []
        if un:
            note.append("writes unavailable %s .. %s (%d failed probe writes: %s)" % (
                fmt_t(un["from"]), fmt_t(un["until"]) if un["until"] else "never", un["failed"],
                "; ".join("%dx %s" % (n, e) for e, n in sorted(un["errors"].items(), key=lambda x: -x[1]))))
            res["unknown_commits"] = self.sql_value("SELECT count(*) FROM failover_probe WHERE seq = ANY(%s)",
                                                    [un["failed_seqs"]])
            if un["until"] is None:
                self.failures.append("%s: the probe's writes never succeeded again" % phase)
        # Every commit the database acknowledged must survive it (synchronous replication). A
        # lost one means the standby was not synchronous then (the formation went wait_primary
        # under load): tickd cannot be judged on that phase, and the failure says so.
        acked = self.probe.acknowledged(a, b)
        kept = self.sql_value("SELECT count(*) FROM failover_probe WHERE seq = ANY(%s)", [acked]) if acked else 0
        res["lost_acks"] = len(acked) - kept
        if res["lost_acks"]:
            self.failures.append("%s: the database lost %d acknowledged probe commits (its standby was not "
                                 "synchronous then): the missing ticks below are the database's, not tickd's"
                                 % (phase, res["lost_acks"]))
        by_second = {}
        for _, s in missing:
            by_second[s] = by_second.get(s, 0) + 1
        if by_second:
            note.append("missing ticks per instant: %s" % ", ".join("%s %d" % (fmt_t(s)[:8], n)
                                                                     for s, n in sorted(by_second.items())))
        odd = self.sql("SELECT status, replica_id, left(regexp_replace(coalesce(error, ''), '[0-9]+', 'N', 'g'), 110), "
                       "count(*) FROM job_run WHERE scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s) "
                       "AND status <> 'ok' GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC", [t0, t1])
        for st, rep, err, n in odd:
            note.append("%d %s rows of %s: %s" % (n, st, rep.rsplit("-", 1)[-1], err or "-"))
        for rep, n, code, since in stuck:
            note.append("%d rows of %s still running %.0f s after the phase began (e.g. %s, instants from %s)"
                        % (n, rep.rsplit("-", 1)[-1], time.time() - a, code, since))
        spans = self.ready.not_ready_spans(a, b)
        nr = ["%s %s..%s" % (n, fmt_t(x), fmt_t(y) if y else "now") for n, sp in sorted(spans.items()) for x, y in sp]
        note.append("not ready: %s" % (", ".join(nr) if nr else "none"))
        res["notes"] = note
        if outside:
            self.failures.append("%s: %d missing ticks outside the write-unavailability window %s .. %s, not excused "
                                 "(widened by %.1f s before, %.1f s after), e.g. %s"
                                 % (phase, len(outside), fmt_t(lo) if lo else "-", fmt_t(hi) if hi else "-",
                                    SLACK_BEFORE, SLACK_AFTER,
                                    [(rid, fmt_t(s), self.explain(rid, s)) for rid, s in outside[:3]]))
        self.results.append(res)
        log("%s: %s" % (phase, {k: cl.fmt(v) for k, v in res.items() if k != "notes"}))
        return res

    def overload_from_logs(self):
        """From every tickd log: instants at which some replica skipped ticks for want of a free
        slot (logged at the start deadline, instant + 1 s for these regions), and (region id,
        instant) whose claim reached the database after the start deadline (as chaos.py)."""
        ids = {code: i for i, code in self.sql("SELECT id, code FROM region_index")}
        full_at, late = set(), set()
        for t in self.r.procs:
            text = t.log()
            for m in RE_FULL.finditer(text):
                # Logged at the deadline s + 1 of instant s, give or take a few ms (or later,
                # when the process was starved): s = round(at) - 1, or floor(at) - 1.
                at = parse_log_time(m.group(1))
                full_at.update((round(at) - 1, math.floor(at) - 1))
            for m in RE_LATE.finditer(text):
                if m.group(1) in ids:
                    late.add((ids[m.group(1)], calendar.timegm(time.strptime(m.group(2), "%Y-%m-%dT%H:%M:%SZ"))))
        return full_at, late

    def explain(self, rid, s):
        return self.sql("SELECT extract(epoch FROM scheduled_for)::bigint - %s, replica_id, status, "
                        "round(extract(epoch FROM started_at)::numeric - %s, 3) FROM job_run "
                        "WHERE region_id = %s AND scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s) "
                        "ORDER BY scheduled_for", [s, s, rid, s - 2, s + 2])

    def log_events(self, a, b):
        """Per replica, from its log in [a, b): database and listener outages, ends it gave up
        recording, takeovers and fenced writes."""
        out = []
        for name, t in sorted(self.rep.items()):
            ev = {"unreachable": None, "reachable": None, "listen_lost": None, "listening": None,
                  "gave_up": 0, "abandoned": [], "fenced": 0}
            for line in t.log().splitlines():
                m = LOG_LINE.match(line)
                if not m:
                    continue
                at = parse_log_time(m.group(1))
                if not a <= at < b:
                    continue
                msg = m.group(3).strip()
                if msg.startswith("database unreachable") and ev["unreachable"] is None:
                    ev["unreachable"] = at
                elif msg.startswith("database reachable"):
                    ev["reachable"] = at
                elif msg.startswith("change notifications unavailable"):
                    if ev["listen_lost"] is None:
                        ev["listen_lost"] = at
                    ev["listening"] = None
                elif msg.startswith("listening for region changes") and ev["listen_lost"] is not None:
                    ev["listening"] = ev["listening"] or at
                elif "could not record its end" in msg:
                    ev["gave_up"] += 1
                elif "dead replicas abandoned" in msg:
                    ev["abandoned"].append("%s at %s" % (msg.split()[1], fmt_t(at)))
                elif "lost its claim" in msg:
                    ev["fenced"] += 1
            out.append("%s: db down %s..%s, listener down %s..%s; gave up recording %d ends; marked abandoned: %s; "
                       "fenced: %d" % (name, fmt_t(ev["unreachable"]), fmt_t(ev["reachable"]),
                                       fmt_t(ev["listen_lost"]), fmt_t(ev["listening"]), ev["gave_up"],
                                       ", ".join(ev["abandoned"]) or "none", ev["fenced"]))
        return out


def fmt_t(t):
    if t is None:
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(t)) + ("%.2f" % (t % 1))[1:]


COLUMNS = [("phase", "phase"), ("window_s", "s"), ("expected", "ticks"), ("rows", "rows"),
           ("failed", "failed"), ("abandoned", "aband."), ("missing", "missing"),
           ("excused", "excused"), ("outside", "unexplained"), ("stuck_now", "stuck"), ("dup", "dup"),
           ("unavail_s", "writes unavail s"), ("probe_failed", "probe fails"), ("unknown_commits", "unknown commits"),
           ("lost_acks", "lost acks"),
           ("primary_after_s", "new primary s"), ("ready_after_s", "all ready s"), ("hot_apply_s", "hot apply s")]


def test(r, f):
    r.sql("CREATE TABLE failover_exec (region_id bigint, scheduled_for timestamptz, app text, at timestamptz)")
    r.sql("CREATE TABLE failover_probe (seq bigint, sent_at timestamptz, at timestamptz DEFAULT clock_timestamp())")
    r.sql("INSERT INTO region_index (code, cron_schedule, tick_sql) "
          "SELECT 'r' || g, '* * * * * *', %s FROM generate_series(1, %s) g", [EXEC_SQL, N_REGIONS])
    r.sql("INSERT INTO region_index (code, cron_schedule) VALUES ('hot', '0 0 0 1 1 *')")
    run = Run(r, f)
    run.probe = WriteProbe(r.url)
    run.primaries = PrimaryWatch(f)
    try:
        run.start_replicas()
        run.ready = ReadyWatch(run.rep)
        log("3 replicas ready; %d regions every second; TICK_LEASE_MS=%d; DATABASE_URL and DATABASE_LISTEN_URL %s"
            % (N_REGIONS, LEASE_MS, f.url()))
        time.sleep(2)

        a = time.time()
        time.sleep(STEADY_S)
        run.analyse("steady", "none, %d s" % STEADY_S, a, time.time(), {})

        def switchover():
            # pg_autoctl perform failover --wait returns only once the old primary is back as
            # secondary (~15-20 s): run it aside, so readiness and hot apply are checked as soon
            # as the new primary is up.
            old = f.primary()
            job = Background(f.switchover)
            return "pg_autoctl perform failover from %s" % old, old, job
        run.failover("switchover", switchover, AFTER_SWITCHOVER_S)

        def crash():
            # At 0.75 s past a second: the next instant's ticks are claimed (CLAIM_AHEAD_MS) but
            # not started, so the crash always catches claimed rows in flight (the hard case).
            now = time.time()
            time.sleep(math.floor(now) + (1.75 if now % 1 > 0.6 else 0.75) - now)
            victim, _ = f.crash_primary()
            return "kill -9 of the primary %s (keeper, its children, postmaster)" % victim, victim, None
        res = run.failover("crash", crash, AFTER_CRASH_S)

        # The killed node rejoins as secondary: not a failover (informational).
        victim = [n for n in ("node1", "node2") if n != f.primary()][0]
        a = time.time()
        try:
            took = f.restart_node(victim, timeout=60)
            time.sleep(AFTER_REJOIN_S)
            run.analyse("rejoin", "%s back as secondary in %.1f s" % (victim, took), a, time.time(), {})
        except AssertionError as e:
            run.notes.append("the killed node did not rejoin as secondary within 60 s: %s" % e)
        _ = res

        # Settle: every tick up to now is decided and a lease has passed.
        time.sleep(LEASE_MS / 1000.0 + 1.5)
        dups = run.sql("SELECT region_id, scheduled_for, array_agg(app) FROM failover_exec "
                       "GROUP BY 1, 2 HAVING count(*) > 1")
        foreign = run.sql("SELECT e.region_id, e.scheduled_for, e.app, j.replica_id, j.status FROM failover_exec e "
                          "LEFT JOIN job_run j USING (region_id, scheduled_for) "
                          "WHERE j.id IS NULL OR j.replica_id <> e.app")
        lost = run.sql("SELECT j.region_id, j.scheduled_for, j.replica_id FROM job_run j "
                       "JOIN region_index g ON g.id = j.region_id AND g.tick_sql IS NOT NULL "
                       "LEFT JOIN failover_exec e USING (region_id, scheduled_for) "
                       "WHERE j.status = 'ok' AND e.region_id IS NULL")
        stuck = run.sql("SELECT id, region_id, scheduled_for, replica_id, started_at FROM job_run "
                        "WHERE status = 'running' AND started_at < clock_timestamp() - make_interval(secs => %s)",
                        [LEASE_MS / 1000.0])
        for res in run.results:
            res["dup"] = None
        run.results[-1]["dup"] = len(dups)
        if dups:
            run.failures.append("%d (region, second) executed more than once, e.g. %s" % (len(dups), dups[:5]))
        if foreign:
            run.failures.append("%d executions by a replica without the tick's job_run row, e.g. %s"
                                % (len(foreign), foreign[:5]))
        if lost:
            run.failures.append("%d ticks 'ok' in job_run without their tick_sql's row (a lost commit), e.g. %s"
                                % (len(lost), lost[:5]))
        if stuck:
            run.failures.append("%d rows still 'running' after things settled: %s" % (len(stuck), stuck[:5]))
        for name, t in run.rep.items():
            if not t.alive():
                run.failures.append("replica %s exited (%s)" % (name, t.proc.returncode))
            elif not t.ready():
                run.failures.append("replica %s not ready at the end" % name)
        total_rows = run.sql_value("SELECT count(*) FROM job_run")
        per_replica = dict(run.sql("SELECT replica_id, count(*) FROM job_run GROUP BY 1 ORDER BY 1"))
        with open(os.path.join(r.tmp, "job_run.tsv"), "w") as out:
            for (row,) in run.sql("SELECT to_jsonb(j)::text FROM job_run j ORDER BY id"):
                out.write(row + "\n")

        print()
        cl.print_table(run.results, COLUMNS)
        print("\nnotes:")
        for res in run.results:
            print("  %s: %s" % (res["phase"], res["fault"]))
            for n in res["notes"]:
                print("    - %s" % n)
        print("  whole run: %d job_run rows (%s), %d duplicate executions, %d foreign executions, %d 'ok' rows "
              "without their tick_sql row, %d rows stuck running"
              % (total_rows, ", ".join("%s %d" % (k.rsplit("-", 1)[-1], v) for k, v in per_replica.items()),
                 len(dups), len(foreign), len(lost), len(stuck)))
        print("  missing ticks are allowed for instants s with [s - %.1f s, s + 1 s) overlapping the write-"
              "unavailability window widened by %.1f s before and %.1f s after; outside it, 'excused' are those the "
              "contract excuses (another tick of the region running, a replica at its CONCURRENCY cap or its claim "
              "after the start deadline, from the logs); 'unexplained' must be 0"
              % (CLAIM_AHEAD_MS / 1000.0, SLACK_BEFORE, SLACK_AFTER))
        print("  'stuck' per phase: rows running longer than TICK_LEASE_MS at the phase's end; logs and job_run.tsv "
              "in %s" % r.tmp)
        for n in run.notes:
            print("  %s" % n)
        sys.stdout.flush()
        if run.failures:
            raise AssertionError("failover checks failed:\n  " + "\n  ".join(run.failures))
    finally:
        for w in (run.ready, run.primaries, run.probe):
            if w is not None:
                w.close()


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH_TO_TICKD" % sys.argv[0])
    tickd = os.path.abspath(sys.argv[1])
    t_start = time.time()
    made = {}  # "f" (the formation), "r": what to report on and clean up

    # meson ends a test on timeout with SIGTERM to its process group, and SIGKILL 0.5 s later:
    # the formation runs in sessions of its own, so kill it at once (tickd is in the group).
    def on_sigterm(*_):
        if made.get("f"):
            made["f"].kill_now()
        sys.stdout.write("SIGTERM: killed the pg_auto_failover formation\n")
        sys.stdout.flush()
        os._exit(1)
    signal.signal(signal.SIGTERM, on_sigterm)

    def body():
        f = made["f"] = af.Formation(log=log)
        f.start()
        os.environ["TICKD_TEST_DATABASE_URL"] = f.url()
        r = made["r"] = rig.Rig(tickd)
        r.migrate()
        log("tickd migrate through %s: ok" % f.url())
        test(r, f)

    def on_failure():
        r, f = made.get("r"), made.get("f")
        if r:
            print("tickd logs in %s" % r.tmp)
            for t in r.procs:
                lines = t.log().splitlines()
                print("\n----- tickd %s (pid %d, exit %s), last 15 of %d lines -----"
                      % (t.name, t.proc.pid, t.proc.returncode, len(lines)))
                print("\n".join(x[:300] for x in lines[-15:]))
        if f:
            print(f.log_tail(20))

    def cleanup():
        r, f = made.get("r"), made.get("f")
        # The database is the formation's own: no schema to drop, only processes to end.
        try:
            if r:
                for t in r.procs:
                    t.close()
                if r._conn is not None and not r._conn.closed:
                    r._conn.close()
        finally:
            if f:
                f.close()
        print("took %.0f s" % (time.time() - t_start))

    run_main(body, on_failure, cleanup)


if __name__ == "__main__":
    main()
