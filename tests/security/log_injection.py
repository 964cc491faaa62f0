"""Issue 12, item 4: log injection in the text format. A region `code` or `cron_schedule` holding
`\\n2026-12-04T15:00:00.000Z info  FORGED LOG LINE` produced a well-formed forged line at every
reconcile, and ESC and CR bytes went to the terminal raw.

Three ways in, each a value from the database that tickd writes into a log line: a region's
code (invalid region warning), its cron_schedule (the warning quotes the expression) and a
tick_sql error PostgreSQL echoes (the failed-tick warning). tickd runs with LOG_FORMAT=text
and a reconcile every second. Its stderr must hold no raw ESC or CR byte, every line must
start with tickd's own timestamp and level (none with the forged one), and the forged text
must still be visible, escaped (`\\n`, `\\r`, `\\x1b`). Before the one escaping point (the code
before f93160d) the forged line was a line of its own, starting with the forged timestamp."""
import re
import time

from tickd_rig import rig
from tickd_rig.util import check, wait_for

FORGED = "\n2026-12-04T15:00:00.000Z info  FORGED LOG LINE \x1b[2J\x1b[31mred\rOVERWRITE"
ESCAPED = "\\n2026-12-04T15:00:00.000Z info  FORGED LOG LINE \\x1b[2J\\x1b[31mred\\rOVERWRITE"
LINE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (trace|debug|info |warning|error|critical) ")


def test(r):
    r.add_region("code" + FORGED, "not a cron")
    r.add_region("cron", "* * * * * *" + FORGED)
    # PostgreSQL quotes the value it could not read: the error text carries the bytes.
    literal = FORGED.replace("'", "''").replace("\x1b", "' || chr(27) || '").replace("\r", "' || chr(13) || '")
    literal = literal.replace("\n", "' || chr(10) || '")
    r.add_region("tick" + FORGED, "* * * * * *", tick_sql="SELECT ('%s')::int" % literal)
    t = r.start_tickd(LOG_FORMAT="text", REGION_REFRESH_INTERVAL_MS=1000)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run WHERE status = 'failed'") >= 2, 10,
             "two failed ticks of the tick_sql region")
    time.sleep(1.5)  # a few reconciles more
    with open(t.log_path, "rb") as f:
        raw = f.read()
    check(b"\x1b" not in raw, "no raw ESC byte in tickd's stderr", raw[max(0, raw.find(b"\x1b") - 80):][:200])
    check(b"\r" not in raw, "no raw CR byte in tickd's stderr", raw[max(0, raw.find(b"\r") - 80):][:200])
    lines = raw.split(b"\n")
    check(lines[-1] == b"", "stderr ends with a whole line", lines[-1][:200])
    forged = [x for x in lines if x.startswith(b"2026-12-04T15:00:00.000Z") or b"FORGED" in x[:40]]
    check(not forged, "no line starts with the forged text", forged[:3])
    strange = [x for x in lines[:-1] if not LINE.match(x)]
    check(not strange, "every line starts with tickd's timestamp and level", strange[:3])
    text = raw.decode("utf-8", "replace")
    for what, prefix in (("the code", "region code" + ESCAPED + ": not scheduled until fixed"),
                         ("the cron expression", "* * * * * *" + ESCAPED),
                         ("the tick_sql error", "region tick" + ESCAPED + ": tick ")):
        check(prefix in text, "%s visible, escaped: %r" % (what, prefix),
              [x for x in text.splitlines() if "FORGED" in x][:6])
    check(text.count("FORGED LOG LINE") >= 4, "the invalid regions warned at every change, the tick at every failure",
          text.count("FORGED LOG LINE"))


rig.main(test)
