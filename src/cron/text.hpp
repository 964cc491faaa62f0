#pragma once
// cat("minute: ", 61, " is out of range"): builds a message by appending, which also keeps
// GCC 12 at -O3 from a false -Wrestrict on `"literal" + std::string`. Internal to src/cron.

#include <concepts>
#include <string>
#include <string_view>

namespace tickd::cron::detail {

inline void append_to(std::string& out, std::string_view s) { out.append(s); }

template <std::integral T>
void append_to(std::string& out, T v) {
  out.append(std::to_string(v));
}

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (append_to(out, parts), ...);
  return out;
}

}  // namespace tickd::cron::detail
