"""Issue 12, item 2: one region's tick_sql could take the whole replica set down until restart.
`SELECT set_config('search_path','no_such_schema',false)` changed the search_path of the pooled
session it ran on; the next claim, end or heartbeat on that session failed with `relation
"job_run" does not exist`, the replicas marked each other's ticks abandoned, reported
tickd_db_up 0 and could not even apply `active=false` on the attacking region.

Here two real replicas run that tick_sql every second, in regions owned by each of them,
beside ordinary regions whose own tick_sql names a table unqualified (so a poisoned session
handed to them would fail too). For 8 s every ordinary tick ends ok, on both replicas, with
nothing failed or abandoned, no "does not exist" logged and tickd_db_up 1; then deactivating
the attacking regions is applied within a second and their ticks stop. Without the reset of
a handler connection after its tick_sql (the code before 67eebb2) the poisoned sessions fail
every later statement; with the reset but before c8fb5e8 every attacking tick failed, its
mark (UPDATE job_run, in the tick_sql's transaction) run under the tick_sql's search_path:
`relation "job_run" does not exist`."""
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

ATTACK = "SELECT set_config('search_path','no_such_schema',false)"
M64 = (1 << 64) - 1


def _fnv1a(s):
    h = 14695981039346656037
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) & M64
    return h


def _mix(x):
    x = (x + 0x9e3779b97f4a7c15) & M64
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M64
    return x ^ (x >> 31)


def owner(region_id, replicas):
    """The replica that claims the region's ticks first: src/dispatch/ownership.cpp's
    rendezvous hash, so that each replica surely runs the attack (it poisons only the sessions
    of the replica that runs it)."""
    return max(replicas, key=lambda r: (_mix(_fnv1a(r) ^ _mix(region_id)), -_fnv1a(r)))


def test(r):
    replicas = [r.schema + "-a", r.schema + "-b"]  # rig.start_tickd's replica ids
    attack, plain = {}, {}  # id -> owner
    for i in range(40):
        if len(set(attack.values())) == 2 and all(list(plain.values()).count(x) >= 2 for x in replicas):
            break
        need_attack = len(set(attack.values())) < 2
        code = ("attack%d" if need_attack else "plain%d") % i
        sql = ATTACK if need_attack else "SELECT count(*) FROM region_index WHERE id = $1"
        rid = r.add_region(code, "* * * * * *", tick_sql=sql)
        (attack if need_attack else plain)[rid] = owner(rid, replicas)
    a = r.start_tickd("a")
    b = r.start_tickd("b")
    wait_for(lambda: r.sql_value("SELECT count(*) FROM tickd_replica") == 2, 5, "both replicas heartbeat")
    time.sleep(1.5)  # each replica has read the other's heartbeat: ownership is split
    t0 = r.sql_value("SELECT now()")
    time.sleep(8)

    def rows(ids, since, seconds):
        # Instants that have had a second to end: the latest one may still be running.
        return r.sql("SELECT region_id, replica_id, status, error FROM job_run WHERE region_id = ANY(%s) "
                     "AND scheduled_for >= %s AND scheduled_for < %s + make_interval(secs => %s)",
                     (list(ids), since, since, seconds))

    ran = rows(attack, t0, 7)
    for rep in replicas:
        n = sum(1 for _, who, status, _ in ran if who == rep and status == "ok")
        check(n >= 4, "the attack ran, and succeeded, on replica %s" % rep, ran)
    done = rows(plain, t0, 7)
    bad = [x for x in done + ran if x[2] != "ok"]
    check(not bad, "every tick of those 7 s ended ok (none failed, abandoned or left running)", bad)
    for rid in plain:
        n = sum(1 for x in done if x[0] == rid)
        check(n >= 5, "region %d ticked on (7 ticks due)" % rid, done)
    for rep in replicas:
        n = sum(1 for x in done if x[1] == rep)
        check(n >= 8, "replica %s claimed and ended its own ordinary ticks" % rep, done)
    for t in (a, b):
        check(t.metric("tickd_db_up") == 1, "tickd %s: tickd_db_up 1" % t.name, t.metric("tickd_db_up"))
        for outcome in ("failed", "abandoned"):
            v = t.metric("tickd_ticks_total", outcome=outcome)
            check(v == 0, "tickd %s: tickd_ticks_total{outcome=%s} 0" % (t.name, outcome), v)
        check("does not exist" not in t.log(), "tickd %s never logged 'does not exist'" % t.name,
              [line for line in t.log().splitlines() if "does not exist" in line][:5])

    r.sql("UPDATE region_index SET active = false WHERE id = ANY(%s)", (list(attack),))
    t1 = r.sql_value("SELECT now()")
    time.sleep(4)
    late = r.sql("SELECT region_id, scheduled_for, replica_id FROM job_run "
                 "WHERE region_id = ANY(%s) AND scheduled_for >= %s + interval '1 second'", (list(attack), t1))
    check(not late, "no tick of a deactivated attacking region from commit + 1 s on", late)
    after = rows(plain, t1, 3)
    check(len(after) >= 2 * len(plain) and all(x[2] == "ok" for x in after),
          "the ordinary regions tick on, ok", after)
    for t in (a, b):
        check(t.metric("tickd_schedules") == len(plain), "tickd %s schedules only the ordinary regions" % t.name,
              t.metric("tickd_schedules"))


rig.main(test)
