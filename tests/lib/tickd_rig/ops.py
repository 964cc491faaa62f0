"""Shared helpers of the tests/ops suite: paths, running commands, the known metric names, the
PromQL expressions of the shipped rules and Grafana dashboard, and the Dockerfile's
instructions.

Each test is `python3 tests/ops/NAME.py [PATH_TO_TICKD]`, exit 0 pass, 1 fail, 77 skipped
(util.Skip, with the reason on stdout): util.run_main."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from tickd_rig.util import Skip

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", ".."))
RULES = os.path.join(ROOT, "config/prometheus/rules/tickd.rules.yml")
RULE_TESTS = os.path.join(ROOT, "config/prometheus/tests/tickd.rules.test.yml")
PROM_CONFIG = os.path.join(ROOT, "config/prometheus/prometheus.yml")
DASHBOARD = os.path.join(ROOT, "config/grafana/dashboards/tickd.json")
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")

# Metrics the rules and dashboard may use that README.md's metrics table does not list (yet):
# planned by other issues, or proposed by this one. Keep in step with README "Operations".
PLANNED_METRICS = {
    "tickd_queue_jobs": "gauge",        # issue 5: work queues, {queue, status}
    "tickd_regions_overdue": "gauge",   # proposed: regions with no claimed tick for 2 periods
}


def need(program, why=""):
    path = shutil.which(program)
    if not path:
        raise Skip("%s is not installed%s" % (program, (" (" + why + ")") if why else ""))
    return path


def run(cmd, **kw):
    """subprocess.run with text output captured; fails with the command's output on a
    non-zero exit unless check=False."""
    check = kw.pop("check", True)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


def known_metrics():
    """{name: type} of the metrics tickd exposes (README.md's metrics table) plus the planned
    ones; histograms also contribute their _bucket, _sum and _count series."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    out = {}
    for name, kind in re.findall(r"^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram|summary) \|", text, re.M):
        out[name] = kind
    if "tickd_ticks_total" not in out:
        raise AssertionError("README.md's metrics table not found (no tickd_ticks_total row)")
    out.update(PLANNED_METRICS)
    for name, kind in list(out.items()):
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                out[name + suffix] = "histogram:" + suffix
    return out


_METRIC_TOKEN = re.compile(r"\b((?:tickd|process)_[a-zA-Z0-9_:]*)")


def metric_names(expr):
    """The tickd_* and process_* metric names an expression refers to."""
    return set(_METRIC_TOKEN.findall(expr))


def check_metric_names(where_exprs):
    """Fails when an expression names a tickd_/process_ metric that tickd does not expose."""
    known = known_metrics()
    bad = []
    for where, expr in where_exprs:
        for name in sorted(metric_names(expr)):
            if name not in known:
                bad.append("%s: unknown metric %s" % (where, name))
    if bad:
        raise AssertionError("expressions name metrics that neither README.md's metrics table nor "
                             "tickd_rig.ops.PLANNED_METRICS lists:\n  " + "\n  ".join(bad))


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def alert_rules():
    """[(alert name, rule dict)] of the shipped rules file."""
    doc = load_yaml(RULES)
    return [(r["alert"], r) for g in doc["groups"] for r in g["rules"] if "alert" in r]


# ---- the Grafana dashboard ---------------------------------------------------------------

def dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def all_panels(d):
    out = []
    for p in d.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows keep their panels inside
    return out


def dashboard_exprs(d, substitutions):
    """[(where, PromQL)] of every panel target and every query variable, with the Grafana
    variables replaced from `substitutions` ({'$__rate_interval': '1m', ...}). A variable
    left over fails: the expression would not parse in Prometheus either."""
    raw = []
    for p in all_panels(d):
        for t in p.get("targets", []):
            if "expr" in t:
                raw.append(("panel %d %r target %s" % (p["id"], p.get("title"), t.get("refId")), t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
        m = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*", q)
        raw.append(("variable %s" % v["name"], m.group(1) if m else q))
    out = []
    # Longest names first, so that $instance is not taken for $inst...
    keys = sorted(substitutions, key=len, reverse=True)
    for where, expr in raw:
        e = expr
        for k in keys:
            e = e.replace("${%s}" % k.lstrip("$"), substitutions[k]).replace(k, substitutions[k])
        left = re.findall(r"\$\{?[A-Za-z_][A-Za-z0-9_]*", e)
        if left:
            raise AssertionError("%s: unknown Grafana variable(s) %s in %r" % (where, left, expr))
        out.append((where, e))
    return out


def tempdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def parse_metric_names(text):
    """The metric names of a Prometheus text exposition."""
    out = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            out.add(re.split(r"[{\s]", line, 1)[0])
    return out


def dockerfile_instructions():
    """[(INSTRUCTION, argument text)] of the Dockerfile, with continuation lines joined and
    comments dropped."""
    out, cur = [], ""
    for line in open(DOCKERFILE, encoding="utf-8"):
        s = line.rstrip("\n")
        if not cur and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if cur and s.lstrip().startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out
