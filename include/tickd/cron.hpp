#pragma once
// The cron engine: pure functions, no I/O (spec: "Cron expressions").
//
// parse() turns an expression into bitsets, once; next_after() finds the first fire
// instant strictly after t in a given IANA zone by skipping whole fields. Errors are
// values: a ParseError names the field, the token and the 1-based column, e.g.
// "minute: 61 is out of range 0-59 (column 1)".

#include <bitset>
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
  std::string message;  // complete, human-readable, includes "(column N)"
  std::size_t column;   // 1-based column of the offending token in the input text
};

// A parsed expression. Value type, cheap to copy, compare with ==.
struct Expr {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bit d = day d (1..31)
  std::bitset<13> months;         // bit m = month m (1..12)
  std::bitset<7> days_of_week;    // bit w = weekday w (0 = Sunday)
  // Extensions (L, L-n, W, LW, nL, n#k) are kept apart from the plain bitsets.
  std::uint64_t dom_last_offsets = 0;  // bit k: "L-k" (k = 0 for plain L)
  std::bitset<32> dom_nearest_weekday; // bit d: "dW"
  bool dom_last_weekday = false;       // "LW"
  std::bitset<7> dow_last;             // bit w: "wL", last such weekday of the month
  std::uint8_t dow_nth[7] = {};        // bit (k-1) of dow_nth[w]: "w#k"
  bool dom_restricted = false;         // day-of-month field was not * / ?
  bool dow_restricted = false;         // day-of-week field was not * / ?
  bool all_hours = false;              // hour field matches all 24 hours: match real time (DST rule)

  friend bool operator==(const Expr&, const Expr&) = default;
};

std::variant<Expr, ParseError> parse(std::string_view text);

// The zone named `name` from the system tz database, or a ParseError such as
// "time zone: unknown zone 'Mars/Base'" (column 0).
std::variant<const date::time_zone*, ParseError> find_zone(std::string_view name);

// The first fire instant strictly after `t`, evaluated in `zone` with the contract's DST
// rules; nullopt when the expression can never fire (e.g. "0 0 30 2 *").
std::optional<std::chrono::sys_seconds> next_after(const Expr& e, const date::time_zone* zone,
                                                   std::chrono::sys_seconds t);

}  // namespace tickd::cron
