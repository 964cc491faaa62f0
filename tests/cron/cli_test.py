#!/usr/bin/python3
"""`tickd cron next|check` as a process: output format, exit codes, one-line errors.

Usage: cli_test.py PATH/TO/tickd   (meson test --suite cli)
"""
import re
import subprocess
import sys
import unittest
from datetime import datetime, timezone

TICKD = None
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def tickd(*args):
    return subprocess.run([TICKD, *args], capture_output=True, text=True, timeout=30)


class NextPrintsInstants(unittest.TestCase):
    def test_the_issue_example_prints_the_gap_fire_then_the_next_day(self):
        r = tickd("cron", "next", "30 2 * * *", "--tz", "America/New_York",
                  "--from", "2026-03-08T06:00:00Z", "--count", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "2026-03-08T07:00:00Z\n2026-03-09T06:30:00Z\n")
        self.assertEqual(r.stderr, "")

    def test_hourly_runs_every_real_hour_through_fall_back(self):
        r = tickd("cron", "next", "0 * * * *", "--tz", "America/New_York",
                  "--from", "2026-11-01T04:30:00Z", "--count", "2")
        self.assertEqual(r.stdout, "2026-11-01T05:00:00Z\n2026-11-01T06:00:00Z\n")

    def test_default_is_five_instants_after_now_in_utc(self):
        before = datetime.now(timezone.utc).replace(microsecond=0)
        r = tickd("cron", "next", "* * * * * *")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 5)
        for line in lines:
            self.assertRegex(line, RFC3339_UTC)
        times = [datetime.strptime(l, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
                 for l in lines]
        self.assertEqual(times, sorted(set(times)))
        self.assertGreater(times[0], before)

    def test_the_default_zone_is_utc(self):
        a = tickd("cron", "next", "30 2 * * *", "--from", "2026-03-08T00:00:00Z", "--count", "1")
        b = tickd("cron", "next", "30 2 * * *", "--tz", "UTC",
                  "--from", "2026-03-08T00:00:00Z", "--count", "1")
        self.assertEqual(a.stdout, "2026-03-08T02:30:00Z\n")
        self.assertEqual(a.stdout, b.stdout)

    def test_from_accepts_an_offset_and_a_fraction_and_fires_strictly_after_it(self):
        r = tickd("cron", "next", "30 2 * * *", "--tz", "America/New_York",
                  "--from", "2026-03-08T01:00:00.5-05:00", "--count", "1")
        self.assertEqual(r.stdout, "2026-03-08T07:00:00Z\n")
        r = tickd("cron", "next", "* * * * * *", "--from", "2026-01-01T00:00:00.250Z",
                  "--count", "2")
        self.assertEqual(r.stdout, "2026-01-01T00:00:01Z\n2026-01-01T00:00:02Z\n")
        r = tickd("cron", "next", "0 0 * * *", "--from", "2026-01-01T00:00:00+00:00",
                  "--count", "1")
        self.assertEqual(r.stdout, "2026-01-02T00:00:00Z\n")
        r = tickd("cron", "next", "0 * * * *", "--from", "2026-01-01T10:30:00+05:30",
                  "--count", "1")
        self.assertEqual(r.stdout, "2026-01-01T06:00:00Z\n")

    def test_options_may_be_written_with_an_equals_sign_and_before_the_expression(self):
        r = tickd("cron", "next", "--count=1", "--tz=Europe/London",
                  "--from=2026-03-28T12:00:00Z", "30 1 * * *")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "2026-03-29T01:00:00Z\n")

    def test_macros_and_six_fields_work_on_the_command_line(self):
        r = tickd("cron", "next", "@weekly", "--from", "2026-01-01T00:00:00Z", "--count", "1")
        self.assertEqual(r.stdout, "2026-01-04T00:00:00Z\n")
        r = tickd("cron", "next", "*/20 * * * * *", "--from", "2026-01-01T00:00:00Z",
                  "--count", "2")
        self.assertEqual(r.stdout, "2026-01-01T00:00:20Z\n2026-01-01T00:00:40Z\n")

    def test_an_expression_that_never_fires_prints_nothing_and_says_so(self):
        r = tickd("cron", "next", "0 0 30 2 *", "--from", "2026-01-01T00:00:00Z")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "")
        self.assertIn("never fires", r.stderr)

    def test_the_last_instants_before_year_10000(self):
        r = tickd("cron", "next", "0 0 31 12 *", "--from", "9998-06-01T00:00:00Z")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "9998-12-31T00:00:00Z\n9999-12-31T00:00:00Z\n")
        self.assertIn("only 2 more", r.stderr)


class CheckValidates(unittest.TestCase):
    def test_a_valid_expression_prints_nothing_and_exits_0(self):
        for args in (["0 9 * * MON-FRI"], ["@daily", "--tz", "Australia/Lord_Howe"],
                     ["0 0 L-2 * *", "--tz=Asia/Kathmandu"]):
            r = tickd("cron", "check", *args)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""), args)

    def test_an_expression_that_never_fires_is_still_valid(self):
        self.assertEqual(tickd("cron", "check", "0 0 30 2 *").returncode, 0)


class BadInputExits2WithOneLine(unittest.TestCase):
    def assertBad(self, args, *needles):
        r = tickd("cron", *args)
        self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        self.assertEqual(r.stdout, "", args)
        self.assertEqual(r.stderr.count("\n"), 1, (args, r.stderr))
        self.assertTrue(r.stderr.endswith("\n"))
        for needle in needles:
            self.assertIn(needle, r.stderr, args)

    def test_an_invalid_expression_names_the_field_the_token_and_the_column(self):
        for sub in ("next", "check"):
            self.assertBad([sub, "61 * * * *"], "minute: 61 is out of range 0-59 (column 1)")
            self.assertBad([sub, "0 0 * * * * *"], "expected 5 or 6 fields, found 7")
            self.assertBad([sub, "60 0 * * * *"], "second: 60 is out of range 0-59 (column 1)")
            self.assertBad([sub, "0 24 * * *"], "hour: 24", "(column 3)")
            self.assertBad([sub, "0 0 L-31 * *"], "day-of-month:", "(column 7)")
            self.assertBad([sub, "0 0 * FOO *"], "month: 'FOO'", "(column 7)")
            self.assertBad([sub, "0 0 * * 1#6"], "day-of-week: occurrence 6", "(column 11)")
            self.assertBad([sub, "*/0 * * * *"], "minute: step 0")
            self.assertBad([sub, "5-1 * * * *"], "minute: range 5-1 goes backwards")
            self.assertBad([sub, "@fortnightly"], "unknown macro '@fortnightly'")
            self.assertBad([sub, ""], "the expression is empty")

    def test_an_unknown_zone_is_named(self):
        self.assertBad(["next", "* * * * *", "--tz", "Mars/Base"], "unknown zone 'Mars/Base'")
        self.assertBad(["check", "* * * * *", "--tz", "Mars/Base"], "unknown zone 'Mars/Base'")
        self.assertBad(["check", "* * * * *", "--tz", ""], "time zone")

    def test_a_from_before_the_searched_range_is_refused_not_moved(self):
        # Issue 12, item 10: it was quietly searched from 0000-01-03 instead.
        self.assertBad(["next", "0 0 * * *", "--from", "0000-01-01T00:00:00Z"],
                       "--from: '0000-01-01T00:00:00Z' is before 0000-01-03T00:00:00Z")
        r = tickd("cron", "next", "0 0 * * *", "--from", "0000-01-03T00:00:00Z", "--count", "1")
        self.assertEqual((r.returncode, r.stdout), (0, "0000-01-04T00:00:00Z\n"), r.stderr)

    def test_a_bad_from_says_what_an_rfc3339_time_looks_like(self):
        for value in ("yesterday", "2026-03-08", "2026-03-08T06:00:00", "2026-13-01T00:00:00Z",
                      "2026-02-30T00:00:00Z", "2026-03-08T24:00:00Z", "2026-03-08T06:00:00+5",
                      "2026-03-08T06:00:00Zjunk", "2026-03-08T06:00:00.Z"):
            self.assertBad(["next", "* * * * *", "--from", value], "--from", value)

    def test_a_bad_count_is_refused(self):
        for value in ("0", "-1", "x", "1.5", "100001", ""):
            self.assertBad(["next", "* * * * *", "--count", value], "--count")

    def test_an_unknown_option_is_refused(self):
        self.assertBad(["next", "* * * * *", "--zone", "UTC"], "unknown option '--zone'")
        self.assertBad(["check", "* * * * *", "--count", "3"], "unknown option '--count'")
        self.assertBad(["check", "* * * * *", "--from", "2026-01-01T00:00:00Z"],
                       "unknown option '--from'")

    def test_missing_or_extra_arguments_are_refused(self):
        self.assertBad(["next"], "missing EXPR")
        self.assertBad(["check", "--tz", "UTC"], "missing EXPR")
        self.assertBad(["next", "* * * * *", "--count"], "--count needs a value")
        self.assertBad(["next", "*", "*", "*", "*", "*"], "unexpected argument", "quote")
        self.assertBad([], "missing sub-command")
        self.assertBad(["later", "* * * * *"], "unknown sub-command 'later'")


def main():
    global TICKD
    if len(sys.argv) < 2:
        print("usage: cli_test.py PATH/TO/tickd", file=sys.stderr)
        return 2
    TICKD = sys.argv.pop(1)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    sys.exit(main())
