// JSON strings and the writer: every output is valid JSON whatever the bytes in.

#include "tickd/util/json.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

namespace json = tickd::json;

TEST_CASE("escape escapes what JSON requires and keeps valid UTF-8") {
  struct Row {
    std::string in, out;
  };
  for (const Row& r : {
           Row{"plain", "plain"},
           Row{"", ""},
           Row{"say \"hi\"", "say \\\"hi\\\""},
           Row{"back\\slash", "back\\\\slash"},
           Row{"/ stays", "/ stays"},
           Row{"two\nlines\r\n", "two\\nlines\\r\\n"},
           Row{"tab\there \b \f", "tab\\there \\b \\f"},
           Row{std::string("nul\0byte", 8), "nul\\u0000byte"},
           Row{"\x01\x1f\x7f", "\\u0001\\u001f\\u007f"},
           Row{"\x1b[31m", "\\u001b[31m"},
           Row{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
               "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
           Row{"max \xf4\x8f\xbf\xbf", "max \xf4\x8f\xbf\xbf"},
           Row{"bad \xff byte", "bad \\ufffd byte"},
           Row{"stray \x80", "stray \\ufffd"},
           Row{"truncated \xe2\x82", "truncated \\ufffd\\ufffd"},
           Row{"overlong \xc0\xaf", "overlong \\ufffd\\ufffd"},
           Row{"overlong \xe0\x80\xaf", "overlong \\ufffd\\ufffd\\ufffd"},
           Row{"surrogate \xed\xa0\x80", "surrogate \\ufffd\\ufffd\\ufffd"},
           Row{"above U+10FFFF \xf4\x90\x80\x80", "above U+10FFFF \\ufffd\\ufffd\\ufffd\\ufffd"},
       }) {
    CAPTURE(r.in);
    CHECK(json::escape(r.in) == r.out);
    std::string quoted = "x";
    json::append_string(quoted, r.in);
    CHECK(quoted == "x\"" + r.out + "\"");
  }
}

TEST_CASE("sanitize_utf8 replaces each bad byte by U+FFFD and escapes nothing") {
  CHECK(json::sanitize_utf8("a\"b\n") == "a\"b\n");
  CHECK(json::sanitize_utf8("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(json::sanitize_utf8("x\xffy\xe2\x82") == "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("utf8_sequence_length reads one sequence at an offset") {
  const std::string s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff";
  CHECK(json::utf8_sequence_length(s, 0) == 1);
  CHECK(json::utf8_sequence_length(s, 1) == 2);
  CHECK(json::utf8_sequence_length(s, 2) == 0);  // a continuation byte starts nothing
  CHECK(json::utf8_sequence_length(s, 3) == 3);
  CHECK(json::utf8_sequence_length(s, 6) == 4);
  CHECK(json::utf8_sequence_length(s, 10) == 0);
}

TEST_CASE("the writer puts commas between members and escapes keys and strings") {
  json::Writer w;
  w.begin_object();
  w.key("region").begin_object();
  w.key("seconds").value(0.25).key("ok").value(true).key("n").value(std::int64_t{-3});
  w.end_object();
  w.key("say \"x\"").value("a\nb").key("none").begin_object().end_object();
  w.key("lateness_seconds").value(1.0).end_object();
  CHECK(w.str() ==
        R"({"region":{"seconds":0.250000,"ok":true,"n":-3},"say \"x\"":"a\nb","none":{},)"
        R"("lateness_seconds":1.000000})");
}

TEST_CASE("an empty object is {}") {
  json::Writer w;
  CHECK(std::move(w.begin_object().end_object()).str() == "{}");
}
