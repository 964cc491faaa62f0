#!/usr/bin/env python3
"""The chaos suite: three tickd replicas, 120 regions every second, a private PostgreSQL
cluster, and one fault after another. After each scenario it counts, over the scenario's
window of seconds:

- duplicates: (region, second) executed more than once. job_run's UNIQUE makes a second row
  impossible, so each region's tick_sql also appends to chaos_exec (no constraint) with the
  executing replica's application_name: two executions of one tick, or an execution by a
  replica that does not hold that tick's job_run row ("foreign"), are what exactly-once forbids;
- missing ticks: (region, second) without a row, leaving out ("excused") seconds when no replica
  could run it: the database was down, or the region still had a running row (no overlap);
- stuck rows: `running` rows older than TICK_LEASE_MS after the scenario ("late") that are
  still running STUCK_WAIT_S later: rows nobody ends (must be 0); and the oldest running row
  seen during the scenario. How soon a fault's rows end is the takeover time below: a figure,
  not a check, as a live replica's tick on an overloaded machine is slow, not stuck;
- takeover time: fault (kill -9, SIGSTOP) -> the row marked `abandoned`, p50/p99;
- spurious abandons: rows marked `abandoned` whose replica suffered no fault;
- claim attempts per tick: tickd_claim_attempts_total summed over every process (scraped up to
  the moment of a kill) / rows claimed meanwhile.

Usage: chaos.py PATH_TO_TICKD [--long]   (or TICKD_CHAOS_LONG=1). The short form (default, run by
./scripts/test) takes about two minutes; the long one about eight.
"""
import calendar
import math
import os
import re
import random
import signal
import sys
import time

from tickd_rig import chaos as cl, pg, rig
from tickd_rig.util import Skip, metric, parse_metrics, percentile, replace_host_port, run_main, wait_for

LONG = os.environ.get("TICKD_CHAOS_LONG") == "1" or "--long" in sys.argv
LEASE_MS = 2000
N_FAST, N_SLOW = 111, 9
SLOW_SLEEP = 0.4
REPLICAS = ("a", "b", "c")   # c reaches the database through a TcpProxy
STUCK_WAIT_S = 15
SEED = int(os.environ.get("TICKD_CHAOS_SEED", "0")) or random.randrange(1, 1 << 30)

RE_FULL = re.compile(r"^(\S+?)(?:\.\d+)?Z warning \d+ tick\(s\) skipped: no free slot", re.M)
RE_LATE = re.compile(r"region (\S+): tick (\S+) skipped: its claim reached the database after the start deadline")
RE_DBERR = re.compile(r"tick\(s\) at (\S+) not claimed: ")

CLAIM_AHEAD_MS = 500  # tickd's default, set explicitly below
BASE_ENV = dict(TICK_LEASE_MS=LEASE_MS, CLAIM_AHEAD_MS=CLAIM_AHEAD_MS, CONCURRENCY=32, DB_POOL_SIZE=8, LOG_LEVEL="info",
                TICK_SQL_TIMEOUT_MS=10000, SHUTDOWN_GRACE_MS=2000)

EXEC_SQL = ("INSERT INTO chaos_exec (region_id, scheduled_for, app) "
            "VALUES ($1, $2, current_setting('application_name'))")
SLOW_SQL = ("INSERT INTO chaos_exec (region_id, scheduled_for, app) "
            "SELECT $1, $2, current_setting('application_name') FROM pg_sleep(%s)" % SLOW_SLEEP)


class Chaos:
    def __init__(self, r, cluster):
        self.r = r
        self.cluster = cluster
        self.proxy = rig.TcpProxy("127.0.0.1", cluster.port)
        self.proxy_url = replace_host_port(r.url, "127.0.0.1", self.proxy.port)
        self.rep = {}      # name -> current Tickd
        self.env = {}      # name -> extra env of its current process
        self.faults = []   # (replica_id, wall time, kind)
        self.scraper = cl.Scraper(r)
        self.watch = cl.RunningWatch(r.url)
        self.results = []
        self.failures = []
        self.rng = random.Random(SEED)
        self.gen = 0

    # -- processes --
    def start(self, name, **env):
        old = self.rep.get(name)
        if old is not None:
            # rig names a process's log by its name: keep the earlier process's log apart.
            self.gen += 1
            kept = "%s.%d" % (old.log_path, self.gen)
            os.rename(old.log_path, kept)
            old.log_path = kept
        e = dict(BASE_ENV, **env)
        self.env[name] = env
        url = self.proxy_url if name == "c" else None
        self.rep[name] = self.r.start_tickd(name, database_url=url, **e)
        return self.rep[name]

    def rid(self, name):
        return "%s-%s" % (self.r.schema, name)

    def kill(self, name):
        t = self.rep[name]
        self.scraper.scrape(t)
        self.faults.append((t.replica_id, time.time(), "kill"))
        t.signal(signal.SIGKILL)
        t.wait_exit(5)

    def stop_clean(self, name):
        t = self.rep[name]
        self.scraper.scrape(t)
        t.signal(signal.SIGTERM)
        code = t.wait_exit(10)
        if code != 0:
            self.failures.append("replica %s: SIGTERM exit %s" % (name, code))
        self.scraper.scrape(t)

    def sql(self, q, p=None):
        for _ in range(50):
            try:
                return self.r.sql(q, p)
            except Exception:  # noqa: BLE001 -- reconnect after a restart of the server
                self.r._conn = None
                time.sleep(0.2)
        return self.r.sql(q, p)

    # -- one scenario --
    def scenario(self, name, faults, fn, checks=None):
        """Runs `fn(ctx)` (the faults) and then analyses the seconds from just after it began to
        just before it ended. ctx collects 'outages' [(a, b)] and 'notes'."""
        print("\n--- scenario %s: %s" % (name, faults))
        sys.stdout.flush()
        self.watch.reset()
        ctx = {"outages": [], "notes": [], "extra": {}}
        before = self.scraper.snapshot()
        t_before = time.time()
        t0 = math.floor(t_before) + 1
        n_faults = len(self.faults)
        fn(ctx)
        t_after_faults = time.time()
        t1 = math.floor(t_after_faults) - 1
        # Every tick up to t1 is decided by t1 + 1 (its start deadline); running rows left by a
        # fault are abandoned within the lease of the fault.
        time.sleep(max(0.0, t1 + 1.6 - time.time()))
        last_fault = max([f[1] for f in self.faults[n_faults:]] + [t_before])
        time.sleep(max(0.0, last_fault + LEASE_MS / 1000.0 + 1.2 - time.time()))
        after = self.scraper.snapshot()
        t_after = time.time()
        res = self.analyse(name, faults, t0, t1, ctx, before, after, t_before, t_after, self.faults[n_faults:])
        if checks:
            checks(res, ctx)
        res["notes"] = "; ".join(ctx["notes"])
        self.results.append(res)
        print("    %s" % {k: cl.fmt(v) for k, v in res.items()})
        sys.stdout.flush()
        return res

    def early_claims(self, replica_id, since):
        """Rows of `replica_id` claimed more than CLAIM_AHEAD_MS before their instant by the
        database's clock: (region id, instant, claim minus instant in s)."""
        return self.sql("SELECT region_id, extract(epoch FROM scheduled_for)::bigint, "
                        "round(extract(epoch FROM started_at - scheduled_for)::numeric, 3) FROM job_run "
                        "WHERE replica_id = %s AND started_at >= to_timestamp(%s) "
                        "AND started_at < scheduled_for - make_interval(secs => %s) "
                        "ORDER BY 2", [replica_id, since, CLAIM_AHEAD_MS / 1000.0 + 0.01])

    def analyse(self, name, faults, t0, t1, ctx, before, after, t_before, t_after, events):
        regions = [x[0] for x in self.sql("SELECT id FROM region_index WHERE active ORDER BY id")]
        # taken: [(replica taken from, takeover time)] of a row run again by a taker.
        rows = self.sql(
            "SELECT region_id, extract(epoch FROM scheduled_for)::bigint, replica_id, status, "
            "extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8, "
            "coalesce((SELECT array_agg(array[t->>'from', extract(epoch FROM (t->>'at')::timestamptz)::text]) "
            "          FROM jsonb_array_elements(details->'taken_over') t), '{}') "
            "FROM job_run WHERE scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
            [t0 - 6, t1 + 2])
        have = {(rid, s): (rep, st, a, b) for rid, s, rep, st, a, b, _ in rows}
        taken = {(rid, s): [(x[0], float(x[1])) for x in tk] for rid, s, _, _, _, _, tk in rows if tk}
        busy = {}
        for rid, s, rep, st, a, b, _ in rows:
            busy.setdefault(rid, []).append((s, a, b if b is not None else float("inf")))
        execs = self.sql(
            "SELECT region_id, extract(epoch FROM scheduled_for)::bigint, array_agg(app) FROM chaos_exec "
            "WHERE scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s) GROUP BY 1, 2", [t0, t1])
        dups = [(rid, s, apps) for rid, s, apps in execs if len(apps) > 1]
        # A tick's SQL may have run (and committed) under an earlier holder of a taken-over row.
        foreign = [(rid, s, apps) for rid, s, apps in execs
                   if (rid, s) not in have or any(app != have[(rid, s)][0] and
                                                  app not in [f for f, _ in taken.get((rid, s), [])]
                                                  for app in apps)]
        full_at, late, failed_at = self.overload_from_logs()
        missing, excused, overload = [], 0, 0
        for rid in regions:
            for s in range(t0, t1 + 1):
                if (rid, s) in have:
                    continue
                down = any(s + 1 > a and s < b for a, b in ctx["outages"]) or s in failed_at
                occupied = any(other != s and a < s + 1 and b > s for other, a, b in busy.get(rid, []))
                if down or occupied:
                    excused += 1
                elif s in full_at or (rid, s) in late:
                    overload += 1
                else:
                    missing.append((rid, s))
        statuses = {}
        for k, (rep, st, a, b) in have.items():
            if t0 <= k[1] <= t1:
                statuses[st] = statuses.get(st, 0) + 1
        # Takeover: each abandoned row against the latest fault of its replica before the marking.
        # Taken over: run again (details.taken_over: from whom, when) or ended abandoned.
        takeovers, spurious = [], []

        def judged(rid, s, rep, started, at):
            # A claim sent just before a SIGSTOP is still committed by the server, after the
            # fault: a loaded server takes up to a second over it.
            fs = [ft for frep, ft, _ in self.faults if frep == rep and ft <= at + 0.05 and ft >= started - 1.0]
            if fs:
                takeovers.append(at - max(fs))
            else:
                spurious.append((rid, s, rep, started, at))

        for (rid, s), (rep, st, a, b) in have.items():
            if st == "abandoned" and b is not None and b >= t_before - 1:
                judged(rid, s, rep, a, b)
        # A claim whose answer was lost with the connection (the database went away) and whose
        # row its own replica found later, past the deadline: the database's fault, not a
        # takeover of a live replica.
        in_doubt = set((rid, s) for rid, s in self.sql(
            "SELECT region_id, extract(epoch FROM scheduled_for)::bigint FROM job_run "
            "WHERE status = 'abandoned' AND error LIKE 'its claim came back in doubt%%' "
            "AND scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s)", [t0 - 6, t1 + 2]))
        spurious = [x for x in spurious if (x[0], x[1]) not in in_doubt]
        if spurious:  # with the reason the taker recorded
            spurious = [x + tuple(self.sql("SELECT error FROM job_run WHERE region_id = %s AND "
                                           "scheduled_for = to_timestamp(%s)", [x[0], x[1]])[0])
                        for x in spurious]
        # (A re-run's started_at is its takeover: a fault of the replica it was taken from in
        # the tick's second, or in the lease before it, is what justifies it.)
        for (rid, s), froms in taken.items():
            for rep, at in froms:
                if at >= t_before - 1:
                    judged(rid, s, rep, s - CLAIM_AHEAD_MS / 1000.0 - LEASE_MS / 1000.0, at)
        reruns = sum(1 for (rid, s) in taken if t0 <= s <= t1)
        late, stuck_ids = self.stuck_rows()
        claimed = self.sql_value_safe(
            "SELECT count(*) FROM job_run WHERE started_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
            [t_before, t_after])
        attempts = cl.Scraper.delta(before, after, "tickd_claim_attempts_total")
        fenced = cl.Scraper.delta(before, after, "tickd_fenced_writes_total")
        kills = sum(1 for e in events if e[2] == "kill")
        res = {
            "scenario": name, "faults": faults, "window_s": t1 - t0 + 1,
            "expected": len(regions) * (t1 - t0 + 1), "rows": sum(statuses.values()),
            "ok": statuses.get("ok", 0), "failed": statuses.get("failed", 0),
            "abandoned": statuses.get("abandoned", 0), "rerun": reruns,
            "in_doubt": sum(1 for k in in_doubt if t0 <= k[1] <= t1),
            "dup": len(dups), "foreign": len(foreign), "missing": len(missing), "excused": excused, "overload": overload,
            "missing_per_kill": (len(missing) / kills) if kills else None,
            "stuck": len(stuck_ids), "late": late, "max_running_s": self.watch.peak(),
            "takeover_p50": percentile(takeovers, 50), "takeover_p99": percentile(takeovers, 99),
            "spurious_abandoned": len(spurious),
            "claims_per_tick": (attempts / claimed) if claimed else None, "fenced": int(fenced),
        }
        res.update(ctx["extra"])
        if dups:
            self.failures.append("%s: %d (region, second) executed more than once, e.g. %s" % (name, len(dups), dups[:5]))
        if foreign:
            self.failures.append("%s: %d executions by a replica without the claim, e.g. %s"
                                 % (name, len(foreign), foreign[:5]))
        if stuck_ids:
            self.failures.append("%s: %d rows running past the lease still ran %d s later: %s"
                                 % (name, len(stuck_ids), STUCK_WAIT_S, self.describe_rows(stuck_ids)))
        if spurious:
            self.failures.append("%s: %d rows abandoned without a fault of their replica, e.g. %s"
                                 % (name, len(spurious), spurious[:5]))
        if missing:
            sample = [(rid, s, self.explain_missing(rid, s)) for rid, s in missing[:5]]
            self.failures.append("%s: %d missing ticks (not excused), e.g. %s" % (name, len(missing), sample))
        return res

    def overload_from_logs(self):
        """From every tickd log so far: instants at which some replica skipped ticks for want of a
        free slot (logged at the start deadline, instant + 1 s for these regions), (region id,
        instant) whose claim reached the database after its deadline, and instants whose claim
        failed with a database error. A tick missing for these reasons is counted 'overload'
        (or excused, for database errors), not 'missing': the contract promises exactly once only
        while a replica is healthy and below its cap."""
        ids = {code: i for i, code in self.sql("SELECT id, code FROM region_index")}
        full_at, late, failed_at = set(), set(), set()
        for t in self.r.procs:
            try:
                text = t.log()
            except OSError:
                continue
            for m in RE_FULL.finditer(text):
                at = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
                full_at.update((at - 2, at - 1))
            for m in RE_LATE.finditer(text):
                if m.group(1) in ids:
                    late.add((ids[m.group(1)], calendar.timegm(time.strptime(m.group(2), "%Y-%m-%dT%H:%M:%SZ"))))
            for m in RE_DBERR.finditer(text):
                failed_at.add(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ")))
        return full_at, late, failed_at

    def explain_missing(self, rid, s):
        rows = self.sql("SELECT extract(epoch FROM scheduled_for)::bigint - %s, replica_id, status, "
                        "round(extract(epoch FROM started_at)::numeric - %s, 3), "
                        "round(extract(epoch FROM finished_at)::numeric - %s, 3) FROM job_run "
                        "WHERE region_id = %s AND scheduled_for BETWEEN to_timestamp(%s) AND to_timestamp(%s) "
                        "ORDER BY scheduled_for", [s, s, s, rid, s - 2, s + 2])
        return rows

    def stuck_rows(self):
        """(how many rows ran past the lease after the scenario, the ids of those of them still
        running STUCK_WAIT_S later)."""
        ids = [i for (i,) in self.sql(
            "SELECT id FROM job_run WHERE status = 'running' "
            "AND started_at < clock_timestamp() - make_interval(secs => %s)", [LEASE_MS / 1000.0])]
        late = len(ids)
        until = time.time() + STUCK_WAIT_S
        while ids and time.time() < until:
            time.sleep(0.2)
            ids = [i for (i,) in self.sql(
                "SELECT id FROM job_run WHERE status = 'running' AND id = ANY(%s)", [ids])]
        return late, ids

    def describe_rows(self, ids):
        """A few rows, and which replicas live: whose rows nobody ends."""
        rows = self.sql("SELECT id, region_id, to_char(scheduled_for, 'HH24:MI:SS'), replica_id, "
                        "attempt, to_char(started_at, 'HH24:MI:SS.MS'), details FROM job_run "
                        "WHERE id = ANY(%s) ORDER BY id LIMIT 5", [ids])
        live = [self.rep[n].replica_id for n in REPLICAS if self.rep[n].alive()]
        return "%s; live replicas %s" % (rows, live)

    def sql_value_safe(self, q, p=None):
        rows = self.sql(q, p)
        return rows[0][0] if rows else None

    def close(self):
        self.scraper.close()
        self.watch.close()
        self.proxy.close()


# ---- scenarios ---------------------------------------------------------------------------------

def sc_steady(ch, seconds):
    def run(ctx):
        time.sleep(seconds)
    ch.scenario("steady", "none, %d s" % seconds, run)


def sc_kill(ch, kills, every):
    def run(ctx):
        pending = []  # (restart at, name)
        for i in range(kills):
            t_next = time.time() + every
            name = ch.rng.choice([n for n in REPLICAS if ch.rep[n].alive()])
            # Mostly mid-tick: while it has a slow tick running (there is then a row to take over).
            if ch.rng.random() < 0.7:
                try:
                    wait_for(lambda: slow_running_of(ch, name), 1.5, "", interval=0.01)
                except AssertionError:
                    pass
            ch.kill(name)
            # Sometimes back before the lease has run out (it marks its own rows abandoned),
            # sometimes after (another replica does).
            delay = ch.rng.choice([0.5, 1.0, LEASE_MS / 1000.0 + 0.5])
            pending.append((time.time() + delay, name))
            while time.time() < t_next:
                for p in list(pending):
                    if time.time() >= p[0]:
                        ch.start(p[1], **ch.env[p[1]])
                        pending.remove(p)
                time.sleep(0.05)
        for when, name in pending:
            time.sleep(max(0.0, when - time.time()))
            ch.start(name, **ch.env[name])
        time.sleep(2)
    ch.scenario("kill -9", "%d kills, one every %d s, restart after 0.5-%.1f s"
                % (kills, every, LEASE_MS / 1000.0 + 0.5), run)


def sc_pg_restart(ch, restarts):
    def run(ctx):
        for i in range(restarts):
            time.sleep(3)
            a = time.time()
            # fast: sessions terminated, clean shutdown; immediate: a crash and recovery.
            ch.cluster.restart(("fast", "immediate")[i % 2])
            b = time.time()
            ctx["outages"].append((a, b))
            ctx["notes"].append("server down %.1f s" % (b - a))
            # Back to normal: every replica ready again.
            for n in REPLICAS:
                ch.rep[n].wait_ready(20)
            ctx["extra"]["recovered_s"] = max(ctx["extra"].get("recovered_s", 0.0), time.time() - b)
            time.sleep(3)
    ch.scenario("pg restart", "%d x pg_ctl restart (-m fast, -m immediate alternately)" % restarts, run)


def slow_running_of(ch, name):
    return ch.sql("SELECT j.id FROM job_run j JOIN region_index g ON g.id = j.region_id "
                  "WHERE j.status = 'running' AND j.replica_id = %s AND g.code LIKE 'slow%%'", [ch.rid(name)])


def sc_sigstop(ch, stops):
    state = {"rows": [], "resumes": [], "stops": {}}

    def run(ctx):
        for i in range(stops):
            # Each stop prefers another replica: b, a, c in turn.
            turn = REPLICAS[(i + 1) % 3:] + REPLICAS[:(i + 1) % 3]
            time.sleep(1.5)
            # Stop one while it has a slow tick running, so there is something to take over:
            # the first in turn that has. Which replica owns which of the 9 slow regions
            # follows the hash of this run's replica ids, and a given one owns none of them in
            # about 1 run in 40: waiting for a fixed replica failed the suite by chance.
            name = wait_for(lambda: next((n for n in turn if slow_running_of(ch, n)), None), 15,
                            "a slow tick running on any replica", interval=0.01)
            t = ch.rep[name]
            t.signal(signal.SIGSTOP)
            ch.faults.append((t.replica_id, time.time(), "sigstop"))
            stopped_at = time.time()
            time.sleep(0.2)  # a claim already sent is still committed by the server
            ids = [x[0] for x in ch.sql("SELECT id FROM job_run WHERE status = 'running' "
                                          "AND replica_id = %s", [t.replica_id])]
            state["rows"] += ids
            state["stops"].update((i, stopped_at) for i in ids)
            time.sleep(max(0.0, stopped_at + 2.0 * LEASE_MS / 1000.0 - time.time()))
            t.signal(signal.SIGCONT)
            state["resumes"].append(time.time())
            time.sleep(2.5)

    def checks(res, ctx):
        # Taken over while stopped: ended abandoned, or run again by another replica (attempt 2+,
        # taken from the stopped one).
        rows = ch.sql("SELECT id, status, replica_id, attempt, "
                      "coalesce(details->'taken_over'->-1->>'from' <> replica_id, false), "
                      "extract(epoch FROM finished_at)::float8, extract(epoch FROM tick_sql_at)::float8, "
                      "details ? 'taken_over' "
                      "FROM job_run WHERE id = ANY(%s)", [state["rows"]])
        # Not late writes over a takeover (no takeover happened), each ended by the stopped
        # replica itself: an end it sent just before the stop, which a loaded server wrote
        # after the rows were listed; or a tick stopped while committing its tick_sql (the
        # mark was written, so the row stays locked by that open transaction and no one can
        # take it over until it commits, on resume: the SQL still took effect once).
        in_flight = [x for x in rows if x[1] in ("ok", "failed") and x[3] == 1 and not x[7]
                     and ((x[5] is not None and x[5] < state["stops"][x[0]] + 1.0)
                          or (x[6] is not None and x[6] < state["stops"][x[0]]))]
        rows = [x for x in rows if x not in in_flight]
        bad = [x for x in rows if x[1] != "abandoned" and not (x[3] > 1 and x[4])]
        res["ended_in_flight"] = len(in_flight)
        res["stopped_rows"] = len(rows)
        if not rows:
            ch.failures.append("sigstop: the stopped replica had no running row to take over")
        if bad:
            ch.failures.append("sigstop: rows running on the stopped replica ended %s, not taken over "
                               "(its late writes overwrote the takeover)" % bad)
        if res["fenced"] != len(rows):
            ch.failures.append("sigstop: tickd_fenced_writes_total rose by %d, expected %d (one per row the "
                               "stopped replica had running)" % (res["fenced"], len(rows)))
        for name in REPLICAS:
            if not ch.rep[name].alive():
                ch.failures.append("sigstop: replica %s died" % name)
        ctx["notes"].append("stopped %.1f s each" % (2.0 * LEASE_MS / 1000.0))
    ch.scenario("SIGSTOP > lease", "%d x SIGSTOP %.1f s, SIGCONT" % (stops, 2.0 * LEASE_MS / 1000.0), run, checks)


def sc_skew(ch, offset, seconds):
    state = {}

    def run(ctx):
        ch.stop_clean("c")
        env = dict(LD_PRELOAD=cl.FAKETIME_LIB, FAKETIME="%+ds" % offset, DONT_FAKE_MONOTONIC="1")
        state["start"] = time.time()
        ch.start("c", **env)
        time.sleep(seconds)

    def checks(res, ctx):
        rid = ch.rid("c")
        # Lateness by the database's clock: the tick_sql's run (chaos_exec.at) minus the instant.
        lat = [float(x[0]) for x in ch.sql(
            "SELECT extract(epoch FROM e.at - j.scheduled_for) FROM job_run j JOIN chaos_exec e "
            "USING (region_id, scheduled_for) WHERE j.replica_id = %s AND j.started_at >= to_timestamp(%s)",
            [rid, state["start"]])]
        early = [x for x in lat if x < -0.01]
        res["skewed_rows"] = len(lat)
        res["early"] = len(early)
        res["early_claims"] = len(ch.early_claims(rid, state["start"]))
        res["lateness_p99"] = percentile(lat, 99)
        log = ch.rep["c"].log()
        if "scheduling by the database's clock" not in log:
            ch.failures.append("skew %+d s: c did not log its clock offset" % offset)
        if not lat:
            ch.failures.append("skew %+d s: the skewed replica ran no tick" % offset)
        if early or res["early_claims"]:
            ch.failures.append("skew %+d s: %d ticks ran before their instant and %d were claimed more than "
                               "CLAIM_AHEAD_MS before it, by the database's clock (c started at %.3f), e.g. %s"
                               % (offset, len(early), res["early_claims"], state["start"],
                                  ch.early_claims(rid, state["start"])[:3]))
        ctx["notes"].append("c under libfaketime FAKETIME=%+ds" % offset)
    ch.scenario("clock skew %+d s" % offset, "c's clock %+d s (libfaketime), %d s" % (offset, seconds), run, checks)


def sc_jump(ch, step, hold):
    """c's host clock steps forward by `step` s while it runs, and back after `hold` s
    (libfaketime reading its offset from a file, re-read every second). tickd re-measures its
    offset from the database's clock on every heartbeat; meanwhile it must not start a tick before
    its instant (by the database's clock), nor miss one."""
    state = {}
    path = os.path.join(ch.r.tmp, "faketime-c")

    def run(ctx):
        with open(path, "w") as f:
            f.write("+0\n")
        ch.stop_clean("c")
        env = dict(LD_PRELOAD=cl.FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE=path, FAKETIME_CACHE_DURATION="1",
                   DONT_FAKE_MONOTONIC="1")
        state["start"] = time.time()
        ch.start("c", **env)
        for _ in range(2):
            time.sleep(3)
            with open(path, "w") as f:
                f.write("%+ds\n" % step)
            state.setdefault("jumps", []).append(time.time())
            time.sleep(hold)
            with open(path, "w") as f:
                f.write("+0\n")
            state["jumps"].append(time.time())
        time.sleep(3)

    def checks(res, ctx):
        rid = ch.rid("c")
        # Ran early: the tick_sql's run before the instant; claimed early: more than
        # CLAIM_AHEAD_MS before it (both by the database's clock).
        early = ch.sql("SELECT j.region_id, extract(epoch FROM j.scheduled_for)::bigint, "
                       "round(extract(epoch FROM e.at - j.scheduled_for)::numeric, 3) FROM job_run j "
                       "JOIN chaos_exec e USING (region_id, scheduled_for) WHERE j.replica_id = %s "
                       "AND j.started_at >= to_timestamp(%s) AND e.at < j.scheduled_for - interval '10 ms' "
                       "ORDER BY 2", [rid, state["start"]])
        early_claims = ch.early_claims(rid, state["start"])
        res["early"] = len(early)
        res["early_claims"] = len(early_claims)
        res["early_max_s"] = float(-min(x[2] for x in early)) if early else 0.0
        if early or early_claims:
            ch.failures.append(
                "clock jump %+d s: c ran %d ticks before their instant (up to %.3f s early) and claimed %d more "
                "than CLAIM_AHEAD_MS before it, by the database's clock (c's clock stepped at %s), e.g. %s %s"
                % (step, len(early), res["early_max_s"], len(early_claims), ["%.3f" % j for j in state["jumps"]],
                   early[:5], early_claims[:5]))
        ctx["notes"].append("c's clock stepped %+d s and back, twice (libfaketime file)" % step)
    ch.scenario("clock jump %+d s" % step, "c's clock steps %+d s for %d s, twice" % (step, hold), run, checks)


def sc_cut(ch, mode, times, hold):
    def run(ctx):
        for _ in range(times):
            time.sleep(2)
            # A partition is a fault of c: its running rows may be taken over.
            ch.faults.append((ch.rep["c"].replica_id, time.time(), mode))
            a = time.time()
            if mode == "cut":
                ch.proxy.cut()
            else:
                ch.proxy.stall()
            # c notices: tickd_db_up 0 (the contract: within 5 s).
            noticed = None
            while time.time() < a + hold:
                if noticed is None:
                    try:
                        if metric(parse_metrics(ch.rep["c"].metrics_text()), "tickd_db_up") == 0:
                            noticed = time.time() - a
                    except Exception:  # noqa: BLE001
                        pass
                time.sleep(0.1)
            ctx["extra"]["c_db_down_after_s"] = max(ctx["extra"].get("c_db_down_after_s", 0.0), noticed or hold)
            if noticed is None or noticed > 5.0:
                ch.failures.append("proxy %s: c did not report tickd_db_up 0 within %.1f s" % (mode, min(hold, 5.0)))
            if mode == "cut":
                ch.proxy.restore()
            else:
                ch.proxy.resume()
            ch.rep["c"].wait_ready(15)
            time.sleep(2)
        if not ch.rep["c"].alive():
            ch.failures.append("%s: replica c died" % mode)
    what = "connections reset, refused" if mode == "cut" else "black hole (no data either way)"
    ch.scenario("proxy %s" % mode, "%d x c's database %s for %.0f s" % (times, what, hold), run)


def sc_pool(ch, hogs, seconds):
    """Handler work saturates every replica's handler pool: `hogs` regions every second whose
    tick_sql takes 3 s (more than the replicas' DB_POOL_SIZE together). The regular regions
    keep every second (missing 0), and no claim reaches the database after its deadline
    (overload 0): claims and ends have their own connections and threads, and short ticks are
    served first."""
    def run(ctx):
        time.sleep(seconds)
        ch.sql("UPDATE region_index SET active = false WHERE code LIKE 'hog%%'")
        # The hogs' last ticks end (they are not part of what is checked).
        wait_for(lambda: not ch.sql("SELECT 1 FROM job_run j JOIN region_index g ON g.id = j.region_id "
                                    "WHERE j.status = 'running' AND g.code LIKE 'hog%%'"),
                 60, "the hog regions' last ticks to end", interval=0.2)

    def checks(res, ctx):
        if res["overload"]:
            ch.failures.append("pool saturation: %d ticks missing for overload (a claim past its deadline "
                               "or no free slot): bookkeeping waited behind handler work" % res["overload"])
        ctx["notes"].append("%d regions of 3 s tick_sql every second next to the 120" % hogs)
    # Warm-up, before the window: a region's first tick_sql counts as short until it has run
    # once, so the hogs' first runs take every connection for 3 s.
    ch.sql("INSERT INTO region_index (code, cron_schedule, tick_sql) "
           "SELECT 'hog' || g, '* * * * * *', 'SELECT pg_sleep(3)' FROM generate_series(1, %s) g", [hogs])
    time.sleep(8)
    ch.scenario("pool saturation", "%d regions whose tick_sql takes 3 s, %d s" % (hogs, seconds), run, checks)


# ---- main -----------------------------------------------------------------------------------------

COLUMNS = [("scenario", "scenario"), ("faults", "faults"), ("window_s", "s"), ("expected", "ticks"),
           ("rows", "rows"), ("failed", "failed"), ("abandoned", "aband."), ("in_doubt", "of which in doubt"), ("rerun", "re-run"), ("dup", "dup"),
           ("foreign", "foreign"), ("missing", "missing"), ("missing_per_kill", "miss/kill"),
           ("excused", "excused"), ("overload", "overload"), ("stuck", "stuck"), ("max_running_s", "max run s"),
           ("takeover_p50", "takeover p50 s"), ("takeover_p99", "p99 s"), ("spurious_abandoned", "spurious"),
           ("claims_per_tick", "claims/tick"), ("fenced", "fenced")]


def test(r, cluster):
    r.sql("CREATE TABLE chaos_exec (region_id bigint, scheduled_for timestamptz, app text, "
          "at timestamptz DEFAULT clock_timestamp())")
    r.sql("INSERT INTO region_index (code, cron_schedule, tick_sql) "
          "SELECT 'fast' || g, '* * * * * *', %s FROM generate_series(1, %s) g", [EXEC_SQL, N_FAST])
    r.sql("INSERT INTO region_index (code, cron_schedule, tick_sql) "
          "SELECT 'slow' || g, '* * * * * *', %s FROM generate_series(1, %s) g", [SLOW_SQL, N_SLOW])
    ch = Chaos(r, cluster)
    try:
        print("seed %d (TICKD_CHAOS_SEED), %s form, TICK_LEASE_MS=%d, %d regions" %
              (SEED, "long" if LONG else "short", LEASE_MS, N_FAST + N_SLOW))
        for n in REPLICAS:
            ch.start(n)
        time.sleep(2)
        if LONG:
            sc_steady(ch, 30)
            sc_pool(ch, 24, 20)
            sc_kill(ch, 40, 3)
            sc_pg_restart(ch, 4)
            sc_sigstop(ch, 6)
            sc_skew(ch, +2, 30)
            sc_skew(ch, -2, 30)
            sc_jump(ch, 2, 5)
            ch.stop_clean("c")
            ch.start("c")
            sc_cut(ch, "cut", 4, 5)
            sc_cut(ch, "stall", 4, 5)
        else:
            sc_steady(ch, 6)
            sc_kill(ch, 5, 3)
            sc_pg_restart(ch, 2)
            sc_sigstop(ch, 2)
            sc_skew(ch, +2, 8)
            sc_skew(ch, -2, 8)
            sc_jump(ch, 2, 3)
            ch.stop_clean("c")
            ch.start("c")
            sc_cut(ch, "cut", 1, 4)
            sc_cut(ch, "stall", 1, 4)
        kills = sum(1 for f in ch.faults if f[2] == "kill")
        total = r.sql_value("SELECT count(*) FROM (SELECT 1 FROM chaos_exec GROUP BY region_id, scheduled_for "
                            "HAVING count(*) > 1) d")
        print("\n%s form: %d kills, %d SIGSTOPs, whole run: %d ticks executed twice, %d rows running now"
              % ("long" if LONG else "short", kills, sum(1 for f in ch.faults if f[2] == "sigstop"), total,
                 r.sql_value("SELECT count(*) FROM job_run WHERE status = 'running' AND started_at < "
                             "clock_timestamp() - make_interval(secs => %s)", [LEASE_MS / 1000.0])))
        print()
        cl.print_table(ch.results, COLUMNS)
        print("\nnotes:")
        for res in ch.results:
            extra = {k: cl.fmt(v) for k, v in res.items() if k not in dict(COLUMNS) and k != "notes"}
            print("  %s: %s %s" % (res["scenario"], res.get("notes", ""), extra or ""))
        if total:
            ch.failures.append("whole run: %d ticks executed twice" % total)
        if ch.failures:
            raise AssertionError("chaos checks failed:\n  " + "\n  ".join(ch.failures))
    finally:
        ch.close()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        sys.exit("usage: %s PATH_TO_TICKD [--long]" % sys.argv[0])
    tickd = os.path.abspath(args[0])
    made = {}  # "cluster", "r": what to report on and clean up

    def body():
        if not os.path.exists(cl.FAKETIME_LIB):
            raise Skip("libfaketime is not installed (Debian package faketime)")
        cluster = made["cluster"] = pg.Cluster()
        pg.use_cluster(cluster)
        r = made["r"] = rig.Rig(tickd)
        r.migrate()
        test(r, cluster)

    def on_failure():
        r = made.get("r")
        if not r:
            return
        if os.environ.get("TICKD_CHAOS_KEEP_LOGS"):
            print("logs kept in %s" % r.tmp)
            return
        # The tail of each process's log: the full logs are long.
        for t in r.procs:
            lines = t.log().splitlines()
            print("\n----- tickd %s (pid %d, exit %s), last 40 of %d lines -----"
                  % (t.name, t.proc.pid, t.proc.returncode, len(lines)))
            print("\n".join(lines[-40:]))

    def cleanup():
        if made.get("r"):
            made["r"].close()
        if made.get("cluster"):
            made["cluster"].close()

    run_main(body, on_failure, cleanup)


if __name__ == "__main__":
    main()
