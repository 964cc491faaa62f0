// The contract's daylight-saving rules, at spring-forward and fall-back, in zones with a
// one-hour shift, a 30-minute shift (Lord Howe) and none (Tokyo). Each row: expression, zone,
// from (UTC), and the next fire instants (UTC) with the wall time they stand for.

#include <doctest/doctest.h>

#include <vector>

#include "cron_test_util.hpp"

using namespace cron_test;

struct Row {
  const char* expression;
  const char* zone;
  const char* from;
  List fires;
};

void check_rows(const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    CAPTURE(row.expression);
    CAPTURE(row.zone);
    CAPTURE(row.from);
    CHECK(fires(row.expression, row.zone, row.from, static_cast<int>(row.fires.size())) ==
          row.fires);
  }
}

TEST_CASE("the contract's examples hold in America/New_York") {
  check_rows({
      // 02:30 does not exist on 2026-03-08: fires at 03:00 EDT, then 02:30 EDT next day.
      {"30 2 * * *",
       "America/New_York",
       "2026-03-08T06:00:00Z",
       {"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
      // 02:30 EST on 2026-11-01 (after fall-back).
      {"30 2 * * *",
       "America/New_York",
       "2026-10-31T12:00:00Z",
       {"2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"}},
      // Hourly runs every real hour: 01:00 EDT and 01:00 EST.
      {"0 * * * *",
       "America/New_York",
       "2026-11-01T04:30:00Z",
       {"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
  });
}

TEST_CASE("spring forward in America/New_York (02:00 EST becomes 03:00 EDT at 07:00Z)") {
  check_rows({
      // hourly: 01:00 EST, (02:00 does not occur), 03:00 EDT, 04:00 EDT
      {"0 * * * *",
       "America/New_York",
       "2026-03-08T05:30:00Z",
       {"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
      // every 15 minutes: 01:45 EST, 03:00 EDT, 03:15 EDT
      {"*/15 * * * *",
       "America/New_York",
       "2026-03-08T06:30:00Z",
       {"2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z"}},
      // daily 01:30: 01:30 EST, then 01:30 EDT
      {"30 1 * * *",
       "America/New_York",
       "2026-03-07T12:00:00Z",
       {"2026-03-08T06:30:00Z", "2026-03-09T05:30:00Z"}},
      // daily 02:30: in the gap, fires at 03:00 EDT
      {"30 2 * * *",
       "America/New_York",
       "2026-03-07T12:00:00Z",
       {"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
      // every 15 minutes of hour 2: the four gap times fire once, together, at 03:00 EDT
      {"*/15 2 * * *",
       "America/New_York",
       "2026-03-07T12:00:00Z",
       {"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z"}},
      // 02:30 and 03:00 both fire at 07:00Z, once
      {"0,30 2-3 * * *",
       "America/New_York",
       "2026-03-08T06:00:00Z",
       {"2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:00:00Z"}},
      // 01:30 EST, 02:30 (gap: 03:00 EDT), 03:30 EDT
      {"30 1-3 * * *",
       "America/New_York",
       "2026-03-08T05:00:00Z",
       {"2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"}},
  });
}

TEST_CASE("fall back in America/New_York (02:00 EDT becomes 01:00 EST at 06:00Z)") {
  check_rows({
      // hourly: 01:00 EDT, 01:00 EST, 02:00 EST
      {"0 * * * *",
       "America/New_York",
       "2026-11-01T04:30:00Z",
       {"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
      // every 15 minutes runs through the repeated hour: 01:45 EDT, 01:00 EST, 01:15 EST
      {"*/15 * * * *",
       "America/New_York",
       "2026-11-01T05:30:00Z",
       {"2026-11-01T05:45:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z"}},
      // daily 01:30: once, at the first occurrence (EDT)
      {"30 1 * * *",
       "America/New_York",
       "2026-10-31T12:00:00Z",
       {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
      // asked during the second pass through 01:xx: the next one is tomorrow
      {"30 1 * * *", "America/New_York", "2026-11-01T06:10:00Z", {"2026-11-02T06:30:00Z"}},
      // daily 02:30: 02:30 EST
      {"30 2 * * *",
       "America/New_York",
       "2026-10-31T12:00:00Z",
       {"2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"}},
      // every 15 minutes of hour 1: each wall time once, in EDT
      {"*/15 1 * * *",
       "America/New_York",
       "2026-11-01T04:00:00Z",
       {"2026-11-01T05:00:00Z", "2026-11-01T05:15:00Z", "2026-11-01T05:30:00Z",
        "2026-11-01T05:45:00Z", "2026-11-02T06:00:00Z"}},
      {"*/15 1 * * *", "America/New_York", "2026-11-01T06:20:00Z", {"2026-11-02T06:00:00Z"}},
      // 01:30 EDT, 02:30 EST, 03:30 EST
      {"30 1-3 * * *",
       "America/New_York",
       "2026-11-01T04:00:00Z",
       {"2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z", "2026-11-01T08:30:00Z"}},
  });
}

TEST_CASE("spring forward in Europe/London (01:00 GMT becomes 02:00 BST at 01:00Z)") {
  check_rows({
      {"0 * * * *",
       "Europe/London",
       "2026-03-28T23:30:00Z",
       {"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}},
      {"*/15 * * * *",
       "Europe/London",
       "2026-03-29T00:30:00Z",
       {"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"}},
      // daily 01:30: in the gap, fires at 02:00 BST
      {"30 1 * * *",
       "Europe/London",
       "2026-03-28T12:00:00Z",
       {"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
      {"30 2 * * *",
       "Europe/London",
       "2026-03-28T12:00:00Z",
       {"2026-03-29T01:30:00Z", "2026-03-30T01:30:00Z"}},
  });
}

TEST_CASE("fall back in Europe/London (02:00 BST becomes 01:00 GMT at 01:00Z)") {
  check_rows({
      {"0 * * * *",
       "Europe/London",
       "2026-10-24T23:30:00Z",
       {"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}},
      {"*/15 * * * *",
       "Europe/London",
       "2026-10-25T00:30:00Z",
       {"2026-10-25T00:45:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:15:00Z"}},
      {"30 1 * * *",
       "Europe/London",
       "2026-10-24T12:00:00Z",
       {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
      {"30 2 * * *",
       "Europe/London",
       "2026-10-24T12:00:00Z",
       {"2026-10-25T02:30:00Z", "2026-10-26T02:30:00Z"}},
  });
}

TEST_CASE("spring forward in Australia/Lord_Howe (02:00 +10:30 becomes 02:30 +11)") {
  check_rows({
      // hourly: 01:00 +10:30, (02:00 does not occur), 03:00 +11, 04:00 +11
      {"0 * * * *",
       "Australia/Lord_Howe",
       "2026-10-03T14:00:00Z",
       {"2026-10-03T14:30:00Z", "2026-10-03T16:00:00Z", "2026-10-03T17:00:00Z"}},
      // every 15 minutes: 01:45, (02:00 and 02:15 do not occur), 02:30, 02:45
      {"*/15 * * * *",
       "Australia/Lord_Howe",
       "2026-10-03T15:00:00Z",
       {"2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z"}},
      {"30 1 * * *",
       "Australia/Lord_Howe",
       "2026-10-03T00:00:00Z",
       {"2026-10-03T15:00:00Z", "2026-10-04T14:30:00Z"}},
      // 02:30 is the first wall time after the gap: unaffected
      {"30 2 * * *",
       "Australia/Lord_Howe",
       "2026-10-03T00:00:00Z",
       {"2026-10-03T15:30:00Z", "2026-10-04T15:30:00Z"}},
      // 02:00 and 02:15 are in the gap: both fire once, at 02:30 +11
      {"0,15 2 * * *",
       "Australia/Lord_Howe",
       "2026-10-03T00:00:00Z",
       {"2026-10-03T15:30:00Z", "2026-10-04T15:00:00Z", "2026-10-04T15:15:00Z"}},
  });
}

TEST_CASE("fall back in Australia/Lord_Howe (02:00 +11 becomes 01:30 +10:30)") {
  check_rows({
      // hourly: 01:00 +11, then 02:00 +10:30 (01:00 does not repeat)
      {"0 * * * *",
       "Australia/Lord_Howe",
       "2026-04-04T13:30:00Z",
       {"2026-04-04T14:00:00Z", "2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"}},
      // every 15 minutes: 01:45 +11, then 01:30 and 01:45 again at +10:30, then 02:00
      {"*/15 * * * *",
       "Australia/Lord_Howe",
       "2026-04-04T14:30:00Z",
       {"2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z",
        "2026-04-04T15:30:00Z"}},
      // daily 01:30 occurs twice: fires at the first occurrence (+11)
      {"30 1 * * *",
       "Australia/Lord_Howe",
       "2026-04-04T00:00:00Z",
       {"2026-04-04T14:30:00Z", "2026-04-05T15:00:00Z"}},
      {"30 2 * * *",
       "Australia/Lord_Howe",
       "2026-04-04T00:00:00Z",
       {"2026-04-04T16:00:00Z", "2026-04-05T16:00:00Z"}},
  });
}

TEST_CASE("a zone without DST (Asia/Tokyo, +09:00) is unaffected on those dates") {
  check_rows({
      {"0 * * * *",
       "Asia/Tokyo",
       "2026-03-08T05:30:00Z",
       {"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
      {"*/15 * * * *",
       "Asia/Tokyo",
       "2026-11-01T05:30:00Z",
       {"2026-11-01T05:45:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z"}},
      {"30 2 * * *",
       "Asia/Tokyo",
       "2026-03-07T12:00:00Z",
       {"2026-03-07T17:30:00Z", "2026-03-08T17:30:00Z"}},
      {"30 1 * * *",
       "Asia/Tokyo",
       "2026-10-31T12:00:00Z",
       {"2026-10-31T16:30:00Z", "2026-11-01T16:30:00Z"}},
  });
}

TEST_CASE("a zone 5:45 ahead of UTC (Asia/Kathmandu) shifts wall times by that much") {
  check_rows({
      {"0 9 * * *",
       "Asia/Kathmandu",
       "2026-01-01T00:00:00Z",
       {"2026-01-01T03:15:00Z", "2026-01-02T03:15:00Z"}},
  });
}

TEST_CASE("a daily job on a day that a zone skipped fires once, when the day is over") {
  check_rows({
      // Pacific/Apia went from 2011-12-29 23:59:59 -10:00 to 2011-12-31 00:00:00 +14:00
      // (2011-12-30T10:00:00Z): 12:00 on the 30th never occurred.
      {"0 12 * * *",
       "Pacific/Apia",
       "2011-12-29T00:00:00Z",
       {"2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"}},
  });
}

TEST_CASE("DST goes on after the tz database's last listed transition (2037)") {
  check_rows({
      // The last listed America/New_York transition is 2037-11-01; later ones follow the
      // zone's rule (EST5EDT,M3.2.0,M11.1.0).
      {"30 1 * * *",
       "America/New_York",
       "2037-10-31T12:00:00Z",
       {"2037-11-01T05:30:00Z", "2037-11-02T06:30:00Z"}},
      {"30 2 * * *",
       "America/New_York",
       "2038-03-13T12:00:00Z",
       {"2038-03-14T07:00:00Z", "2038-03-15T06:30:00Z"}},
      {"30 1 * * *",
       "America/New_York",
       "2038-11-06T12:00:00Z",
       {"2038-11-07T05:30:00Z", "2038-11-08T06:30:00Z"}},
      {"0 12 * * *", "America/New_York", "2045-07-01T00:00:00Z", {"2045-07-01T16:00:00Z"}},
      {"0 * * * *",
       "America/New_York",
       "2045-11-05T04:30:00Z",
       {"2045-11-05T05:00:00Z", "2045-11-05T06:00:00Z", "2045-11-05T07:00:00Z"}},
      // Southern hemisphere, 30-minute shift: 2045-10-01 02:00 +10:30 becomes 02:30 +11.
      {"0,15 2 * * *",
       "Australia/Lord_Howe",
       "2045-09-30T00:00:00Z",
       {"2045-09-30T15:30:00Z", "2045-10-01T15:00:00Z"}},
      {"0 12 1 7 *", "Europe/Dublin", "2045-04-01T00:00:00Z", {"2045-07-01T11:00:00Z"}},
  });
}
