#include "tickd/schedule/policy.hpp"

#include <doctest/doctest.h>

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
