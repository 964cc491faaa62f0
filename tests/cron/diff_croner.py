#!/usr/bin/python3
"""Differential check: `tickd cron next` against croner's nextRuns.

Usage: diff_croner.py PATH/TO/tickd PATH/TO/croner_next.cjs   (meson test --suite diff)

Generates a few hundred valid expressions from a fixed seed, covering every syntax element
that both engines accept, and compares the next fire instants in UTC from several starting
points. Then, around the DST changes of three zones, it compares the expressions on which
croner follows the contract's DST rules (see DST_COMPARABLE).
Exit 77 (skipped) when TICKD_NODE_MODULES is unset or node is missing.

Every disagreement must be fixed or listed in KNOWN_DIFFERENCES below with the reason; the
listed ones are checked too, so the list stays true.
"""
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys

SEED = 20260308
EXPRESSIONS = 400
COUNT = 8
STARTS = ["2026-01-01T00:00:00Z", "2027-12-31T23:59:30Z", "2024-02-28T12:34:56Z"]

# Deliberate differences: expression -> (what croner does, why tickd differs). Each entry is
# run through both engines to confirm the difference still exists.
KNOWN_DIFFERENCES = {
    "0 0 L-2 * *": (
        "croner refuses L-n",
        "the contract requires L-n in day-of-month (the n-th day before the last)"),
    "0 0 * * 7/2": (
        "croner reads 7/2 as the empty range 7-6 and never fires",
        "7 is Sunday; 'a/n' starting at 7 means Sunday, as 7 alone does"),
    "0 0 LW,15 * *": (
        "croner refuses LW inside a list",
        "a list element may be any day-of-month element; LW,15 is the last weekday or the 15th"),
    "0 0 * * SUN-SUN": (
        "croner reads SUN at the end of a range as 7, so SUN-SUN is 0-7, every day",
        "SUN-SUN is Sunday alone; SUN ends a range as 7 only after a later start (MON-SUN)"),
    "0 0 * * * * 2027": (
        "croner accepts a 7th (year) field",
        "the contract allows 5 or 6 fields; tickd refuses a 7th with an error"),
}

# DST: croner runs "fixed-time" jobs (a single value in seconds, minutes and hours) once after a
# gap and once at the first of two occurrences, and every other job in real time. The contract
# agrees on both kinds when the hour field matches all 24 hours (real time) or when seconds,
# minutes and hours are single values (fixed time). For an hour field that is restricted but
# not a single value (`*/15 1 * * *`, `30 1-3 * * *`) croner skips gap times and fires
# repeated times twice, where the contract fires gap times once at the end of the gap and
# repeated ones once: those are not compared (testing-notes.md, "Reference cron engines"),
# except the two KNOWN_DST_DIFFERENCES that confirm the difference.
DST_STARTS = {
    "America/New_York": ["2026-03-08T04:00:00Z", "2026-10-31T23:00:00Z"],
    "Europe/London": ["2026-03-28T22:00:00Z", "2026-10-24T22:00:00Z"],
    "Australia/Lord_Howe": ["2026-10-03T12:00:00Z", "2026-04-04T12:00:00Z"],
}
DST_HANDPICKED = [
    "0 * * * *", "*/15 * * * *", "*/7 * * * *", "30 * * * *", "0,30 * * * *", "* * * * *",
    "30 2 * * *", "30 1 * * *", "0 2 * * *", "15 2 * * *", "45 1 * * *", "0 3 * * *",
    "0 30 2 * * *", "59 59 1 * * *", "0 0 2 * * *", "*/20 * * * * *", "0 0-23 * * *",
]
KNOWN_DST_DIFFERENCES = {
    ("*/15 1 * * *", "America/New_York", "2026-10-31T23:00:00Z"): (
        "croner fires 01:00-01:45 twice (EDT and EST)",
        "the contract fires a repeated wall time once, at its first occurrence"),
    ("30 1-3 * * *", "America/New_York", "2026-03-08T04:00:00Z"): (
        "croner skips 02:30 on the spring-forward day",
        "the contract fires a wall time in the gap once, at the first instant after it"),
}

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def any_case(rng, name):
    return rng.choice([name, name.lower(), name.capitalize()])


def value(rng, lo, hi, names=None, name_base=0):
    v = rng.randint(lo, hi)
    if names and rng.random() < 0.4 and 0 <= v - name_base < len(names):
        return any_case(rng, names[v - name_base]), v
    return str(v), v


def element(rng, lo, hi, names=None, name_base=0, open_hi=None):
    """One list element of a plain field: v, a-b, a-b/n, */n, a/n."""
    open_hi = hi if open_hi is None else open_hi
    kind = rng.choice(["value", "value", "range", "range_step", "star_step", "from_step"])
    if kind == "value":
        return value(rng, lo, hi, names, name_base)[0]
    if kind in ("range", "range_step"):
        a_text, a = value(rng, lo, hi - 1, names, name_base)
        b_text, _ = value(rng, a, hi, names, name_base)
        text = f"{a_text}-{b_text}"
        if kind == "range_step":
            text += f"/{rng.randint(1, max(1, (hi - lo) // 2))}"
        return text
    if kind == "star_step":
        return f"*/{rng.randint(1, open_hi - lo + 1)}"
    a_text, _ = value(rng, lo, open_hi, names, name_base)
    return f"{a_text}/{rng.randint(1, max(1, (open_hi - lo) // 2))}"


def field(rng, lo, hi, names=None, name_base=0, open_hi=None, star=0.35, extra=None):
    r = rng.random()
    if r < star:
        return "*"
    if extra and r < star + 0.2:
        return extra(rng)
    n = rng.choice([1, 1, 1, 2, 3])
    return ",".join(element(rng, lo, hi, names, name_base, open_hi) for _ in range(n))


def dom_extra(rng):
    return rng.choice(["L", "LW", f"{rng.randint(1, 31)}W", "?", f"{rng.randint(1, 28)},L"])


def dow_extra(rng):
    day = lambda: value(rng, 0, 7, DAYS)[0] if rng.random() < 0.5 else str(rng.randint(0, 7))
    return rng.choice([f"{day()}L", f"{day()}#{rng.randint(1, 5)}", "?", "7",
                       any_case(rng, f"{DAYS[rng.randint(1, 6)]}-SUN"),
                       f"{day()}#{rng.randint(1, 5)},{day()}L"])


def dow_field(rng):
    r = rng.random()
    if r < 0.45:
        return "*"
    if r < 0.65:
        return dow_extra(rng)
    # open ranges (a/n, */n) in day-of-week run to 6; avoid "7/n" (see KNOWN_DIFFERENCES)
    while True:
        text = field(rng, 0, 7, DAYS, star=0, open_hi=6)
        parts = [part.upper() for part in text.split(",")]
        if not any(p.startswith("7/") or p.startswith("0-SUN") or p.startswith("SUN-SUN")
                   for p in parts):
            return text


def generate(rng):
    r = rng.random()
    if r < 0.04:
        return rng.choice(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                           "@hourly"])
    parts = []
    if r < 0.35:
        parts.append(field(rng, 0, 59, star=0.2))
    parts += [
        field(rng, 0, 59, star=0.15),
        field(rng, 0, 23, star=0.3),
        field(rng, 1, 31, star=0.55, extra=dom_extra),
        field(rng, 1, 12, MONTHS, 1, star=0.6),
        dow_field(rng),
    ]
    return " ".join(parts)


def expand(text, lo, hi):
    """The set of values of a plain numeric field (seconds, minutes or hours)."""
    values = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            a, b = lo, hi
        elif "-" in base:
            a, b = (int(x) for x in base.split("-"))
        else:
            a = int(base)
            b = hi if step else a
        values.update(range(a, b + 1, int(step) if step else 1))
    return values


def dst_comparable(expr):
    """True when croner applies the contract's DST rule to expr (see DST_COMPARABLE)."""
    if expr.startswith("@"):
        return True  # hourly: all hours; the others: single values
    fields = expr.split()
    sec, minute, hour = (fields[0], fields[1], fields[2]) if len(fields) == 6 \
        else ("0", fields[0], fields[1])
    if expand(hour, 0, 23) == set(range(24)):
        return True
    return all(f.isdigit() for f in (sec, minute, hour))


def tickd_next(tickd, expr, start, count, zone="UTC"):
    r = subprocess.run([tickd, "cron", "next", expr, "--from", start, "--count", str(count),
                        "--tz", zone], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return {"error": r.stderr.strip()}
    return r.stdout.split()


def croner_next(script, items):
    r = subprocess.run(["node", script], input=json.dumps(items), capture_output=True,
                       text=True, timeout=300, check=True)
    return json.loads(r.stdout)


def main():
    if len(sys.argv) != 3:
        print("usage: diff_croner.py PATH/TO/tickd PATH/TO/croner_next.cjs", file=sys.stderr)
        return 2
    tickd, script = sys.argv[1], sys.argv[2]
    modules = os.environ.get("TICKD_NODE_MODULES")
    if not modules:
        print("SKIP: TICKD_NODE_MODULES is not set (./scripts/test installs croner and sets it)")
        return 77
    if not shutil.which("node") or not os.path.isdir(os.path.join(modules, "croner")):
        print(f"SKIP: node or {modules}/croner is missing")
        return 77

    rng = random.Random(SEED)
    expressions = []
    while len(expressions) < EXPRESSIONS:
        e = generate(rng)
        if e not in expressions and e not in KNOWN_DIFFERENCES:
            expressions.append(e)
    items = [{"expr": e, "from": s, "count": COUNT} for e in expressions for s in STARTS]
    dst_exprs = DST_HANDPICKED + [e for e in expressions if dst_comparable(e)]
    items += [{"expr": e, "from": s, "count": COUNT, "zone": z}
              for z, starts in DST_STARTS.items() for s in starts for e in dst_exprs]
    known = [{"expr": e, "from": STARTS[0], "count": COUNT} for e in KNOWN_DIFFERENCES]
    known += [{"expr": e, "from": s, "count": COUNT, "zone": z}
              for (e, z, s) in KNOWN_DST_DIFFERENCES]
    theirs = croner_next(script, items + known)

    with concurrent.futures.ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) * 2) as pool:
        ours = list(pool.map(lambda i: tickd_next(tickd, i["expr"], i["from"], i["count"],
                                                  i.get("zone", "UTC")), items))
    failures = 0
    for item, want, got in zip(items, theirs, ours):
        if got != want:
            failures += 1
            print(f"DIFFERENT: '{item['expr']}' in {item.get('zone', 'UTC')} from {item['from']}"
                  f"\n  tickd : {got}\n  croner: {want}")
    for item, want in zip(known, theirs[len(items):]):
        zone = item.get("zone", "UTC")
        got = tickd_next(tickd, item["expr"], item["from"], item["count"], zone)
        key = (item["expr"], zone, item["from"]) if "zone" in item else item["expr"]
        what, why = (KNOWN_DST_DIFFERENCES if "zone" in item else KNOWN_DIFFERENCES)[key]
        if got == want:
            failures += 1
            print(f"STALE KNOWN DIFFERENCE: '{item['expr']}' in {zone} now agrees: {got}")
        else:
            print(f"known difference '{item['expr']}' in {zone}: {what}; {why}")
    utc_items = len(expressions) * len(STARTS)
    print(f"{len(expressions)} expressions x {len(STARTS)} starts in UTC, "
          f"{len(dst_exprs)} expressions x {sum(len(v) for v in DST_STARTS.values())} starts "
          f"around DST changes ({utc_items} + {len(items) - utc_items} comparisons of {COUNT} "
          f"instants): {failures} disagreements, "
          f"{len(KNOWN_DIFFERENCES) + len(KNOWN_DST_DIFFERENCES)} documented differences")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main())
