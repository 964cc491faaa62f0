#include "tickd/schedule/due.hpp"

#include <doctest/doctest.h>

#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::decide_due;
using tickd::test::expr;
using tickd::test::utc;
using tickd::test::utc_ms;
using tickd::test::zone;

TEST_CASE("a timer that wakes on time runs the instant and arms the next") {
  const auto d = decide_due(expr("* * * * *"), zone("UTC"), utc("2026-05-01T10:00:00Z"),
                            utc_ms("2026-05-01T10:00:00.003Z"), 60s);
  REQUIRE(d.run);
  CHECK(*d.run == utc("2026-05-01T10:00:00Z"));
  CHECK(d.missed == 0);
  CHECK(*d.next == utc("2026-05-01T10:01:00Z"));
}

TEST_CASE("the start deadline is the misfire grace, capped at one period") {
  const auto e = expr("*/10 * * * * *");
  const auto d = decide_due(e, zone("UTC"), utc("2026-05-01T10:00:00Z"),
                            utc_ms("2026-05-01T10:00:00.500Z"), 60s);
  CHECK(d.deadline == utc_ms("2026-05-01T10:00:10.000Z"));
  const auto minutely = decide_due(expr("* * * * *"), zone("UTC"), utc("2026-05-01T10:00:00Z"),
                                   utc_ms("2026-05-01T10:00:00.500Z"), 5s);
  CHECK(minutely.deadline == utc_ms("2026-05-01T10:00:05.000Z"));
}

TEST_CASE("after a stall only the latest missed instant runs; older ones are missed") {
  // Every 10 s, stalled from 10:00:00 to 10:00:35: 00, 10 and 20 are missed, 30 runs.
  const auto d = decide_due(expr("*/10 * * * * *"), zone("UTC"), utc("2026-05-01T10:00:00Z"),
                            utc_ms("2026-05-01T10:00:35.000Z"), 60s);
  REQUIRE(d.run);
  CHECK(*d.run == utc("2026-05-01T10:00:30Z"));
  CHECK(d.missed == 3);
  CHECK(*d.next == utc("2026-05-01T10:00:40Z"));
}

TEST_CASE("an instant past its deadline is missed, not run") {
  const auto d = decide_due(expr("0 * * * *"), zone("UTC"), utc("2026-05-01T10:00:00Z"),
                            utc_ms("2026-05-01T10:02:00.000Z"), 60s);
  CHECK_FALSE(d.run);
  CHECK(d.missed == 1);
  CHECK(*d.next == utc("2026-05-01T11:00:00Z"));
}

TEST_CASE("a forward clock jump of a day over a per-second schedule is decided at once") {
  const auto d = decide_due(expr("* * * * * *"), zone("UTC"), utc("2026-05-01T10:00:00Z"),
                            utc_ms("2026-05-02T10:00:00.200Z"), 60s);
  REQUIRE(d.run);
  CHECK(*d.run == utc("2026-05-02T10:00:00Z"));
  CHECK(d.missed >= 10'000);
  CHECK(*d.next == utc("2026-05-02T10:00:01Z"));
}
