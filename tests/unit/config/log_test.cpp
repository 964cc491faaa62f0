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
  CHECK_FALSE(tickd::log::setup("loud", tickd::LogFormat::text));
}

TEST_CASE("every message passes one cleaning point: no forged line, no terminal escape") {
  using tickd::log::clean_message;
  // Issue 12: a region code holding a newline and a whole forged line.
  const std::string code = "a\n2026-12-04T15:00:00.000Z info  FORGED LOG LINE";
  CHECK(clean_message("region " + code + ": invalid", {}, true) ==
        "region a\\n2026-12-04T15:00:00.000Z info  FORGED LOG LINE: invalid");
  CHECK(clean_message("esc \x1b[31mred\r\tx\x7f", {}, true) == "esc \\x1b[31mred\\r\\tx\\x7f");
  // JSON escapes by itself: only the bytes that are not UTF-8 change there.
  CHECK(clean_message("a\nb\xff", {}, false) == "a\nb\xef\xbf\xbd");
}

TEST_CASE("a long message is cut, saying how long it was") {
  const std::string huge(5'000'000, 'x');
  const auto cleaned = tickd::log::clean_message("cron '" + huge + "'", {}, true);
  CHECK(cleaned.size() < tickd::log::kMaxMessageBytes + 64);
  CHECK(cleaned.ends_with("... (5000007 bytes in all)"));
}

TEST_CASE("secrets are hidden by value wherever they turn up") {
  CHECK(tickd::log::clean_message("auth failed for key SECRETKEY42 and SECRETKEY42",
                                  {"SECRETKEY42"}, true) == "auth failed for key *** and ***");
}
