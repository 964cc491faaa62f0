// spdlog set-up: one stderr sink, a text pattern or a JSON-lines formatter.

#include "tickd/config/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>

#include "tickd/util/json.hpp"

namespace tickd::log {
namespace {

std::string utc_timestamp(std::chrono::system_clock::time_point ts) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  long long fraction = millis % 1000;
  if (fraction < 0) {
    fraction += 1000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03lldZ", fraction);
  return buf;
}

// The names LOG_LEVEL takes, rather than spdlog's "warning"/"error"/"critical".
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

using Secrets = std::shared_ptr<const std::vector<std::string>>;

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(Secrets secrets) : secrets_(std::move(secrets)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = json_line(
        msg.time, level_name(msg.level),
        clean_message(std::string_view(msg.payload.data(), msg.payload.size()), *secrets_, false));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(secrets_);
  }

 private:
  Secrets secrets_;
};

// "2026-03-08T10:00:00.123Z info  message", as the pattern "%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v"
// wrote it, the level coloured on a terminal, but the message through clean_message.
class TextFormatter final : public spdlog::formatter {
 public:
  explicit TextFormatter(Secrets secrets) : secrets_(std::move(secrets)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = utc_timestamp(msg.time) + ' ';
    msg.color_range_start = line.size();
    // spdlog's names, as the pattern "%-5l" wrote them ("warning", "error").
    const auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    msg.color_range_end = line.size();
    line.append(level.size() < 5 ? 6 - level.size() : 1, ' ');
    line +=
        clean_message(std::string_view(msg.payload.data(), msg.payload.size()), *secrets_, true);
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>(secrets_);
  }

 private:
  Secrets secrets_;
};

void append_escaped_controls(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != 0x7f) {
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
}

}  // namespace

std::string clean_message(std::string_view msg, const std::vector<std::string>& secrets,
                          bool escape_controls) {
  std::string text(msg);
  for (const auto& secret : secrets) {  // longest first (secret_values)
    if (secret.empty()) continue;
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + 3)) {
      text.replace(pos, secret.size(), "***");
    }
  }
  // A cut through a character leaves one U+FFFD.
  text = json::sanitize_utf8(json::shorten(text, kMaxMessageBytes));
  if (!escape_controls) return text;
  std::string out;
  out.reserve(text.size());
  append_escaped_controls(out, text);
  return out;
}

std::string json_line(std::chrono::system_clock::time_point ts, std::string_view level,
                      std::string_view msg) {
  json::Writer w;
  w.begin_object();
  w.key("ts").value(utc_timestamp(ts)).key("level").value(level).key("msg").value(msg);
  return std::move(w.end_object()).str();
}

bool setup(std::string_view level, LogFormat format, std::vector<std::string> secrets) {
  spdlog::level::level_enum lvl{};
  if (level == "trace") {
    lvl = spdlog::level::trace;
  } else if (level == "debug") {
    lvl = spdlog::level::debug;
  } else if (level == "info") {
    lvl = spdlog::level::info;
  } else if (level == "warn") {
    lvl = spdlog::level::warn;
  } else if (level == "error") {
    lvl = spdlog::level::err;
  } else if (level == "off") {
    lvl = spdlog::level::off;
  } else {
    return false;
  }

  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  const auto shared = std::make_shared<const std::vector<std::string>>(std::move(secrets));
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  if (format == LogFormat::json) {
    sink->set_formatter(std::make_unique<JsonFormatter>(shared));
  } else {
    sink->set_formatter(std::make_unique<TextFormatter>(shared));
  }
  auto logger = std::make_shared<spdlog::logger>("tickd", std::move(sink));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return true;
}

}  // namespace tickd::log
