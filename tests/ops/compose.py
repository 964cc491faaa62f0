"""docker-compose.yml (no Docker engine here: parsed with Python's yaml) and the Dockerfile.

Compose: PostgreSQL with a health check; a one-shot `tickd migrate` after PostgreSQL is
healthy; three or more tickd replicas, each started after the migration succeeded, each with a
health check, a distinct TICKD_REPLICA_ID, a DATABASE_URL on the postgres service, an HTTP
address on all interfaces and a stop grace longer than SHUTDOWN_GRACE_MS; Prometheus with
config/prometheus mounted, scraping exactly the replicas (job "tickd") and loading the rules.
Dockerfile: two stages from Debian 12, a numeric non-root USER, TICKD_HTTP_ADDR=0.0.0.0:9464,
HEALTHCHECK on /healthz, ENTRYPOINT tickd with CMD run, and a build stage that installs the
-dev packages scripts/lib/packages.txt tags quickstart."""
import json
import os
import re
import shlex

from tickd_rig import ops
from tickd_rig.ops import load_yaml
from tickd_rig.util import run_main

SHUTDOWN_GRACE_S = 30


def seconds(v):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(v))
    assert m and v, "a duration like 40s or 1m30s, got %r" % v
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def env_of(svc):
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return env


def check_compose():
    c = load_yaml(ops.COMPOSE)
    s = c["services"]
    for name in ("postgres", "migrate", "prometheus"):
        assert name in s, "service %s is missing" % name

    pg = s["postgres"]
    assert pg["image"].startswith("postgres:"), pg["image"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"]), "postgres health check: pg_isready"

    # tickd connects as a role of its own, made by the init script, never as the superuser.
    su = pg["environment"]["POSTGRES_USER"]
    assert any(v.endswith(":/docker-entrypoint-initdb.d:ro") for v in pg.get("volumes", [])), \
        "postgres: the init script that makes tickd's role is mounted"
    init = os.path.join(os.path.dirname(ops.COMPOSE), "config", "postgres", "initdb", "10-tickd-role.sh")
    assert "NOSUPERUSER" in open(init).read(), "the init script makes a role without superuser"

    mig = s["migrate"]
    assert mig.get("command") in (["migrate"], "migrate"), "migrate runs `tickd migrate`: %r" % mig.get("command")
    assert str(mig.get("restart", "no")) == "no", "migrate is one-shot (restart: no)"
    assert mig["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "@postgres:5432/" in env_of(mig)["DATABASE_URL"]
    assert not env_of(mig)["DATABASE_URL"].startswith("postgres://%s:" % su), "migrate runs as tickd's role"

    tickd_image = mig["image"]
    replicas = {n: v for n, v in s.items()
                if v.get("image") == tickd_image and n != "migrate" and v.get("command") in (None, ["run"], "run")}
    assert len(replicas) >= 3, "at least three tickd replicas, found %s" % sorted(replicas)
    ids = {}
    for n, r in replicas.items():
        env = env_of(r)
        rid = env.get("TICKD_REPLICA_ID")
        assert rid, "%s: no TICKD_REPLICA_ID" % n
        assert rid not in ids, "%s and %s share TICKD_REPLICA_ID %s" % (n, ids[rid], rid)
        ids[rid] = n
        assert "@postgres:5432/" in env.get("DATABASE_URL", ""), "%s: DATABASE_URL on the postgres service" % n
        assert not env["DATABASE_URL"].startswith("postgres://%s:" % su), "%s: not as the superuser" % n
        assert env.get("TICKD_HTTP_ADDR", "0.0.0.0:9464") == "0.0.0.0:9464", "%s: TICKD_HTTP_ADDR" % n
        hc = r.get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), "%s: a health check" % n
        assert "/readyz" in " ".join(hc["test"]) or "/healthz" in " ".join(hc["test"]), "%s: health check on /readyz or /healthz" % n
        assert r["depends_on"]["migrate"]["condition"] == "service_completed_successfully", "%s: after migrate" % n
        assert seconds(r.get("stop_grace_period", "10s")) > SHUTDOWN_GRACE_S, \
            "%s: stop_grace_period must exceed SHUTDOWN_GRACE_MS (30 s)" % n
        assert r.get("restart") in ("unless-stopped", "always", "on-failure"), "%s: restart policy" % n
    print("replicas:", ", ".join("%s (%s)" % (n, env_of(r)["TICKD_REPLICA_ID"]) for n, r in sorted(replicas.items())))

    prom = s["prometheus"]
    assert "./config/prometheus:/etc/prometheus:ro" in prom["volumes"], prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    assert prom.get("healthcheck", {}).get("test"), "prometheus: a health check"
    pc = load_yaml(ops.PROM_CONFIG)
    jobs = {j["job_name"]: j for j in pc["scrape_configs"]}
    assert "tickd" in jobs, "prometheus.yml: a scrape job named tickd (the rules select it)"
    targets = {t for sc in jobs["tickd"]["static_configs"] for t in sc["targets"]}
    assert targets == {"%s:9464" % n for n in replicas}, \
        "prometheus.yml scrapes %s, the replicas are %s" % (sorted(targets), sorted(replicas))
    assert pc.get("rule_files"), "prometheus.yml loads the rules"
    rules_dir = os.path.join(ops.ROOT, "config/prometheus")
    import glob
    loaded = {os.path.realpath(p) for pat in pc["rule_files"] for p in glob.glob(os.path.join(rules_dir, pat))}
    assert os.path.realpath(ops.RULES) in loaded, "prometheus.yml rule_files %s miss %s" % (pc["rule_files"], ops.RULES)

    if "grafana" in s:
        assert s["grafana"].get("healthcheck", {}).get("test"), "grafana: a health check"
    return c


def check_dockerfile():
    ins = ops.dockerfile_instructions()
    froms = [a for i, a in ins if i == "FROM"]
    assert len(froms) >= 2, "multi-stage: %s" % froms
    assert all(re.match(r"debian:bookworm", f) for f in froms), "Debian 12 stages: %s" % froms
    assert froms[-1].startswith("debian:bookworm-slim"), "slim runtime stage: %s" % froms[-1]
    last = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    runtime = ins[last:]
    build = ins[:last]

    users = [a for i, a in runtime if i == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), "a numeric non-root USER, got %s" % users
    envs = " ".join(a for i, a in runtime if i == "ENV")
    assert re.search(r"\bTICKD_HTTP_ADDR=0\.0\.0\.0:9464\b", envs), "ENV TICKD_HTTP_ADDR=0.0.0.0:9464"
    hc = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert hc and "/healthz" in hc[-1], "HEALTHCHECK on /healthz"
    ep = [a for i, a in runtime if i == "ENTRYPOINT"]
    assert ep and json.loads(ep[-1]) == ["tickd"], "ENTRYPOINT [\"tickd\"], got %s" % ep
    cmd = [a for i, a in runtime if i == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["run"], "CMD [\"run\"], got %s" % cmd

    # The build stage installs the -dev packages of scripts/lib/packages.txt tagged quickstart
    # (so that the image builds whatever the quickstart builds).
    assert ("COPY", "scripts/lib/packages.txt /tmp/packages.txt") in build, \
        "the build stage copies scripts/lib/packages.txt"
    build_run = " ".join(a for i, a in build if i == "RUN")
    assert "/tmp/packages.txt" in build_run and "quickstart" in build_run, \
        "the build stage installs the quickstart -dev packages of packages.txt"
    wanted = []
    for line in open(os.path.join(ops.ROOT, "scripts/lib/packages.txt"), encoding="utf-8"):
        f = line.split("#", 1)[0].split()
        if len(f) >= 2 and f[0].endswith("-dev") and "quickstart" in f[1:]:
            wanted.append(f[0])
    assert "libpqxx-dev" in wanted, wanted
    print("Dockerfile: %d stages, build packages %s" % (len(froms), " ".join(wanted)))


def test():
    check_compose()
    check_dockerfile()
    di = open(os.path.join(ops.ROOT, ".dockerignore"), encoding="utf-8").read().split("\n")
    for must in (".git", "/build*"):
        assert must in di, ".dockerignore: %s" % must


if __name__ == "__main__":
    run_main(test)
