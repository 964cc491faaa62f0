#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "tickd/schedule/status.hpp"

namespace {

using namespace std::chrono;

sys_seconds utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

// A strict check that text is one JSON value: RFC 8259 grammar, strings must be valid
// UTF-8 without raw control characters. Enough to catch what a renderer gets wrong.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view t) : t_(t) {}
  bool valid() {
    ws();
    if (!value()) return false;
    ws();
    return i_ == t_.size();
  }

 private:
  bool value() {
    if (i_ >= t_.size()) return false;
    switch (t_[i_]) {
      case '{':
        return object();
      case '[':
        return array();
      case '"':
        return string();
      case 'n':
        return literal("null");
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      default:
        return number();
    }
  }
  bool literal(std::string_view w) {
    if (t_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool number() {
    const auto start = i_;
    while (i_ < t_.size() &&
           std::string_view("+-0123456789.eE").find(t_[i_]) != std::string_view::npos)
      ++i_;
    return i_ > start;
  }
  bool object() {
    ++i_;
    ws();
    if (peek('}')) return ++i_, true;
    for (;;) {
      ws();
      if (!string()) return false;
      ws();
      if (!peek(':')) return false;
      ++i_;
      ws();
      if (!value()) return false;
      ws();
      if (peek('}')) return ++i_, true;
      if (!peek(',')) return false;
      ++i_;
    }
  }
  bool array() {
    ++i_;
    ws();
    if (peek(']')) return ++i_, true;
    for (;;) {
      ws();
      if (!value()) return false;
      ws();
      if (peek(']')) return ++i_, true;
      if (!peek(',')) return false;
      ++i_;
    }
  }
  bool string() {
    if (!peek('"')) return false;
    ++i_;
    while (i_ < t_.size()) {
      const auto c = static_cast<unsigned char>(t_[i_]);
      if (c == '"') return ++i_, true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++i_ >= t_.size()) return false;
        const char e = t_[i_];
        if (e == 'u') {
          for (int k = 1; k <= 4; ++k) {
            if (i_ + static_cast<std::size_t>(k) >= t_.size() ||
                !std::isxdigit(static_cast<unsigned char>(t_[i_ + static_cast<std::size_t>(k)])))
              return false;
          }
          i_ += 5;
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) return false;
        ++i_;
        continue;
      }
      std::size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
      if (len == 0 || c > 0xF4 || i_ + len > t_.size()) return false;
      for (std::size_t k = 1; k < len; ++k) {
        if ((static_cast<unsigned char>(t_[i_ + k]) & 0xC0) != 0x80) return false;
      }
      i_ += len;
    }
    return false;
  }
  bool peek(char c) const { return i_ < t_.size() && t_[i_] == c; }
  void ws() {
    while (i_ < t_.size() && std::string_view(" \t\r\n").find(t_[i_]) != std::string_view::npos)
      ++i_;
  }
  std::string_view t_;
  std::size_t i_ = 0;
};

bool valid_json(const std::string& s) { return JsonChecker(s).valid(); }

}  // namespace

TEST_CASE("the status document has the contract's shape, instants in RFC 3339 UTC") {
  tickd::StatusSnapshot s;
  s.replica_id = "host-42";
  s.regions.push_back({"eu-west", "*/5 * * * * *", "Europe/Paris", utc(2026, 3, 8, 10, 0, 0),
                       tickd::RunStatus::ok, utc(2026, 3, 8, 9, 59, 55)});
  s.regions.push_back({"idle", "0 0 * * *", "UTC", std::nullopt, std::nullopt, std::nullopt});
  s.invalid.push_back({"broken", "minute: 61 is out of range 0-59"});
  const std::string json = tickd::render_status_json(s);
  CHECK(
      json ==
      R"({"replica_id":"host-42","regions":[)"
      R"({"code":"eu-west","cron_schedule":"*/5 * * * * *","timezone":"Europe/Paris",)"
      R"("next_fire":"2026-03-08T10:00:00Z","last_outcome":"ok","last_scheduled_for":"2026-03-08T09:59:55Z",)"
      R"("paused":false,"paused_reason":null,"paused_by":null,"paused_at":null},)"
      R"({"code":"idle","cron_schedule":"0 0 * * *","timezone":"UTC",)"
      R"("next_fire":null,"last_outcome":null,"last_scheduled_for":null,)"
      R"("paused":false,"paused_reason":null,"paused_by":null,"paused_at":null}],)"
      R"("invalid":[{"code":"broken","error":"minute: 61 is out of range 0-59"}]})"
      "\n");
  CHECK(valid_json(json));
}

TEST_CASE("a paused region says so, with its reason, who paused it and when, and no next fire") {
  tickd::StatusSnapshot s;
  tickd::RegionStatus r{"eu-1",       "* * * * *",          "UTC",
                        std::nullopt, tickd::RunStatus::ok, utc(2026, 3, 8, 9, 0, 0)};
  r.pause = tickd::Pause{utc(2026, 3, 8, 9, 30, 15) + microseconds(250'000), "ops@host",
                         "maintenance \"window\""};
  s.regions.push_back(r);
  r.code = "eu-2";
  r.pause->by.reset();
  r.pause->reason.reset();
  s.regions.push_back(r);
  const std::string json = tickd::render_status_json(s);
  CHECK(json.find(
            R"("next_fire":null,"last_outcome":"ok","last_scheduled_for":"2026-03-08T09:00:00Z",)"
            R"("paused":true,"paused_reason":"maintenance \"window\"","paused_by":"ops@host",)"
            R"("paused_at":"2026-03-08T09:30:15Z"})") != std::string::npos);
  CHECK(json.find(R"("code":"eu-2")") != std::string::npos);
  CHECK(json.find(R"("paused":true,"paused_reason":null,"paused_by":null,)"
                  R"("paused_at":"2026-03-08T09:30:15Z"})") != std::string::npos);
  CHECK(valid_json(json));
}

TEST_CASE("an empty snapshot renders empty lists") {
  const std::string json = tickd::render_status_json({});
  CHECK(json == "{\"replica_id\":\"\",\"regions\":[],\"invalid\":[]}\n");
  CHECK(valid_json(json));
}

TEST_CASE("instants keep their seconds and zero-pad every field") {
  tickd::StatusSnapshot s;
  s.regions.push_back(
      {"a", "x", "UTC", utc(2001, 2, 3, 4, 5, 6), std::nullopt, utc(1970, 1, 1, 0, 0, 0)});
  const std::string json = tickd::render_status_json(s);
  CHECK(json.find(R"("next_fire":"2001-02-03T04:05:06Z")") != std::string::npos);
  CHECK(json.find(R"("last_scheduled_for":"1970-01-01T00:00:00Z")") != std::string::npos);
}

TEST_CASE("quotes, backslashes and control characters are escaped") {
  tickd::StatusSnapshot s;
  s.invalid.push_back({"a\"b\\c", "line1\nline2\ttab\r\b\f\x01\x1f\x7f end"});
  const std::string json = tickd::render_status_json(s);
  CHECK(json.find(R"("code":"a\"b\\c")") != std::string::npos);
  CHECK(json.find(R"("error":"line1\nline2\ttab\r\b\f\u0001\u001f\u007f end")") !=
        std::string::npos);
  CHECK(valid_json(json));
}

TEST_CASE("a NUL byte inside a string is escaped, not a terminator") {
  tickd::StatusSnapshot s;
  s.replica_id = std::string("a\0b", 3);
  const std::string json = tickd::render_status_json(s);
  CHECK(json.find(R"("replica_id":"a\u0000b")") != std::string::npos);
  CHECK(valid_json(json));
}

TEST_CASE("valid UTF-8 passes through unchanged") {
  tickd::StatusSnapshot s;
  s.replica_id = "z\xc3\xbcrich-\xe6\x9d\xb1\xe4\xba\xac-\xf0\x9f\x95\x90";  // zürich-東京-🕐
  const std::string json = tickd::render_status_json(s);
  CHECK(json.find(s.replica_id) != std::string::npos);
  CHECK(valid_json(json));
}

TEST_CASE("invalid UTF-8 becomes U+FFFD and the document stays valid JSON") {
  const char* bad[] = {
      "\xff",              // never valid
      "\xc3",              // truncated at the end
      "\xc3(",             // truncated before ASCII
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\x80",              // stray continuation
      "\xf0\x9f\x95",      // truncated 4-byte
  };
  for (const char* b : bad) {
    CAPTURE(std::string(b));
    tickd::StatusSnapshot s;
    s.invalid.push_back({std::string("x") + b + "y", b});
    const std::string json = tickd::render_status_json(s);
    CHECK(valid_json(json));
    CHECK(json.find("\\ufffd") != std::string::npos);
  }
}

TEST_CASE("an invalid region's error is cut at 4 KiB, saying how long it was") {
  tickd::StatusSnapshot s;
  s.invalid.push_back({"big", "minute: '" + std::string(5'000'000, '9') + "' is out of range"});
  const std::string json = tickd::render_status_json(s);
  CHECK(json.size() < 5000);
  CHECK(json.find("... (5000026 bytes in all)") != std::string::npos);
  CHECK(valid_json(json));
}
