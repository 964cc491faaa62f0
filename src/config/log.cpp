// spdlog set-up: one stderr sink, a text pattern or a JSON-lines formatter.

#include "tickd/config/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

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

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = json_line(msg.time, level_name(msg.level),
                                       std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::string json_line(std::chrono::system_clock::time_point ts, std::string_view level,
                      std::string_view msg) {
  json::Writer w;
  w.begin_object();
  w.key("ts").value(utc_timestamp(ts)).key("level").value(level).key("msg").value(msg);
  return std::move(w.end_object()).str();
}

bool setup(std::string_view level, LogFormat format) {
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

  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  if (format == LogFormat::json) {
    sink->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc));
  }
  auto logger = std::make_shared<spdlog::logger>("tickd", std::move(sink));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return true;
}

}  // namespace tickd::log
