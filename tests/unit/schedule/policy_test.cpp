#include "tickd/schedule/policy.hpp"

#include <doctest/doctest.h>

#include <array>
#include <functional>
#include <string>

#include "tickd/handlers/handler.hpp"
#include "tickd/schedule/schedule.hpp"

using tickd::ColumnMs;
using tickd::Overlap;
using tickd::RegionPolicy;

namespace {

// A default policy with one column set.
RegionPolicy with(const std::function<void(RegionPolicy&)>& set) {
  RegionPolicy p;
  set(p);
  return p;
}

std::string refusal(const RegionPolicy& p) { return tickd::check_policy(p).value_or("accepted"); }

}  // namespace

TEST_CASE("the defaults are the behaviour before policies, and accepted") {
  const RegionPolicy p;
  CHECK_FALSE(p.timeout);
  CHECK(p.max_attempts == 1);
  CHECK(p.retry_backoff == ColumnMs(10'000));
  CHECK(p.overlap == Overlap::skip);
  CHECK_FALSE(p.start_window);
  CHECK(p.jitter == ColumnMs(0));
  CHECK(refusal(p) == "accepted");
  CHECK(sizeof(RegionPolicy) <= 32);
}

TEST_CASE("each column is accepted at both ends of its range and refused one past them") {
  struct Case {
    const char* what;
    std::function<void(RegionPolicy&)> set;
    const char* expected;
  };
  const Case cases[] = {
      {"timeout 1 ms", [](auto& p) { p.timeout = ColumnMs(1); }, "accepted"},
      {"timeout 7 days", [](auto& p) { p.timeout = ColumnMs(604'800'000); }, "accepted"},
      {"timeout 0", [](auto& p) { p.timeout = ColumnMs(0); },
       "timeout_ms: 0 is out of range 1-604800000"},
      {"timeout past 7 days", [](auto& p) { p.timeout = ColumnMs(604'800'001); },
       "timeout_ms: 604800001 is out of range 1-604800000"},
      {"max_attempts 1", [](auto& p) { p.max_attempts = 1; }, "accepted"},
      {"max_attempts 100", [](auto& p) { p.max_attempts = 100; }, "accepted"},
      {"max_attempts 0", [](auto& p) { p.max_attempts = 0; },
       "max_attempts: 0 is out of range 1-100"},
      {"max_attempts 101", [](auto& p) { p.max_attempts = 101; },
       "max_attempts: 101 is out of range 1-100"},
      {"max_attempts negative", [](auto& p) { p.max_attempts = -2147483647 - 1; },
       "max_attempts: -2147483648 is out of range 1-100"},
      {"retry_backoff 0", [](auto& p) { p.retry_backoff = ColumnMs(0); }, "accepted"},
      {"retry_backoff 1 h", [](auto& p) { p.retry_backoff = ColumnMs(3'600'000); }, "accepted"},
      {"retry_backoff -1", [](auto& p) { p.retry_backoff = ColumnMs(-1); },
       "retry_backoff_ms: -1 is out of range 0-3600000"},
      {"retry_backoff past 1 h", [](auto& p) { p.retry_backoff = ColumnMs(3'600'001); },
       "retry_backoff_ms: 3600001 is out of range 0-3600000"},
      {"overlap buffer_one", [](auto& p) { p.overlap = Overlap::buffer_one; }, "accepted"},
      {"overlap allow", [](auto& p) { p.overlap = Overlap::allow; }, "accepted"},
      {"overlap unknown", [](auto& p) { p.overlap = Overlap::unknown; },
       "overlap: not one of skip, buffer_one, allow"},
      {"start_window 1 ms", [](auto& p) { p.start_window = ColumnMs(1); }, "accepted"},
      {"start_window 7 days", [](auto& p) { p.start_window = ColumnMs(604'800'000); }, "accepted"},
      {"start_window 0", [](auto& p) { p.start_window = ColumnMs(0); },
       "start_window_ms: 0 is out of range 1-604800000"},
      {"start_window past 7 days", [](auto& p) { p.start_window = ColumnMs(604'800'001); },
       "start_window_ms: 604800001 is out of range 1-604800000"},
      {"jitter 0", [](auto& p) { p.jitter = ColumnMs(0); }, "accepted"},
      {"jitter 1 day", [](auto& p) { p.jitter = ColumnMs(86'400'000); }, "accepted"},
      {"jitter -1", [](auto& p) { p.jitter = ColumnMs(-1); },
       "jitter_ms: -1 is out of range 0-86400000"},
      {"jitter past 1 day", [](auto& p) { p.jitter = ColumnMs(86'400'001); },
       "jitter_ms: 86400001 is out of range 0-86400000"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    CHECK(refusal(with(c.set)) == c.expected);
  }
}

TEST_CASE("with several columns out of range, the first in the table's order is named") {
  const auto p = with([](auto& p) {
    p.jitter = ColumnMs(-5);
    p.max_attempts = 0;
  });
  CHECK(refusal(p) == "max_attempts: 0 is out of range 1-100");
}

TEST_CASE("overlap texts: the three known, anything else unknown (case matters, as in SQL)") {
  CHECK(tickd::parse_overlap("skip") == Overlap::skip);
  CHECK(tickd::parse_overlap("buffer_one") == Overlap::buffer_one);
  CHECK(tickd::parse_overlap("allow") == Overlap::allow);
  CHECK(tickd::parse_overlap("Allow") == Overlap::unknown);
  CHECK(tickd::parse_overlap("") == Overlap::unknown);
  CHECK(tickd::parse_overlap("sometimes") == Overlap::unknown);
  for (const auto o : {Overlap::skip, Overlap::buffer_one, Overlap::allow}) {
    CHECK(tickd::parse_overlap(tickd::to_string(o)) == o);
  }
}

TEST_CASE("a row whose policy is out of range is refused like an invalid expression") {
  const auto handlers = tickd::builtin_handlers();
  tickd::RegionRow row{7, "eu-1", "* * * * *", "UTC", {"region"}, {}};
  CHECK(std::holds_alternative<tickd::ValidRegion>(tickd::validate_region(row, handlers)));
  row.policy.max_attempts = 0;
  const auto result = tickd::validate_region(row, handlers);
  REQUIRE(std::holds_alternative<std::string>(result));
  CHECK(std::get<std::string>(result) == "max_attempts: 0 is out of range 1-100");
  // An invalid expression is named first: it is the row's first problem to fix.
  row.cron_schedule = "61 * * * *";
  CHECK(std::get<std::string>(tickd::validate_region(row, handlers)).starts_with("cron_schedule"));
}

TEST_CASE("pauses compare by value; a row that is not paused holds nothing") {
  const tickd::PauseRef none;
  CHECK_FALSE(none);
  const auto at = std::chrono::sys_time<std::chrono::microseconds>(std::chrono::seconds(1));
  const tickd::PauseRef a(tickd::Pause{at, "ops", "why"});
  const tickd::PauseRef b(tickd::Pause{at, "ops", "why"});
  const tickd::PauseRef c(tickd::Pause{at, "ops", "another reason"});
  CHECK(a == b);
  CHECK_FALSE(a == c);
  CHECK_FALSE(a == none);
  CHECK(none == tickd::PauseRef());
  CHECK(a->reason == "why");
}

namespace {
using std::chrono::milliseconds;
using std::chrono::sys_seconds;
using MillisT = std::chrono::sys_time<milliseconds>;
const sys_seconds kInstant{std::chrono::seconds(1'780'000'000)};
}  // namespace

TEST_CASE("an attempt's timeout is timeout_ms, else TICK_TIMEOUT_MS") {
  CHECK(tickd::attempt_timeout(RegionPolicy{}, milliseconds(3'600'000)) == milliseconds(3'600'000));
  CHECK(tickd::attempt_timeout(with([](auto& p) { p.timeout = ColumnMs(500); }),
                               milliseconds(3'600'000)) == milliseconds(500));
}

TEST_CASE("retry waits: full jitter under an exponential ceiling capped at an hour") {
  const auto p = with([](auto& p) { p.retry_backoff = ColumnMs(1'000); });
  // The ceiling after n attempts is 1 s * 2^(n-1); a draw picks the point in [0, ceiling].
  CHECK(tickd::retry_delay(p, 1, 0) == milliseconds(0));
  CHECK(tickd::retry_delay(p, 1, 1'000) == milliseconds(1'000));
  CHECK(tickd::retry_delay(p, 1, 1'001) == milliseconds(0));  // the draw wraps in [0, 1000]
  CHECK(tickd::retry_delay(p, 2, 2'000) == milliseconds(2'000));
  CHECK(tickd::retry_delay(p, 3, 4'000) == milliseconds(4'000));
  CHECK(tickd::retry_delay(p, 3, 4'001) == milliseconds(0));
  // 2^12 s is past an hour: the cap holds, also for the largest attempt counts.
  CHECK(tickd::retry_delay(p, 13, 3'600'000) == milliseconds(3'600'000));
  CHECK(tickd::retry_delay(p, 13, 3'600'001) == milliseconds(0));
  CHECK(tickd::retry_delay(p, 100, ~0ULL) <= milliseconds(3'600'000));
  const auto hour = with([](auto& p) { p.retry_backoff = ColumnMs(3'600'000); });
  CHECK(tickd::retry_delay(hour, 100, 3'600'000) == milliseconds(3'600'000));
  // No backoff: the next attempt starts at once.
  CHECK(tickd::retry_delay(with([](auto& p) { p.retry_backoff = ColumnMs(0); }), 5, 12345) ==
        milliseconds(0));
}

TEST_CASE("a retry starts while attempts remain and before the region's next instant") {
  const auto p = with([](auto& p) {
    p.max_attempts = 3;
    p.retry_backoff = ColumnMs(1'000);
  });
  const MillisT failed = MillisT(kInstant) + milliseconds(200);
  const auto next = kInstant + std::chrono::seconds(10);
  CHECK(tickd::retry_start(p, 1, failed, next, 700) == failed + milliseconds(700));
  CHECK(tickd::retry_start(p, 2, failed, next, 1'500) == failed + milliseconds(1'500));
  CHECK_FALSE(tickd::retry_start(p, 3, failed, next, 0));  // max_attempts made
  // The wait would reach the next instant: at it is too late, a millisecond before is not.
  const MillisT late = MillisT(next) - milliseconds(1'000);
  CHECK_FALSE(tickd::retry_start(p, 1, late, next, 1'000));
  CHECK(tickd::retry_start(p, 1, late, next, 999) == MillisT(next) - milliseconds(1));
  CHECK(tickd::retry_start(p, 1, late, std::nullopt, 1'000) == MillisT(next));  // fires no more
  CHECK_FALSE(tickd::retry_start(RegionPolicy{}, 1, failed, next, 0));  // the default: 1 attempt
}

TEST_CASE("a peer's Retry-After lengthens the wait, never shortens it, and is capped at 1 h") {
  const auto p = with([](auto& p) {
    p.max_attempts = 3;
    p.retry_backoff = ColumnMs(1'000);
  });
  const MillisT failed = MillisT(kInstant) + milliseconds(200);
  const auto next = kInstant + std::chrono::hours(3);
  CHECK(tickd::retry_start(p, 1, failed, next, 700, milliseconds(2'000)) ==
        failed + milliseconds(2'000));
  CHECK(tickd::retry_start(p, 1, failed, next, 700, milliseconds(100)) ==
        failed + milliseconds(700));
  CHECK(tickd::retry_start(p, 1, failed, next, 0, std::chrono::hours(5)) ==
        failed + std::chrono::hours(1));
  // Retry-After past the region's next instant: no retry.
  CHECK_FALSE(tickd::retry_start(p, 1, failed, kInstant + std::chrono::seconds(10), 0,
                                 milliseconds(20'000)));
}

TEST_CASE("jitter is fixed by (region, instant), inside [0, jitter_ms), and spreads evenly") {
  CHECK(tickd::jitter_offset(RegionPolicy{}, 7, kInstant) == milliseconds(0));
  const auto p = with([](auto& p) { p.jitter = ColumnMs(10'000); });
  CHECK(tickd::jitter_offset(p, 7, kInstant) == tickd::jitter_offset(p, 7, kInstant));
  CHECK(tickd::jitter_offset(p, 7, kInstant) != tickd::jitter_offset(p, 8, kInstant));
  CHECK(tickd::jitter_offset(p, 7, kInstant) !=
        tickd::jitter_offset(p, 7, kInstant + std::chrono::seconds(1)));
  // 10,000 regions on one instant: every offset in range, each second of the window gets
  // its tenth within 10%.
  std::array<int, 10> per_second{};
  for (std::int64_t region = 1; region <= 10'000; ++region) {
    const auto offset = tickd::jitter_offset(p, region, kInstant);
    REQUIRE(offset >= milliseconds(0));
    REQUIRE(offset < milliseconds(10'000));
    ++per_second.at(static_cast<std::size_t>(offset.count() / 1'000));
  }
  for (const int n : per_second) {
    CHECK(n > 900);
    CHECK(n < 1'100);
  }
  const auto one = with([](auto& p) { p.jitter = ColumnMs(1); });
  CHECK(tickd::jitter_offset(one, 7, kInstant) == milliseconds(0));
}
