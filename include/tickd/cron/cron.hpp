#pragma once
// The cron engine: pure functions, no I/O beyond the system tz database (spec: "Cron expressions").
//
// parse() turns an expression into bit masks, once; next_after() finds the first fire
// instant strictly after t in a given IANA zone by skipping whole fields (month, day, hour,
// minute, second), never by stepping through seconds. Errors are values: a ParseError names
// the field, the token and the 1-based column, e.g. "minute: 61 is out of range 0-59
// (column 1)". Nothing here throws. next_after() allocates nothing of its own and keeps no
// state beyond the tz database's lazily loaded zone data (plus, for a DST zone asked about
// instants after 2037, the zone's POSIX rule, read once); every function is thread-safe.
//
// Fire instants are searched up to the end of year 9999; an expression whose next match lies
// beyond that (or that can never match, such as "0 0 30 2 *") has no next fire instant.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace date {
class time_zone;
}

namespace tickd::cron {

struct ParseError {
  std::string message;  // complete, human-readable, includes "(column N)" when N > 0
  std::size_t column;   // 1-based column of the offending token in the input text; 0: none

  friend bool operator==(const ParseError&, const ParseError&) = default;
};

// A parsed expression. Value type, cheap to copy, compare with ==. Each field is a bit mask
// (bit v set: value v matches); the day-of-month and day-of-week extensions are kept apart
// and resolved per month.
struct Expr {
  std::uint64_t seconds = 0;              // bit s: second s (0-59); {0} for 5-field expressions
  std::uint64_t minutes = 0;              // bit m: minute m (0-59)
  std::uint32_t hours = 0;                // bit h: hour h (0-23)
  std::uint32_t days_of_month = 0;        // bit d: day d (1-31)
  std::uint32_t dom_last_offsets = 0;     // bit k: "L-k" (k = 0 for plain "L"), k 0-30
  std::uint32_t dom_nearest_weekday = 0;  // bit d: "dW"
  std::uint16_t months = 0;               // bit m: month m (1-12)
  std::uint8_t days_of_week = 0;          // bit w: weekday w (0 = Sunday; 7 is folded into 0)
  std::uint8_t dow_last = 0;              // bit w: "wL", the last such weekday of the month
  std::array<std::uint8_t, 7> dow_nth{};  // bit k-1 of dow_nth[w]: "w#k", k 1-5
  bool dom_last_weekday = false;          // "LW": the last weekday (Mon-Fri) of the month
  bool dom_restricted = false;            // day-of-month field was not * or ?
  bool dow_restricted = false;            // day-of-week field was not * or ?
  bool all_hours = false;                 // hour field matches all 24 hours: real-time DST rule

  friend bool operator==(const Expr&, const Expr&) = default;
};

std::variant<Expr, ParseError> parse(std::string_view text);

// The zone named `name` from the system tz database, or a ParseError such as
// "time zone: unknown zone 'Mars/Base'" (column 0).
std::variant<const date::time_zone*, ParseError> find_zone(std::string_view name);

// The first fire instant strictly after `t`, evaluated in `zone` with the contract's DST
// rules; nullopt when the expression never fires again (e.g. "0 0 30 2 *"). `zone` must not
// be null (find_zone("UTC") gives UTC).
//
// DST: when the hour field matches all 24 hours, wall times are matched as they occur in real
// time (a wall time in a gap never occurs, one that occurs twice fires twice). Otherwise wall
// times in a gap fire once, together, at the first instant after the gap, and a wall time that
// occurs twice fires once, at its first occurrence.
std::optional<std::chrono::sys_seconds> next_after(const Expr& e, const date::time_zone* zone,
                                                   std::chrono::sys_seconds t);

}  // namespace tickd::cron
