"""Handler work cannot starve short ticks or claims (issue 11, item 4): one replica with the
default DB_POOL_SIZE (8) runs 8 regions whose tick_sql takes 3 s next to 60 whose tick_sql
inserts a row, all every second. After a warm-up (a region's first run teaches tickd how long
its tick_sql holds a connection), every fast region has its row for every second; and no claim
ever reaches the database after its start deadline, warm-up included: claims have their own
threads and the bookkeeping pool, whatever the handlers hold.

In the warm-up the slow regions' first runs count as short and take all 8 connections for 3 s,
so the fast ticks of that instant wait for them (and the test leaves those seconds out).

Prints "fast-region seconds present: N/M (P%)", the figure to compare with an older binary:
    TICKD_TEST_DATABASE_URL=... /usr/bin/python3 tests/e2e/pool_starvation.py path/to/tickd"""
import calendar
import re
import time

from tickd_rig import rig
from tickd_rig.util import check, metric

SLOW = 8
FAST = 60
RUN_S = 17
WARM_UP_S = 6  # the slow regions' first run (3 s, expected short until then) plus a margin
EXPIRED = re.compile(r"tick (\S+Z) skipped: its claim reached the database after the start deadline")


def expired_claims(log):
    """The scheduled instants (Unix seconds) of the log's expired claims, one per tick."""
    return [calendar.timegm(time.strptime(m, "%Y-%m-%dT%H:%M:%SZ")) for m in EXPIRED.findall(log)]


def test(r):
    r.sql("CREATE TABLE fast_marks (region_id bigint, at timestamptz)")
    for i in range(SLOW):
        r.add_region("slow-%02d" % i, "* * * * * *", tick_sql="SELECT pg_sleep(3)")
    fast = [r.add_region("fast-%02d" % i, "* * * * * *",
                         tick_sql="INSERT INTO fast_marks (region_id, at) VALUES ($1, $2)")
            for i in range(FAST)]
    # DB_POOL_SIZE is left at its default (the rig removes it from the environment).
    t = r.start_tickd("a", CONCURRENCY=128, LOG_LEVEL="info")
    started = int(time.time())
    time.sleep(RUN_S)
    # Whole seconds after the warm-up whose fast ticks had time to finish (each takes
    # milliseconds once it has a connection; 2 s is plenty).
    first, last = started + WARM_UP_S, int(time.time()) - 2
    check(t.alive(), "tickd still running", t.proc.returncode)

    present = set(r.sql(
        "SELECT region_id, extract(epoch FROM at)::bigint FROM fast_marks "
        "WHERE at BETWEEN to_timestamp(%s) AND to_timestamp(%s)", [first, last]))
    wanted = {(region, s) for region in fast for s in range(first, last + 1)}
    missing = sorted(wanted - present, key=lambda m: (m[1], m[0]))
    got = len(wanted) - len(missing)
    print("fast-region seconds present: %d/%d (%.1f%%) over %d s after a %d s warm-up"
          % (got, len(wanted), 100.0 * got / len(wanted), last - first + 1, WARM_UP_S))
    expired = expired_claims(t.log())
    late = [s for s in expired if s >= first]
    print("claims that reached the database after their start deadline: %d in the warm-up, "
          "%d after it" % (len(expired) - len(late), len(late)))

    check(not missing, "every fast region has a row for every second of the window",
          "%d missing, first ones (region id, second): %s" % (len(missing), missing[:10]))
    check(not expired, "no claim expired, warm-up included (bookkeeping never waits behind handler work)",
          "%d ticks 'skipped: its claim reached the database after the start deadline', instants %s"
          % (len(expired), sorted(set(expired))))
    # Both pools show in /metrics.
    m = t.metrics()
    for pool in ("bookkeeping", "handlers"):
        n = metric(m, "tickd_db_pool_wait_seconds_count", pool=pool)
        check(n, "tickd_db_pool_wait_seconds{pool=%r} counted acquisitions" % pool, n)
    check(metric(m, "tickd_db_pool_size", pool="handlers") == 8, "tickd_db_pool_size{pool=handlers} 8",
          metric(m, "tickd_db_pool_size", pool="handlers"))


rig.main(test)
