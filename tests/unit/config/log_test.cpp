// JSON log lines: one valid object per line whatever the message holds.

#include "tickd/config/log.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

TEST_CASE("a JSON log line has ts, level and msg") {
  using namespace std::chrono;
  const system_clock::time_point ts = sys_days{2026y / 3 / 8} + 10h + 0min + 1s + 234ms;
  CHECK(tickd::log::json_line(ts, "info", "hello \"x\"") ==
        R"({"ts":"2026-03-08T10:00:01.234Z","level":"info","msg":"hello \"x\""})");
}

TEST_CASE("setup accepts the five levels and refuses others") {
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    CAPTURE(level);
    CHECK(tickd::log::setup(level, tickd::LogFormat::json));
    CHECK(tickd::log::setup(level, tickd::LogFormat::text));
  }
  CHECK_FALSE(tickd::log::setup("warning", tickd::LogFormat::text));
  CHECK_FALSE(tickd::log::setup("loud", tickd::LogFormat::text));
}
