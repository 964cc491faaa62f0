#!/usr/bin/env python3
"""The console at scale: with N regions in the database (each with a last run), the time from
DOMContentLoaded to the first region list on screen (the page's own performance mark,
'tickd-list-rendered', after it fetched and drew its list from /v1/regions), the median of
LOADS fresh loads in headless Chromium; next to it how much of that was the fetch and its
size, and the time GET /v1/regions?view=list takes whole and for a page of 100 (a replica
before paging refuses the page's parameters); what the page then costs per scroll step
(drawing the visible rows) and from a search typed to its rows on screen. Works against a
tickd from before paging too, for a side-by-side run.

usage: bench/console_load.py TICKD [N ...]   (default: 10000 100000)"""

import argparse
import statistics
import sys
import time
import urllib.error
import urllib.request

import benchlib as B
from tickd_rig import browser, rig
from tickd_rig.util import wait_for

LOADS = 7

# The first list's mark, from DOMContentLoaded and from the start of the navigation, the
# part of it spent fetching the list (request start to the last byte of the first
# /v1/regions request: the whole list before paging, its first page since) (ms), and that
# response's size (bytes).
TIMING = """
const mark = performance.getEntriesByName('tickd-list-rendered')[0];
if (!mark) return null;
const nav = performance.getEntriesByType('navigation')[0];
const api = performance.getEntriesByType('resource').find(e => new URL(e.name).pathname === '/v1/regions');
return [mark.startTime - nav.domContentLoadedEventStart, mark.startTime, api.responseEnd - api.requestStart,
        api.decodedBodySize];
"""

# Page functions timed in the page itself (console.js's globals): 50 scroll positions (the
# synchronous draw of the rows in view; since paging, rows whose page is not there yet are
# drawn empty and their page fetched), the median (ms).
SCROLL = """
const list = document.getElementById('list');
const scroll = [];
for (let i = 0; i < 50; i++) {
  list.scrollTop = Math.floor(Math.random() * list.scrollHeight);
  const t0 = performance.now();
  drawVisibleRows();
  scroll.push(performance.now() - t0);
}
list.scrollTop = 0;
drawVisibleRows();
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
return [median(scroll), document.querySelectorAll('#list-rows a').length];
"""

# A search typed at once, from its input event to its rows on screen (every row drawn
# contains it, and no row is still waiting for its page), whatever the page does in between
# (since paging: a 150 ms pause for more typing, then a request to the replica) (ms).
SEARCH = """
const [q, done] = arguments;
const box = document.getElementById('search');
box.value = q;
const t0 = performance.now();
box.dispatchEvent(new Event('input'));
const shown = () => {
  const rows = [...document.querySelectorAll('#list-rows > *')];
  return rows.length > 0 && rows.every((r) => r.dataset.code && r.dataset.code.toLowerCase().includes(q));
};
const poll = () => (shown() ? done(performance.now() - t0) : setTimeout(poll, 2));
poll();
"""


def get_ms(url):
    """Median of 5 GETs of `url` (ms, as text), or why not: a replica before paging refuses its parameters."""
    times = []
    try:
        for _ in range(5):
            t0 = time.monotonic()
            with urllib.request.urlopen(url, timeout=60) as resp:
                resp.read()
            times.append(time.monotonic() - t0)
    except urllib.error.HTTPError as e:
        return "HTTP %d" % e.code
    return B.fmt_ms(statistics.median(times))


def seed(r, n):
    B.insert_regions(r, n, "0 0 1 1 *")  # scheduled, but quiet: once a year
    # A last run for each, one in ten failed: the list sorts and shows them.
    r.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, started_at, finished_at, error) "
          "SELECT id, now() - interval '1 hour', 'bench', "
          "CASE WHEN id % 10 = 0 THEN 'failed' ELSE 'ok' END, now() - interval '1 hour', "
          "now() - interval '1 hour' + interval '0.2 s', "
          "CASE WHEN id % 10 = 0 THEN 'division by zero' END FROM region_index")


def one(tickd, n):
    r = rig.Rig(tickd)
    driver = None
    try:
        r.migrate()
        seed(r, n)
        t = r.start_tickd(name="a", LOG_LEVEL="warn", REGION_REFRESH_INTERVAL_MS=3600000)
        base = "http://127.0.0.1:%d" % t.port
        whole = get_ms(base + "/v1/regions?view=list")
        page = get_ms(base + "/v1/regions?view=list&limit=100")
        driver = browser.start()
        from_dcl, from_nav, fetching = [], [], []
        for i in range(LOADS + 1):
            driver.get("%s/?load=%d" % (base, i))
            timing = wait_for(lambda: driver.execute_script(TIMING), 60, "the list on screen", interval=0.02)
            if i:  # the first load warms the browser and the replica's connections
                from_dcl.append(timing[0])
                from_nav.append(timing[1])
                fetching.append(timing[2])
        size = timing[3]
        scroll_ms, drawn = driver.execute_script(SCROLL)
        driver.set_script_timeout(60)
        search_ms = statistics.median(driver.execute_async_script(SEARCH, q) for q in ["b4242", "b1", "b77"])
        return {
            "N": n, "GET list (whole)": whole, "GET list (a page of 100)": page,
            "first fetch": "%.1f MB" % (size / 1e6) if size >= 1e5 else "%.0f kB" % (size / 1e3),
            "DOMContentLoaded to list (median of %d)" % LOADS: "%.0f ms" % statistics.median(from_dcl),
            "min-max": "%.0f-%.0f ms" % (min(from_dcl), max(from_dcl)),
            "of which fetching": "%.0f ms" % statistics.median(fetching),
            "navigation to list": "%.0f ms" % statistics.median(from_nav),
            "scroll step": "%.1f ms" % scroll_ms, "search to rows": "%.0f ms" % search_ms,
            "rows in the DOM": drawn,
        }
    except BaseException:
        r.print_logs()
        raise
    finally:
        if driver is not None:
            browser.stop(driver)
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tickd")
    ap.add_argument("n", nargs="*", type=int, default=[10000, 100000])
    args = ap.parse_args()
    results = []
    for n in args.n:
        print("console load: N=%d ..." % n, file=sys.stderr, flush=True)
        results.append(one(args.tickd, n))
    headers = list(results[0].keys())
    print(B.table(headers, [[res[h] for h in headers] for res in results]))


if __name__ == "__main__":
    main()
