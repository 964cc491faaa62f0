// parse(): what it accepts, and an error naming field, token and column for everything else.

#include <doctest/doctest.h>

#include <string>

#include "cron_test_util.hpp"

using namespace cron_test;

TEST_CASE("an expression is split on any run of blanks, leading and trailing ones ignored") {
  CHECK(expr("  0\t9  * *   1 ") == expr("0 9 * * 1"));
}

TEST_CASE("a 5-field expression fires at second 0; a 6-field one has its own seconds") {
  CHECK(expr("0 9 * * *").seconds == 1);
  CHECK(expr("15,45 0 9 * * *").seconds == ((std::uint64_t{1} << 15) | (std::uint64_t{1} << 45)));
  CHECK(expr("0 0 9 * * *") == expr("0 9 * * *"));
}

TEST_CASE("the hour field decides which DST rule applies") {
  CHECK(expr("0 * * * *").all_hours);
  CHECK(expr("0 */1 * * *").all_hours);
  CHECK(expr("0 0-23 * * *").all_hours);
  CHECK(expr("*/15 ? * * *").all_hours);
  CHECK_FALSE(expr("0 0-22 * * *").all_hours);
  CHECK_FALSE(expr("30 2 * * *").all_hours);
  CHECK_FALSE(expr("0 */2 * * *").all_hours);
}

TEST_CASE("a day field is restricted unless it is * or ?") {
  CHECK_FALSE(expr("0 0 * * *").dom_restricted);
  CHECK_FALSE(expr("0 0 ? * ?").dow_restricted);
  CHECK(expr("0 0 */1 * *").dom_restricted);
  CHECK(expr("0 0 * * 0-7").dow_restricted);
}

struct Bad {
  const char* text;
  const char* message;
};

TEST_CASE("every kind of invalid expression is refused with the field, token and column") {
  const Bad table[] = {
      {"", "the expression is empty (column 1)"},
      {"   ", "the expression is empty (column 1)"},
      {"* * * *", "expected 5 or 6 fields, found 4 (column 8)"},
      {"* * * * * * *", "expected 5 or 6 fields, found 7 (column 13)"},
      {"61 * * * *", "minute: 61 is out of range 0-59 (column 1)"},
      {"60 * * * * *", "second: 60 is out of range 0-59 (column 1)"},
      {"0 60 * * * *", "minute: 60 is out of range 0-59 (column 3)"},
      {"0 24 * * *", "hour: 24 is out of range 0-23 (column 3)"},
      {"0 0 0 * *", "day-of-month: 0 is out of range 1-31 (column 5)"},
      {"0 0 32 * *", "day-of-month: 32 is out of range 1-31 (column 5)"},
      {"0 0 * 0 *", "month: 0 is out of range 1-12 (column 7)"},
      {"0 0 * 13 *", "month: 13 is out of range 1-12 (column 7)"},
      {"0 0 * * 8", "day-of-week: 8 is out of range 0-7 (column 9)"},
      {"0 0 * * 1,9", "day-of-week: 9 is out of range 0-7 (column 11)"},
      {"0  0  1-40 * *", "day-of-month: 40 is out of range 1-31 (column 9)"},
      {"99999999999 * * * *", "minute: 99999999999 is out of range 0-59 (column 1)"},
      {"x * * * *", "minute: 'x' is not a number (column 1)"},
      {"0 0 * FOO *", "month: 'FOO' is not a number or a month name (JAN-DEC) (column 7)"},
      {"0 0 * JANUARY *", "month: 'JANUARY' is not a number or a month name (JAN-DEC) (column 7)"},
      {"0 0 * * FUNDAY",
       "day-of-week: 'FUNDAY' is not a number or a weekday name (SUN-SAT) (column 9)"},
      {"0 0 * * MON-FOO",
       "day-of-week: 'FOO' is not a number or a weekday name (SUN-SAT) (column 13)"},
      {"0 MON * * *", "hour: 'MON' is not a number (column 3)"},
      {"0 0 JAN * *", "day-of-month: 'JAN' is not a number (column 5)"},
      {"5-1 * * * *", "minute: range 5-1 goes backwards (column 1)"},
      {"0 0 * * FRI-MON", "day-of-week: range FRI-MON goes backwards (column 9)"},
      {"- * * * *", "minute: a value is missing (column 1)"},
      {"1- * * * *", "minute: a value is missing (column 3)"},
      {"1-2-3 * * * *", "minute: '2-3' is not a number (column 3)"},
      {"*/0 * * * *", "minute: step 0 is out of range 1-60 (column 3)"},
      {"*/61 * * * *", "minute: step 61 is out of range 1-60 (column 3)"},
      {"0 */25 * * *", "hour: step 25 is out of range 1-24 (column 5)"},
      {"0 0 * * */8", "day-of-week: step 8 is out of range 1-7 (column 11)"},
      {"*/ * * * *", "minute: step is missing (column 3)"},
      {"*/x * * * *", "minute: step 'x' is not a number (column 3)"},
      {"1,,2 * * * *", "minute: empty list element (column 3)"},
      {"1, * * * *", "minute: empty list element (column 3)"},
      {",1 * * * *", "minute: empty list element (column 1)"},
      {"L * * * *", "minute: 'L' is not a number (column 1)"},
      {"0 0 * L *", "month: 'L' is not a number or a month name (JAN-DEC) (column 7)"},
      {"0 0 * * L", "day-of-week: 'L' is not a number or a weekday name (SUN-SAT) (column 9)"},
      {"0 0 L-31 * *", "day-of-month: offset 31 is out of range 0-30 (column 7)"},
      {"0 0 L- * *", "day-of-month: offset is missing (column 7)"},
      {"0 0 L-x * *", "day-of-month: offset 'x' is not a number (column 7)"},
      {"0 0 0W * *", "day-of-month: day 0 is out of range 1-31 (column 5)"},
      {"0 0 32W * *", "day-of-month: day 32 is out of range 1-31 (column 5)"},
      {"0 0 W * *", "day-of-month: 'W' is not a number (column 5)"},
      {"0 0 1-5W * *", "day-of-month: '5W' is not a number (column 7)"},
      {"0 0 * * 1#6", "day-of-week: occurrence 6 is out of range 1-5 (column 11)"},
      {"0 0 * * 1#0", "day-of-week: occurrence 0 is out of range 1-5 (column 11)"},
      {"0 0 * * 1#", "day-of-week: occurrence is missing (column 11)"},
      {"0 0 * * 8#1", "day-of-week: 8 is out of range 0-7 (column 9)"},
      {"0 0 * * 8L", "day-of-week: 8 is out of range 0-7 (column 9)"},
      {"0 0 * * XL", "day-of-week: 'X' is not a number or a weekday name (SUN-SAT) (column 9)"},
      {"@fortnightly",
       "unknown macro '@fortnightly' (known: @yearly @annually @monthly @weekly @daily @midnight "
       "@hourly) (column 1)"},
      {"@reboot",
       "unknown macro '@reboot' (known: @yearly @annually @monthly @weekly @daily @midnight "
       "@hourly) (column 1)"},
      {"@daily 5", "a macro such as @daily stands alone, found '5' (column 8)"},
  };
  for (const Bad& bad : table) {
    CAPTURE(bad.text);
    CHECK(error(bad.text) == bad.message);
  }
}

TEST_CASE("an error's column points at the offending token") {
  auto parsed = cron::parse("0 0 * 13 *");
  REQUIRE(std::holds_alternative<cron::ParseError>(parsed));
  CHECK(std::get<cron::ParseError>(parsed).column == 7);
}

TEST_CASE("an unknown time zone is refused by name") {
  auto z = cron::find_zone("Mars/Base");
  REQUIRE(std::holds_alternative<cron::ParseError>(z));
  CHECK(std::get<cron::ParseError>(z).message == "time zone: unknown zone 'Mars/Base'");
  CHECK(std::holds_alternative<cron::ParseError>(cron::find_zone("")));
  CHECK(std::holds_alternative<const date::time_zone*>(cron::find_zone("Europe/London")));
  CHECK(std::holds_alternative<const date::time_zone*>(cron::find_zone("UTC")));
}
