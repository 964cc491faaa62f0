"""A real scrape: Debian's prometheus server (foreground, temp storage, 127.0.0.1, 1 s scrape
and rule evaluation, the shipped alert rules) scraping two `tickd run` replicas that share a
fresh schema with two regions firing every second. Checked through Prometheus' HTTP API:

- /api/v1/targets: both targets healthy, no lastError;
- `up` is 1 for each replica; `sum(rate(tickd_ticks_total{outcome="ran"}[30s]))` is > 0 and
  the same rate over 5 s is about 2 (two regions, once a second, run once across replicas);
- every shipped rule loads and evaluates without error; the availability alerts are inactive;
- every expression of the Grafana dashboard runs (and returns data when the metrics it names
  are exposed);
- the health checks of the Dockerfile and of docker-compose.yml, run as they are written,
  pass against a replica and fail against a closed port;
- after one replica is killed: its `up` is 0 and TickdReplicaDown is pending for it.

Usage: python3 prometheus_scrape.py PATH_TO_TICKD (TICKD_TEST_DATABASE_URL: a PostgreSQL)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from tickd_rig import ops, rig
from tickd_rig.util import SKIP, check, free_port, wait_for


class Prometheus:
    def __init__(self, r, targets):
        self.dir = os.path.join(r.tmp, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"))
        cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [ops.RULES],
            "scrape_configs": [{"job_name": "tickd", "static_configs": [{"targets": targets}]}],
        }
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.log_path = os.path.join(self.dir, "prometheus.log")
        for _ in range(5):
            self.port = free_port()
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [ops.need("prometheus", "Debian package prometheus"), "--config.file=" + self.config,
                 "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=info"],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
            r.cleanups.append(self.close)
            try:
                wait_for(self.ready, 30, "prometheus /-/ready", interval=0.2)
                return
            except AssertionError:
                if self.proc.poll() is not None and "address already in use" in self.text_log():
                    continue
                raise AssertionError("prometheus did not become ready; its log:\n" + self.text_log()[-4000:])
        raise AssertionError("could not start prometheus on a free port")

    def text_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited with %s:\n%s" % (self.proc.returncode, self.text_log()[-4000:]))
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
        return body

    def query(self, expr):
        """The result vector of an instant query; fails on a query error."""
        body = self.api("query", query=expr)
        check(body.get("status") == "success", "query %r succeeds" % expr, body)
        return body["data"]["result"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def healthcheck_commands():
    """[(where, argv)] of the Dockerfile's HEALTHCHECK and the compose replicas' health check."""
    out = []
    for word, arg in ops.dockerfile_instructions():
        if word == "HEALTHCHECK":
            m = re.search(r"\bCMD\s+(\[.*\])\s*$", arg)
            check(m, "the Dockerfile's HEALTHCHECK in exec form (CMD [...])", arg)
            out.append(("Dockerfile HEALTHCHECK", json.loads(m.group(1))))
    c = ops.load_yaml(ops.COMPOSE)
    hc = c["services"]["tickd-1"]["healthcheck"]["test"]
    check(hc[0] == "CMD", "compose health check in CMD form", hc)
    # Compose turns $$ into $ (and would substitute ${VAR} from the host: none may be left).
    argv = [a.replace("$$", "\0") for a in hc[1:]]
    check(not any(re.search(r"\$\{?[A-Za-z_]", a) for a in argv), "no compose-time variable in the health check", hc)
    out.append(("docker-compose.yml tickd health check", [a.replace("\0", "$") for a in argv]))
    return out


def run_healthcheck(argv, port):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TICKD_HTTP_ADDR": "0.0.0.0:%d" % port}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=10).returncode


def test(r):
    r.add_region("ops-a", "* * * * * *")
    r.add_region("ops-b", "* * * * * *")
    a = r.start_tickd("a")
    b = r.start_tickd("b")
    t_a, t_b = "127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port
    prom = Prometheus(r, [t_a, t_b])
    t0 = time.monotonic()

    def ran_rate(window):
        res = prom.query('sum(rate(tickd_ticks_total{outcome="ran"}[%s]))' % window)
        return res and float(res[0]["value"][1]) > 0 and float(res[0]["value"][1])
    # The query of the issue. rate() divides by the whole window: with fewer than 30 s of
    # samples it is below the true rate, hence only > 0 here ...
    wait_for(lambda: ran_rate("30s"), 30, "samples: sum(rate(tickd_ticks_total{outcome=\"ran\"}[30s])) > 0", interval=0.5)
    print("first sample of the [30s] rate after %.1f s" % (time.monotonic() - t0))
    # ... and about 2 ticks/s (two regions, every second, each run once across the replicas)
    # over a window that the samples fill.
    def settled():
        v = ran_rate("5s")
        return v and 1.6 <= v <= 2.5 and v
    rate = wait_for(settled, 15, "sum(rate(tickd_ticks_total{outcome=\"ran\"}[5s])) about 2", interval=0.5)
    print("sum(rate(tickd_ticks_total{outcome=\"ran\"}[5s])) = %.2f" % rate)

    ups = {s["metric"]["instance"]: float(s["value"][1]) for s in prom.query('up{job="tickd"}')}
    check(ups == {t_a: 1.0, t_b: 1.0}, "up == 1 for both replicas", ups)
    targets = prom.api("targets")["data"]["activeTargets"]
    seen = {t["labels"]["instance"]: (t["health"], t["lastError"]) for t in targets}
    check(seen == {t_a: ("up", ""), t_b: ("up", "")}, "both targets up with no lastError", seen)
    per = {s["metric"]["instance"]: s["value"][1] for s in prom.query('tickd_build_info{job="tickd"}')}
    check(set(per) == {t_a, t_b}, "tickd_build_info from both replicas", per)

    # The shipped rules: loaded, evaluated without error; nothing about availability fires.
    def rules_state():
        groups = prom.api("rules")["data"]["groups"]
        rules = {ru["name"]: ru for g in groups for ru in g["rules"] if ru["type"] == "alerting"}
        if not rules or any(ru.get("lastEvaluation", "").startswith("0001") for ru in rules.values()):
            return None
        return rules
    rules = wait_for(rules_state, 10, "the shipped rules evaluated at least once", interval=0.5)
    names = {n for n, _ in ops.alert_rules()}
    check(set(rules) == names, "every shipped alert loaded", sorted(set(rules) ^ names))
    bad = {n: ru.get("lastError") for n, ru in rules.items() if ru["health"] != "ok"}
    check(not bad, "every rule evaluates without error", bad)
    for n in ("TickdReplicaDown", "TickdNoReplicaReady", "TickdDatabaseDown", "TickdReconcileFailing",
              "TickdTicksFailing", "TickdMostTicksFailing", "TickdInvalidSchedules"):
        check(rules[n]["state"] == "inactive", "%s inactive on a healthy replica set" % n, rules[n]["state"])

    # The Grafana dashboard's expressions, against this server.
    exposed = set(ops.parse_metric_names(a.metrics_text()))
    exprs = ops.dashboard_exprs(ops.dashboard(), {"$__rate_interval": "10s", "$__interval": "5s", "$__range": "1m",
                                                  "$job": "tickd", "$instance": ".*"})
    empty = []
    for where, e in exprs:
        res = prom.query(e)
        names_in = ops.metric_names(e)
        if names_in and names_in <= exposed and "ALERTS" not in e and not res:
            empty.append("%s: %s" % (where, e))
    check(not empty, "every dashboard expression over exposed metrics returns data", "\n".join(empty))
    print("%d dashboard expressions ran" % len(exprs))

    # The container health checks, as written, against a live replica and a closed port.
    closed = free_port()
    for where, argv in healthcheck_commands():
        check(run_healthcheck(argv, a.port) == 0, "%s passes against a live replica" % where, argv)
        check(run_healthcheck(argv, closed) != 0, "%s fails against a closed port" % where, argv)
    print("health checks: ok")

    # One replica dies: Prometheus sees it down and TickdReplicaDown goes pending (for: 2m).
    b.kill()
    def b_down():
        ups = {s["metric"]["instance"]: float(s["value"][1]) for s in prom.query('up{job="tickd"}')}
        return ups.get(t_b) == 0.0 and ups.get(t_a) == 1.0
    wait_for(b_down, 10, "up == 0 for the killed replica, 1 for the other", interval=0.25)

    def pending():
        alerts = prom.api("alerts")["data"]["alerts"]
        return [x for x in alerts if x["labels"].get("alertname") == "TickdReplicaDown"
                and x["labels"].get("instance") == t_b and x["state"] == "pending"]
    wait_for(pending, 10, "TickdReplicaDown pending for the killed replica", interval=0.25)
    ready = prom.api("rules")["data"]["groups"]
    state = {ru["name"]: ru["state"] for g in ready for ru in g["rules"] if ru["type"] == "alerting"}
    check(state["TickdNoReplicaReady"] == "inactive", "TickdNoReplicaReady inactive while one replica is ready", state)
    print("total %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    for program in ("prometheus", "promtool"):
        if not shutil.which(program):
            print("SKIP: %s is not installed (Debian package prometheus)" % program)
            sys.exit(SKIP)
    rig.main(test)
