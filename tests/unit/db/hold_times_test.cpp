// The expected hold time of a region's tick_sql: a weighted mean of its recent runs.

#include "../../../src/db/hold_times.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace std::chrono_literals;

TEST_CASE("a region not seen yet expects no hold time: it counts as short") {
  const tickd::db::HoldTimes holds;
  CHECK(holds.expected(42) == 0ms);
}

TEST_CASE("the first run sets the expectation; later runs move it by a weighted mean") {
  tickd::db::HoldTimes holds;
  holds.record(1, 3s);
  CHECK(holds.expected(1) == 3000ms);
  holds.record(1, 1s);
  CHECK(holds.expected(1) == 2400ms);  // 3000 + 0.3 * (1000 - 3000)
  CHECK(holds.expected(2) == 0ms);     // per region
}

TEST_CASE("one slow run makes a fast region long at once; turning fast makes it short again") {
  tickd::db::HoldTimes holds;
  holds.record(1, 10ms);
  holds.record(1, 1s);
  const auto long_hold = 250ms;  // BasicPool::kLongHold
  CHECK(holds.expected(1) >= long_hold);
  for (int i = 0; i < 8; ++i) holds.record(1, 10ms);
  CHECK(holds.expected(1) < long_hold);
}

TEST_CASE("Timing records how long it lived, also when the work throws") {
  tickd::db::HoldTimes holds;
  try {
    const auto timing = holds.time(7);
    throw 1;
  } catch (int) {
  }
  holds.record(7, 1s);  // not the first sample any more: the mean moves, it is not reset
  CHECK(holds.expected(7) < 1000ms);
}
