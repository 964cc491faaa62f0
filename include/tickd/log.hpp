#pragma once
// Logging: spdlog to stderr, text or JSON lines. stdout is for command output only.

#include <string_view>

#include "tickd/config.hpp"

namespace tickd::log {

// Installs the default spdlog logger on stderr. Returns false (and leaves the default
// logger alone) for an unknown level; Config validation normally catches that first.
bool setup(std::string_view level, LogFormat format);

}  // namespace tickd::log
