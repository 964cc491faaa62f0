#!/usr/bin/env python3
"""Draws the lateness distributions that bench/steady.py, bench/peers/burst.py and
bench/pg_cron.py saved in .cache/bench/ (or $TICKD_BENCH_DATA) as cumulative distributions,
tickd against node-cron, croner and pg_cron, with gnuplot (Debian gnuplot-nox, installed here
when missing) into docs/bench-lateness.png: one panel per comparison, log-scale lateness.

usage: bench/plot.py [TICKD] [--out docs/bench-lateness.png] [--steady N] [--burst N] [--pgcron K]
(TICKD is ignored: bench/run passes it to every script)"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import benchlib as B
import peerlib as P

COLORS = {"tickd": "#1f77b4", "node-cron": "#d62728", "croner": "#ff7f0e", "pg_cron": "#2ca02c"}


def ensure_gnuplot():
    if not shutil.which("gnuplot"):
        B.apt_install("gnuplot-nox")


def load(name):
    path = os.path.join(P.data_dir(), name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def cdf_file(tmp, name, hist):
    """Two columns: lateness (ms, floored at 0.1 ms for the log axis), cumulative fraction."""
    total = P.hist_count(hist)
    path = os.path.join(tmp, name + ".dat")
    seen = 0
    with open(path, "w") as f:
        for upper, c in hist:
            seen += c
            f.write("%g %g\n" % (max(upper, 0.1), seen / total))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd", nargs="?")
    ap.add_argument("--out", default=os.path.join(P.ROOT, "docs", "bench-lateness.png"))
    ap.add_argument("--steady", type=int, default=10000)
    ap.add_argument("--burst", type=int, default=10000)
    ap.add_argument("--pgcron", type=int, default=1000)
    args = ap.parse_args()
    ensure_gnuplot()
    panels = [
        ("Every second, N = {:,} (60 s)".format(args.steady), "steady-%d" % args.steady,
         ["tickd", "node-cron", "croner"]),
        ("One minute burst, N = {:,}".format(args.burst), "burst-%d" % args.burst, ["tickd", "node-cron", "croner"]),
        ("Every minute, SELECT 1, K = {:,}".format(args.pgcron), "pgcron-%d" % args.pgcron, ["tickd", "pg_cron"]),
    ]
    tmp = tempfile.mkdtemp(prefix="tickd-plot.")
    try:
        script = ["set terminal pngcairo size 1650,520 font 'Sans,10'",
                  "set output '%s'" % args.out,
                  "set multiplot layout 1,%d title 'Lateness (start minus scheduled instant), cumulative'"
                  % len(panels),
                  "set logscale x", "set xrange [0.1:*]", "set yrange [0:1]", "set grid",
                  "set xlabel 'lateness, ms (log)'", "set ylabel 'fraction of runs'",
                  "set key top left opaque box"]
        drawn = 0
        for title, prefix, systems in panels:
            plots = []
            for system in systems:
                d = load("%s-%s" % (prefix, system))
                if not d or not d["hist"]:
                    continue
                dat = cdf_file(tmp, "%s-%s" % (prefix, system), d["hist"])
                p99 = P.hist_quantile_ms(d["hist"], 99)
                label = "%s (p99 %s, %s runs)" % (d["label"], P.fmt_late(p99), "{:,}".format(P.hist_count(d["hist"])))
                plots.append("'%s' using 1:2 with steps lw 2 lc rgb '%s' title '%s' noenhanced"
                             % (dat, COLORS[system], label))
            script.append("set title '%s'" % title)
            if plots:
                script.append("plot " + ", ".join(plots))
                drawn += 1
            else:
                script.append("set label 1 'no data' at graph 0.5,0.5 center")
                script.append("plot NaN notitle")
                script.append("unset label 1")
        script.append("unset multiplot")
        if drawn == 0:
            sys.exit("plot: no data in %s (run bench/steady.py, bench/peers/burst.py, bench/pg_cron.py)"
                     % P.data_dir())
        subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
        print("plot: wrote %s" % os.path.relpath(args.out, P.ROOT))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
