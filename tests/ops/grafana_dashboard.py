"""config/grafana: the dashboard JSON is a well-formed Grafana dashboard (unique panel ids,
panels inside the 24-column grid and not overlapping, every panel on the ${datasource}
variable), every PromQL expression it holds parses (`promtool check rules` on a rules file
made of them, Grafana variables substituted) and names only metrics that tickd exposes; the
provisioning files parse and point at the dashboard folder that docker-compose.yml mounts."""
import os

import yaml

from tickd_rig import ops
from tickd_rig.ops import check_metric_names, run
from tickd_rig.util import run_main

SUBST = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$job": "tickd", "$instance": ".*"}


def test():
    d = ops.dashboard()
    for key in ("uid", "title", "panels", "templating", "schemaVersion"):
        assert key in d, "dashboard: no %r" % key
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables.get("datasource", {}).get("type") == "datasource", "a 'datasource' variable of type datasource"
    assert variables["datasource"].get("query") == "prometheus"
    for v in ("job", "instance"):
        assert v in variables, "a %r variable" % v

    panels = ops.all_panels(d)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique: %s" % ids
    boxes = []
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, "panel %d: gridPos %s" % (p["id"], g)
        boxes.append((p["id"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
        if p["type"] == "row":
            continue
        assert p.get("title"), "panel %d has no title" % p["id"]
        assert p.get("datasource", {}).get("uid") == "${datasource}", "panel %d: datasource must be ${datasource}" % p["id"]
        assert p.get("targets"), "panel %d %r has no targets" % (p["id"], p["title"])
        for t in p["targets"]:
            assert t.get("expr", "").strip(), "panel %d target %s has no expr" % (p["id"], t.get("refId"))
            assert t.get("datasource", {}).get("uid") == "${datasource}", "panel %d target datasource" % p["id"]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]:
                raise AssertionError("panels %d and %d overlap" % (a[0], b[0]))

    exprs = ops.dashboard_exprs(d, SUBST)
    check_metric_names(exprs)
    promtool = ops.need("promtool", "Debian package prometheus")
    tmp = ops.tempdir("tickd-ops-dash-")
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:expr_%d" % i, "expr": e} for i, (_, e) in enumerate(exprs)]}]}
    path = os.path.join(tmp, "dashboard_exprs.yml")
    with open(path, "w") as f:
        yaml.safe_dump(rules, f)
    r = run([promtool, "check", "rules", path], check=False)
    if r.returncode != 0:
        raise AssertionError("an expression of the dashboard does not parse:\n%s%s\nexpressions:\n%s"
                             % (r.stdout, r.stderr, "\n".join("%d %s: %s" % (i, w, e) for i, (w, e) in enumerate(exprs))))
    print("%d panels, %d expressions parse" % (len(panels), len(exprs)))

    # Provisioning, as docker-compose.yml mounts it.
    prov = os.path.join(ops.ROOT, "config/grafana/provisioning")
    ds = ops.load_yaml(os.path.join(prov, "datasources/prometheus.yml"))
    assert ds["apiVersion"] == 1 and ds["datasources"][0]["type"] == "prometheus"
    dp = ops.load_yaml(os.path.join(prov, "dashboards/tickd.yml"))
    path = dp["providers"][0]["options"]["path"]
    compose = ops.load_yaml(ops.COMPOSE)
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./config/grafana/dashboards:%s:ro" % path in mounts, \
        "docker-compose.yml must mount config/grafana/dashboards at %s: %s" % (path, mounts)
    assert "./config/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts, mounts


if __name__ == "__main__":
    run_main(test)
