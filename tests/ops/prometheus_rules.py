"""The shipped Prometheus files: `promtool check config` (config/prometheus/prometheus.yml,
which loads the rules), `promtool check rules`, `promtool test rules` (the unit tests in
config/prometheus/tests), and that every alert has a unit test in which it fires, has a
severity and a summary, and names only metrics that tickd exposes."""
import os

from tickd_rig import ops
from tickd_rig.ops import check_metric_names, load_yaml, run
from tickd_rig.util import run_main


def test():
    promtool = ops.need("promtool", "Debian package prometheus")
    run([promtool, "check", "config", ops.PROM_CONFIG])
    r = run([promtool, "check", "rules", ops.RULES])
    print(r.stdout.strip())
    r = run([promtool, "test", "rules", ops.RULE_TESTS])
    print(r.stdout.strip())

    rules = ops.alert_rules()
    names = [n for n, _ in rules]
    assert len(names) == len(set(names)), "duplicate alert names: %s" % names
    problems = []
    for name, rule in rules:
        if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problems.append("%s: labels.severity must be critical, warning or info" % name)
        if not rule.get("annotations", {}).get("summary"):
            problems.append("%s: no annotations.summary" % name)
    # The list of alerts: each one must exist.
    wanted = ["TickdReplicaDown", "TickdNoReplicaReady", "TickdTickLatenessHigh", "TickdTicksFailing",
              "TickdTicksSkipped", "TickdTicksMissed", "TickdRegionOverdue", "TickdDatabaseDown",
              "TickdReconcileFailing", "TickdQueueGrowing"]
    for w in wanted:
        if w not in names:
            problems.append("alert %s is missing" % w)

    tests = load_yaml(ops.RULE_TESTS)
    rule_files = [os.path.normpath(os.path.join(os.path.dirname(ops.RULE_TESTS), f)) for f in tests["rule_files"]]
    assert rule_files == [ops.RULES], "the unit tests must load %s, they load %s" % (ops.RULES, rule_files)
    fired = set()
    for t in tests["tests"]:
        for a in t.get("alert_rule_test", []):
            if a.get("exp_alerts"):
                fired.add(a["alertname"])
    for name in names:
        if name not in fired:
            problems.append("%s: no unit test in which it fires" % name)

    # The README documents each alert (Operations > Alerts).
    readme = open(os.path.join(ops.ROOT, "README.md"), encoding="utf-8").read()
    for name in names:
        if name not in readme:
            problems.append("%s: not documented in README.md" % name)
    if problems:
        raise AssertionError("\n".join(problems))
    check_metric_names([("alert " + n, r["expr"]) for n, r in rules])
    print("%d alerts, each with a firing unit test" % len(names))


if __name__ == "__main__":
    run_main(test)
