// next_after in UTC: each syntax element, the day rules and the calendar's edges.

#include <doctest/doctest.h>

#include "cron_test_util.hpp"

using namespace cron_test;

TEST_CASE("a plain 5-field expression fires at second 0 of each matching minute") {
  CHECK(fires_utc("30 9 * * *", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-01T09:30:00Z", "2026-01-02T09:30:00Z"});
}

TEST_CASE("the next fire instant is strictly after the given instant") {
  CHECK(fires_utc("30 9 * * *", "2026-01-01T09:30:00Z", 1) == List{"2026-01-02T09:30:00Z"});
  CHECK(fires_utc("30 9 * * *", "2026-01-01T09:29:59Z", 1) == List{"2026-01-01T09:30:00Z"});
}

TEST_CASE("a star matches every value and a question mark is the same as a star") {
  CHECK(fires_utc("* * * * *", "2026-12-31T23:58:30Z", 3) ==
        List{"2026-12-31T23:59:00Z", "2027-01-01T00:00:00Z", "2027-01-01T00:01:00Z"});
  CHECK(expr("0 0 ? * ?") == expr("0 0 * * *"));
  CHECK(expr("? ? ? ? ? ?") == expr("* * * * * *"));
}

TEST_CASE("a list fires on each of its values") {
  CHECK(fires_utc("0,20,45 8 * * *", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-01T08:00:00Z", "2026-01-01T08:20:00Z", "2026-01-01T08:45:00Z",
             "2026-01-02T08:00:00Z"});
}

TEST_CASE("a range fires on every value from its start to its end inclusive") {
  CHECK(fires_utc("0 22-23 * * *", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-01-01T22:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T22:00:00Z"});
}

TEST_CASE("steps: */n from the field's minimum, a-b/n within a range, a/n up to the maximum") {
  CHECK(fires_utc("*/20 * * * *", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z", "2026-01-01T01:00:00Z"});
  CHECK(fires_utc("0 9-17/4 * * *", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-01T09:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T17:00:00Z",
             "2026-01-02T09:00:00Z"});
  CHECK(fires_utc("5/20 * * * *", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z",
             "2026-01-01T01:05:00Z"});
  CHECK(expr("0 0 */10 * *") == expr("0 0 1,11,21,31 * *"));
  CHECK(expr("0 0 * */5 *") == expr("0 0 * 1,6,11 *"));
  CHECK(expr("0 0 * * */2") == expr("0 0 * * 0,2,4,6"));
  CHECK(expr("0 0 * * 1/2") == expr("0 0 * * 1,3,5"));
  CHECK(expr("0 0 * * 1-7/2") == expr("0 0 * * 0,1,3,5"));
  CHECK(expr("*/60 * * * *") == expr("0 * * * *"));
}

TEST_CASE("month names and weekday names work in any case, alone, in ranges and in lists") {
  CHECK(expr("0 0 1 jan *") == expr("0 0 1 1 *"));
  CHECK(expr("0 0 1 Jan *") == expr("0 0 1 JAN *"));
  CHECK(expr("0 0 1 jan-MAR,oCt *") == expr("0 0 1 1-3,10 *"));
  CHECK(expr("0 0 * * mon-FRI") == expr("0 0 * * 1-5"));
  CHECK(expr("0 0 * * Sun,sat") == expr("0 0 * * 0,6"));
  CHECK(expr("0 0 * JAN-DEC/3 *") == expr("0 0 * 1,4,7,10 *"));
  CHECK(fires_utc("0 12 * * tue", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-06T12:00:00Z", "2026-01-13T12:00:00Z"});
}

TEST_CASE("7 is Sunday, like 0, in 5- and 6-field expressions") {
  CHECK(expr("0 0 * * 7") == expr("0 0 * * 0"));
  CHECK(expr("0 0 * * 7") == expr("0 0 * * SUN"));
  CHECK(expr("0 0 0 * * 7") == expr("0 0 0 * * 0"));
  CHECK(expr("0 0 * * 5-7") == expr("0 0 * * 0,5,6"));
  CHECK(expr("0 0 * * 0-7").days_of_week == expr("0 0 * * *").days_of_week);
  CHECK(fires_utc("0 0 * * 7", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"});
  CHECK(fires_utc("0 0 0 * * 7", "2026-01-01T00:00:00Z", 1) == List{"2026-01-04T00:00:00Z"});
}

TEST_CASE("a 6-field expression has a leading seconds field") {
  CHECK(fires_utc("*/20 * * * * *", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z",
             "2026-01-01T00:01:20Z"});
  CHECK(fires_utc("30 15 10 * * *", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-01T10:15:30Z", "2026-01-02T10:15:30Z"});
  CHECK(fires_utc("59 59 23 31 12 *", "2026-06-01T00:00:00Z", 1) == List{"2026-12-31T23:59:59Z"});
  CHECK(fires_utc("* * * * * *", "2026-12-31T23:59:58Z", 3) ==
        List{"2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2027-01-01T00:00:01Z"});
}

TEST_CASE("macros are the expressions they stand for, in any case") {
  CHECK(expr("@yearly") == expr("0 0 1 1 *"));
  CHECK(expr("@annually") == expr("0 0 1 1 *"));
  CHECK(expr("@monthly") == expr("0 0 1 * *"));
  CHECK(expr("@weekly") == expr("0 0 * * 0"));
  CHECK(expr("@daily") == expr("0 0 * * *"));
  CHECK(expr("@midnight") == expr("0 0 * * *"));
  CHECK(expr("@hourly") == expr("0 * * * *"));
  CHECK(expr("@HOURLY") == expr("@hourly"));
  CHECK(expr("  @Daily  ") == expr("@daily"));
  CHECK(fires_utc("@weekly", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"});
}

TEST_CASE("day-of-month and day-of-week both restricted: a day matches if either matches") {
  // Friday 2, 9, 16, 23 and Tuesday 13 January 2026
  CHECK(fires_utc("0 0 13 * FRI", "2026-01-01T00:00:00Z", 5) ==
        List{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z",
             "2026-01-16T00:00:00Z", "2026-01-23T00:00:00Z"});
  // A step counts as a restriction (as in croner): odd days or Mondays.
  CHECK(fires_utc("0 0 */2 * MON", "2026-01-01T00:00:00Z", 5) ==
        List{"2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z",
             "2026-01-09T00:00:00Z", "2026-01-11T00:00:00Z"});
}

TEST_CASE("only one day field restricted: that field alone decides") {
  CHECK(fires_utc("0 0 * * FRI", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"});
  CHECK(fires_utc("0 0 13 * ?", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"});
}

TEST_CASE("February 29 fires only in leap years, 2024 to 2032") {
  CHECK(fires_utc("0 0 29 2 *", "2024-01-01T00:00:00Z", 3) ==
        List{"2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"});
  CHECK(fires_utc("0 12 29 2 *", "2024-02-29T12:00:00Z", 1) == List{"2028-02-29T12:00:00Z"});
  CHECK(fires_utc("0 0 L 2 *", "2024-01-01T00:00:00Z", 9) ==
        List{"2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z", "2026-02-28T00:00:00Z",
             "2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z",
             "2030-02-28T00:00:00Z", "2031-02-28T00:00:00Z", "2032-02-29T00:00:00Z"});
  // 2100 is not a leap year: 2096, then 2104.
  CHECK(fires_utc("0 0 29 2 *", "2096-03-01T00:00:00Z", 1) == List{"2104-02-29T00:00:00Z"});
}

TEST_CASE("day 31 and day 30 skip the months that lack them") {
  CHECK(fires_utc("0 0 31 * *", "2026-01-01T00:00:00Z", 7) ==
        List{"2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z",
             "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z",
             "2026-12-31T00:00:00Z"});
  CHECK(fires_utc("0 0 30 * *", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-01-30T00:00:00Z", "2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z"});
}

TEST_CASE("an expression that matches no date never fires") {
  const auto* z = zone("UTC");
  CHECK_FALSE(cron::next_after(expr("0 0 30 2 *"), z, utc("2026-01-01T00:00:00Z")));
  CHECK_FALSE(cron::next_after(expr("0 0 31 4,6,9,11 *"), z, utc("2026-01-01T00:00:00Z")));
  CHECK_FALSE(cron::next_after(expr("0 0 30W 2 *"), z, utc("2026-01-01T00:00:00Z")));
  CHECK_FALSE(
      cron::next_after(expr("0 0 30W 2 *"), zone("America/New_York"), utc("2026-01-01T00:00:00Z")));
}

TEST_CASE("nothing fires after the end of year 9999") {
  const auto* z = zone("UTC");
  CHECK(text(*cron::next_after(expr("59 59 23 31 12 *"), z, utc("9999-01-01T00:00:00Z"))) ==
        "9999-12-31T23:59:59Z");
  CHECK_FALSE(cron::next_after(expr("* * * * * *"), z, utc("9999-12-31T23:59:59Z")));
  CHECK_FALSE(cron::next_after(expr("0 0 29 2 *"), z, utc("9996-03-01T00:00:00Z")));
  // 23:00 on 9999-12-31 in Honolulu is 10000-01-01T09:00:00Z: out of range.
  CHECK_FALSE(cron::next_after(expr("0 23 31 12 *"), zone("Pacific/Honolulu"),
                               utc("9999-12-01T00:00:00Z")));
  CHECK(text(*cron::next_after(expr("0 13 31 12 *"), zone("Pacific/Honolulu"),
                               utc("9999-12-01T00:00:00Z"))) == "9999-12-31T23:00:00Z");
}

TEST_CASE("L is the last day of the month, L-n the n-th day before it") {
  CHECK(fires_utc("0 0 L * *", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z",
             "2026-04-30T00:00:00Z"});
  CHECK(fires_utc("0 0 L-2 * *", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-29T00:00:00Z", "2026-02-26T00:00:00Z", "2026-03-29T00:00:00Z",
             "2026-04-28T00:00:00Z"});
  CHECK(fires_utc("0 0 L-1 2 *", "2027-01-01T00:00:00Z", 2) ==
        List{"2027-02-27T00:00:00Z", "2028-02-28T00:00:00Z"});
  // L-30 exists only in 31-day months.
  CHECK(fires_utc("0 0 L-30 * *", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z"});
  CHECK(expr("0 0 L-0 * *") == expr("0 0 L * *"));
  CHECK(fires_utc("0 0 1,L * *", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-28T00:00:00Z"});
}

TEST_CASE("nW is the weekday nearest to day n, without leaving the month") {
  // 2026: Feb 15 and Mar 15 are Sundays (Monday 16), Aug 15 a Saturday (Friday 14).
  CHECK(fires_utc("0 0 15W * *", "2026-01-01T00:00:00Z", 8) ==
        List{"2026-01-15T00:00:00Z", "2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z",
             "2026-04-15T00:00:00Z", "2026-05-15T00:00:00Z", "2026-06-15T00:00:00Z",
             "2026-07-15T00:00:00Z", "2026-08-14T00:00:00Z"});
  // Saturday August 1 2026: not Friday July 31 but Monday August 3.
  CHECK(fires_utc("0 0 1W * *", "2026-07-01T00:00:00Z", 3) ==
        List{"2026-08-03T00:00:00Z", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z"});
  // Sunday May 31 2026: Friday May 29; months without a 31st do not fire.
  CHECK(fires_utc("0 0 31W * *", "2026-05-01T00:00:00Z", 3) ==
        List{"2026-05-29T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"});
}

TEST_CASE("LW is the last weekday of the month") {
  CHECK(fires_utc("0 0 LW * *", "2026-01-01T00:00:00Z", 5) ==
        List{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-31T00:00:00Z",
             "2026-04-30T00:00:00Z", "2026-05-29T00:00:00Z"});
}

TEST_CASE("nL in day-of-week is the last such weekday of the month") {
  CHECK(fires_utc("0 0 * * 5L", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"});
  CHECK(expr("0 0 * * FRIL") == expr("0 0 * * 5L"));
  CHECK(expr("0 0 * * 5#L") == expr("0 0 * * 5L"));
  CHECK(expr("0 0 * * 7L") == expr("0 0 * * 0L"));
  CHECK(fires_utc("0 0 * * 0L", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-25T00:00:00Z", "2026-02-22T00:00:00Z"});
}

TEST_CASE("n#k in day-of-week is the k-th such weekday of the month") {
  CHECK(fires_utc("0 0 * * 1#1", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-01-05T00:00:00Z", "2026-02-02T00:00:00Z", "2026-03-02T00:00:00Z"});
  CHECK(fires_utc("0 0 * * MON#2", "2026-01-01T00:00:00Z", 2) ==
        List{"2026-01-12T00:00:00Z", "2026-02-09T00:00:00Z"});
  // A fifth Friday exists only in some months.
  CHECK(fires_utc("0 0 * * 5#5", "2026-01-01T00:00:00Z", 3) ==
        List{"2026-01-30T00:00:00Z", "2026-05-29T00:00:00Z", "2026-07-31T00:00:00Z"});
  CHECK(fires_utc("0 0 * * sat#2,sun#L", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-10T00:00:00Z", "2026-01-25T00:00:00Z", "2026-02-14T00:00:00Z",
             "2026-02-22T00:00:00Z"});
}

TEST_CASE("day extensions in both day fields combine with OR") {
  CHECK(fires_utc("0 0 L * 5L", "2026-01-01T00:00:00Z", 4) ==
        List{"2026-01-30T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-27T00:00:00Z",
             "2026-02-28T00:00:00Z"});
  CHECK(fires_utc("0 0 29 2 MON", "2024-02-01T00:00:00Z", 6) ==
        List{"2024-02-05T00:00:00Z", "2024-02-12T00:00:00Z", "2024-02-19T00:00:00Z",
             "2024-02-26T00:00:00Z", "2024-02-29T00:00:00Z", "2025-02-03T00:00:00Z"});
}

TEST_CASE("a weekday range that ends with the name SUN runs through Sunday") {
  CHECK(expr("0 0 * * MON-SUN") == expr("0 0 * * 0-6"));
  CHECK(expr("0 0 * * sat-sun") == expr("0 0 * * 0,6"));
  CHECK(expr("0 0 * * SUN-SUN") == expr("0 0 * * 0"));
  CHECK(expr("0 0 * * 0-SUN") == expr("0 0 * * 0"));
}
