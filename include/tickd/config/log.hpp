#pragma once
// Logging: spdlog to stderr, text or JSON lines. stdout is for command output only.
//
// Text:  2026-03-08T10:00:00.123Z info  message
// JSON:  {"ts":"2026-03-08T10:00:00.123Z","level":"info","msg":"message"}   (one per line)
// Timestamps are UTC. Callers log through spdlog's default logger (spdlog::info(...)).

#include <chrono>
#include <string>
#include <string_view>

#include "tickd/config/config.hpp"

namespace tickd::log {

// Installs the default spdlog logger on stderr. Returns false (and leaves the default
// logger alone) for an unknown level; Config validation normally catches that first.
bool setup(std::string_view level, LogFormat format);

// One JSON log line without the final newline, as setup(..., LogFormat::json) writes it.
std::string json_line(std::chrono::system_clock::time_point ts, std::string_view level,
                      std::string_view msg);

}  // namespace tickd::log
