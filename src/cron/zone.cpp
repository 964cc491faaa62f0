// find_zone(): an IANA name -> the system tz database's zone.

#include <date/tz.h>

#include <exception>
#include <string>
#include <string_view>
#include <variant>

#include "text.hpp"
#include "tickd/cron/cron.hpp"

namespace tickd::cron {

std::variant<const date::time_zone*, ParseError> find_zone(std::string_view name) {
  if (name.empty()) return ParseError{"time zone: the zone name is empty", 0};
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    // locate_zone throws std::runtime_error for an unknown name; the tz database itself
    // failing to load surfaces the same way, and the message below still fits.
    return ParseError{detail::cat("time zone: unknown zone '", name, "'"), 0};
  }
}

}  // namespace tickd::cron
