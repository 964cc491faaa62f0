#pragma once
// RFC 3339 timestamps: `tickd cron next --from` and its fire instants, the control
// commands' times (src/control).

#include <chrono>
#include <string>
#include <string_view>
#include <variant>

namespace tickd::cron {

// "2026-03-08T06:00:00Z", "2026-03-08T01:00:00.250-05:00" (T or space; Z or an offset;
// optional fraction) -> the instant, with any fraction dropped (floor: the next whole second
// after the floor is the next whole second after the exact time). Otherwise why it is not one.
std::variant<std::chrono::sys_seconds, std::string> parse_rfc3339(std::string_view text);

// "2026-03-08T06:00:00Z". Years 0000-9999.
std::string format_rfc3339(std::chrono::sys_seconds t);

}  // namespace tickd::cron
