#pragma once
// Logging: spdlog to stderr, text or JSON lines. stdout is for command output only.
//
// Text:  2026-03-08T10:00:00.123Z info  message
// JSON:  {"ts":"2026-03-08T10:00:00.123Z","level":"info","msg":"message"}   (one per line)
// Timestamps are UTC. Callers log through spdlog's default logger (spdlog::info(...)).

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tickd/config/config.hpp"

namespace tickd::log {

// Installs the default spdlog logger on stderr. Returns false (and leaves the default
// logger alone) for an unknown level; Config validation normally catches that first.
// `secrets` (secret_values(config)) are replaced by *** in every line.
bool setup(std::string_view level, LogFormat format, std::vector<std::string> secrets = {});

// A log message as it is written, the one place every line passes through: each of
// `secrets` replaced by ***, cut at kMaxMessageBytes (saying how long it was), bytes that
// are not UTF-8 replaced by U+FFFD, and with `escape_controls` (text format) control
// characters written as \n, \r, \t or \xHH, so that no value from outside (a region's
// code, a database error) can forge a line or send terminal escapes.
inline constexpr std::size_t kMaxMessageBytes = 16 * 1024;
std::string clean_message(std::string_view msg, const std::vector<std::string>& secrets,
                          bool escape_controls);

// One JSON log line without the final newline, as setup(..., LogFormat::json) writes it.
std::string json_line(std::chrono::system_clock::time_point ts, std::string_view level,
                      std::string_view msg);

}  // namespace tickd::log
