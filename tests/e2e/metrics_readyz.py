"""HTTP endpoints of `tickd run`: /healthz, /readyz, /metrics (every series of the contract from
start, `promtool check metrics`, gauges matching the rows), /status JSON shape, 404."""
import json
import os
import re
import subprocess
import time

from tickd_rig import rig
from tickd_rig.util import check, free_port, metric, parse_metrics, replace_host_port, wait_for

OUTCOMES = ("ran", "failed", "lost", "skipped", "missed", "abandoned")
PROMTOOL = "/usr/bin/promtool"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def series_names(text):
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def type_of(text, family):
    m = re.search(r"^# TYPE %s (\S+)$" % re.escape(family), text, re.M)
    return m.group(1) if m else None


def check_contract_series(text, where):
    """Every series the contract lists, with its type; counters present at 0 or more."""
    samples = parse_metrics(text)
    names = series_names(text)
    missing = []
    expected_types = {
        "tickd_schedules": "gauge", "tickd_invalid_schedules": "gauge", "tickd_ticks_total": "counter",
        "tickd_tick_lateness_seconds": "histogram", "tickd_handler_duration_seconds": "histogram",
        "tickd_reconcile_total": "counter", "tickd_reconcile_duration_seconds": "histogram",
        "tickd_inflight": "gauge", "tickd_db_up": "gauge", "tickd_build_info": "gauge",
        "process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
        "process_start_time_seconds": "gauge",
    }
    for family, typ in expected_types.items():
        seen = type_of(text, family)
        if seen != typ:
            missing.append("# TYPE %s %s (seen %s)" % (family, typ, seen))
    for outcome in OUTCOMES:
        if metric(samples, "tickd_ticks_total", outcome=outcome) is None:
            missing.append('tickd_ticks_total{outcome="%s"}' % outcome)
    for result in ("ok", "error"):
        if metric(samples, "tickd_reconcile_total", result=result) is None:
            missing.append('tickd_reconcile_total{result="%s"}' % result)
    for hist in ("tickd_tick_lateness_seconds", "tickd_reconcile_duration_seconds"):
        for suffix in ("_bucket", "_sum", "_count"):
            if hist + suffix not in names:
                missing.append(hist + suffix)
        if not any(n == hist + "_bucket" and ("le", "+Inf") in labels for (n, labels) in samples):
            missing.append(hist + '_bucket{le="+Inf"}')
    if not any(n == "tickd_handler_duration_seconds_count" and ("handler", "region") in labels
               for (n, labels) in samples):
        missing.append('tickd_handler_duration_seconds_count{handler="region"}')
    for gauge in ("tickd_schedules", "tickd_invalid_schedules", "tickd_inflight", "tickd_db_up",
                  "process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds"):
        if metric(samples, gauge) is None:
            missing.append(gauge)
    build = [(labels, v) for (n, labels), v in samples.items() if n == "tickd_build_info"]
    if len(build) != 1 or dict(build[0][0]).get("version", "") == "" or build[0][1] != 1:
        missing.append('one tickd_build_info{version="..."} 1 (seen %r)' % build)
    check(not missing, "%s: every series of the contract" % where, "missing or wrong: %s" % "; ".join(missing))
    return samples


def promtool_check(text, where):
    if not os.path.exists(PROMTOOL):
        print("note: %s absent: `promtool check metrics` not run (install Debian's prometheus)" % PROMTOOL)
        return
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "%s: `promtool check metrics` exit 0" % where,
          "exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))


def test(r):
    # 1. Before any database contact: every series exists, tickd_db_up 0, /readyz 503, /healthz 200.
    # (A password in DATABASE_URL, JSON logs: the password appears nowhere, every line is JSON.)
    dead_url = replace_host_port(r.url, "127.0.0.1", free_port()).replace("://postgres@", "://postgres:S3cr3tPw@")
    check("S3cr3tPw" in dead_url, "a URL with a password", dead_url)
    dead = r.start_tickd("nodb", database_url=dead_url, wait_ready=False, LOG_FORMAT="json")
    wait_for(lambda: dead.get("/healthz")[0] == 200, 5, "/healthz 200 with no database")
    status, body, _ = dead.get("/readyz")
    check(status == 503, "/readyz 503 while the database was never reached", "%s %r" % (status, body))
    text = dead.metrics_text()
    samples = check_contract_series(text, "no database")
    check(metric(samples, "tickd_db_up") == 0, "tickd_db_up 0 before the first connection",
          metric(samples, "tickd_db_up"))
    promtool_check(text, "no database")
    wait_for(lambda: dead.log().count("\n") >= 4, 5, "a few log lines (connection retries)")
    for path in ("/metrics", "/status"):
        body = dead.get(path)[1]
        check("S3cr3tPw" not in body, "no password in %s" % path, "it is there")
    dead.kill()
    log = dead.log()
    check("S3cr3tPw" not in log, "no password in the log", [x for x in log.splitlines() if "S3cr3tPw" in x][:2])
    not_json = []
    for line in log.splitlines():
        try:
            if not isinstance(json.loads(line), dict):
                not_json.append(line)
        except ValueError:
            not_json.append(line)
    check(not not_json, "LOG_FORMAT=json: every stderr line one JSON object", not_json[:3])

    # 2. With regions: valid active, inactive, invalid active, invalid inactive.
    r.add_region("ok-every-second", "* * * * * *")
    hourly_added = time.time()
    r.add_region("ok-hourly", "0 * * * *", timezone="Europe/Paris")
    r.add_region("inactive", "* * * * * *", active=False)
    r.add_region("bad-cron", "61 * * * *")
    r.add_region("bad-inactive", "not cron", active=False)
    t = r.start_tickd("main")

    status, body, headers = t.get("/healthz")
    check(status == 200, "/healthz 200", "%s %r" % (status, body))
    status, body, _ = t.get("/readyz")
    check(status == 200, "/readyz 200 after the first reconcile (an invalid region does not fail it)",
          "%s %r" % (status, body))

    text = t.metrics_text()
    status, _, headers = t.get("/metrics")
    ctype = headers.get("Content-Type", "")
    check(ctype.startswith("text/plain") and "0.0.4" in ctype,
          "/metrics Content-Type text/plain; version=0.0.4", repr(ctype))
    check(text.endswith("\n") and "\r" not in text, "/metrics body ending with LF and no CR", repr(text[-40:]))
    samples = check_contract_series(text, "running")
    promtool_check(text, "running")
    check(metric(samples, "tickd_db_up") == 1, "tickd_db_up 1", metric(samples, "tickd_db_up"))
    check(metric(samples, "tickd_schedules") == 2, "tickd_schedules 2 (two valid active rows)",
          metric(samples, "tickd_schedules"))
    check(metric(samples, "tickd_invalid_schedules") == 1,
          "tickd_invalid_schedules 1 (one invalid active row; the inactive invalid one is not counted)",
          metric(samples, "tickd_invalid_schedules"))
    check(metric(samples, "tickd_reconcile_total", result="ok") >= 1, "tickd_reconcile_total{result=ok} >= 1",
          metric(samples, "tickd_reconcile_total", result="ok"))
    start_time = metric(samples, "process_start_time_seconds")
    check(abs(start_time - t.started) < 5, "process_start_time_seconds near %.0f" % t.started, start_time)
    check(metric(samples, "process_resident_memory_bytes") > 1e6, "process_resident_memory_bytes > 1 MB",
          metric(samples, "process_resident_memory_bytes"))

    # Ticks run: ran counter, lateness and handler histograms move; ran + failed == rows.
    wait_for(lambda: (t.metric("tickd_ticks_total", outcome="ran") or 0) >= 2, 5, "tickd_ticks_total{ran} >= 2")
    samples = t.metrics()
    check(metric(samples, "tickd_tick_lateness_seconds_count") >= 2, "tickd_tick_lateness_seconds_count >= 2",
          metric(samples, "tickd_tick_lateness_seconds_count"))
    check(metric(samples, "tickd_handler_duration_seconds_count", handler="region") >= 2,
          'tickd_handler_duration_seconds_count{handler="region"} >= 2',
          metric(samples, "tickd_handler_duration_seconds_count", handler="region"))

    def counters_match_rows():
        s = t.metrics()
        ran_failed = metric(s, "tickd_ticks_total", outcome="ran") + metric(s, "tickd_ticks_total", outcome="failed")
        rows = r.sql_value("SELECT count(*) FROM job_run WHERE status <> 'running'")
        s2 = t.metrics()
        again = metric(s2, "tickd_ticks_total", outcome="ran") + metric(s2, "tickd_ticks_total", outcome="failed")
        return (ran_failed == rows == again) or None
    wait_for(counters_match_rows, 5, "ran + failed == finished job_run rows (quiet moment)")

    # /status: shape.
    status, body, headers = t.get("/status")
    check(status == 200, "/status 200", status)
    check(headers.get("Content-Type", "").startswith("application/json"), "/status Content-Type application/json",
          headers.get("Content-Type"))
    doc = json.loads(body)
    check(set(doc) >= {"replica_id", "regions", "invalid"}, "/status keys replica_id, regions, invalid", sorted(doc))
    check(doc["replica_id"] == t.replica_id, "replica_id %r" % t.replica_id, doc["replica_id"])
    codes = sorted(x["code"] for x in doc["regions"])
    check(codes == ["ok-every-second", "ok-hourly"], "regions: the two valid active ones", codes)
    for reg in doc["regions"]:
        keys = {"code", "cron_schedule", "timezone", "next_fire", "last_outcome", "last_scheduled_for"}
        check(set(reg) >= keys, "region keys %s" % sorted(keys), sorted(reg))
        check(isinstance(reg["next_fire"], str) and RFC3339_UTC.match(reg["next_fire"]),
              "next_fire RFC 3339 UTC with Z", reg["next_fire"])
    hourly = {x["code"]: x for x in doc["regions"]}["ok-hourly"]
    check(hourly["cron_schedule"] == "0 * * * *" and hourly["timezone"] == "Europe/Paris",
          "ok-hourly: '0 * * * *' in Europe/Paris", hourly)
    check(hourly["next_fire"].endswith(":00:00Z"),
          "ok-hourly next_fire on the hour", hourly["next_fire"])
    # Never ran, unless the test happens to straddle the top of an hour (Paris is a whole
    # number of hours off UTC; the tick may be claimed up to 1 s before it).
    top = (int(time.time() + 1) // 3600) * 3600
    if top <= hourly_added:
        check(hourly["last_outcome"] is None and hourly["last_scheduled_for"] is None,
              "ok-hourly: last_outcome and last_scheduled_for null (never ran)", hourly)
    else:
        top_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(top))
        check(hourly["last_scheduled_for"] in (None, top_text),
              "ok-hourly: ran at most at %s, the hour that began during the test" % top_text, hourly)
    every = wait_for(lambda: (lambda x: x if x["last_outcome"] else None)(t.status_regions()["ok-every-second"]),
                     3, "ok-every-second has a last_outcome")
    check(every["last_outcome"] == "ok", "last_outcome 'ok'", every)
    check(RFC3339_UTC.match(every["last_scheduled_for"] or ""), "last_scheduled_for RFC 3339 UTC", every)
    invalid = doc["invalid"]
    check([x["code"] for x in invalid] == ["bad-cron"], "invalid: only bad-cron (the inactive one is not listed)",
          invalid)
    check(set(invalid[0]) >= {"code", "error"} and invalid[0]["error"], "invalid entry with code and error",
          invalid[0])

    # Unknown paths: 404; query strings are ignored on known ones. (/ is the console.)
    for path in ("/nope", "/metrics/x", "/index.htm", "/statuss"):
        status, body, _ = t.get(path)
        check(status == 404, "GET %s: 404" % path, "%s %r" % (status, body[:80]))
    status, body, headers = t.get("/")
    check(status == 200 and "Content-Security-Policy" in headers, "GET /: the console, with its CSP",
          (status, headers))
    check(t.get("/healthz?x=1")[0] == 200, "GET /healthz?x=1: 200", t.get("/healthz?x=1")[0])

    # The gauges follow changes of the rows.
    r.sql("UPDATE region_index SET cron_schedule = '0 0 * * *' WHERE code = 'bad-cron'")
    r.sql("UPDATE region_index SET active = true WHERE code = 'inactive'")
    r.sql("UPDATE region_index SET active = true WHERE code = 'bad-inactive'")
    wait_for(lambda: (t.metric("tickd_schedules"), t.metric("tickd_invalid_schedules")) == (4, 1), 3,
             "tickd_schedules 4 and tickd_invalid_schedules 1 after the updates")


rig.main(test)
