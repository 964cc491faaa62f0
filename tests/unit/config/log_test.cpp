// JSON log lines: one valid object per line whatever the message holds.

#include "tickd/log.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

TEST_CASE("json_escape escapes what JSON requires and keeps valid UTF-8") {
  struct Row {
    std::string in, out;
  };
  for (const Row& r : {
           Row{"plain", "plain"},
           Row{"say \"hi\"", "say \\\"hi\\\""},
           Row{"back\\slash", "back\\\\slash"},
           Row{"two\nlines\r\n", "two\\nlines\\r\\n"},
           Row{"tab\there", "tab\\there"},
           Row{std::string("nul\0byte", 8), "nul\\u0000byte"},
           Row{"\x01\x1f\x7f", "\\u0001\\u001f\\u007f"},
           Row{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
           Row{"bad \xff byte", "bad \\ufffd byte"},
           Row{"truncated \xe2\x82", "truncated \\ufffd\\ufffd"},
           Row{"overlong \xc0\xaf", "overlong \\ufffd\\ufffd"},
           Row{"surrogate \xed\xa0\x80", "surrogate \\ufffd\\ufffd\\ufffd"},
       }) {
    CAPTURE(r.in);
    CHECK(tickd::log::json_escape(r.in) == r.out);
  }
}

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
