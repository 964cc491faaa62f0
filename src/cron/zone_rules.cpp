// The footer rule is read once per zone, on first need (a DST zone past its last listed
// transition), and kept for the life of the process, like the tz database itself.

#include "zone_rules.hpp"

#include <date/ptz.h>

#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace tickd::cron::detail {
namespace {

using date::sys_seconds;
using std::chrono::seconds;

// A zone whose last listed transition falls in 2037 or later still observes DST: its final
// listed segment is where the footer rule takes over. (Zones without DST have their last
// transition decades earlier and a constant footer.)
constexpr sys_seconds kListedUntil{seconds{2114380800}};  // 2037-01-01T00:00:00Z
constexpr sys_seconds kOpenEnd{seconds{253402300800}};    // 10000-01-01T00:00:00Z

bool past_listed_transitions(const date::sys_info& info) {
  return info.begin >= kListedUntil && info.end >= kOpenEnd;
}

// The last line of the zone's TZif file (version 2+), e.g. "EST5EDT,M3.2.0,M11.1.0".
std::optional<Posix::time_zone> read_footer(const date::time_zone& zone) {
  try {
    std::ifstream file("/usr/share/zoneinfo/" + zone.name(), std::ios::binary);
    const std::string data{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    if (data.size() < 2 || data.back() != '\n') return std::nullopt;
    const std::size_t start = data.rfind('\n', data.size() - 2);
    if (start == std::string::npos) return std::nullopt;
    const std::string footer = data.substr(start + 1, data.size() - start - 2);
    if (footer.empty()) return std::nullopt;
    return Posix::time_zone{footer};
  } catch (const std::exception&) {
    return std::nullopt;  // unreadable or a rule ptz.h cannot parse: keep the listed offsets
  }
}

const Posix::time_zone* footer_of(const date::time_zone& zone) {
  static std::mutex mutex;
  static std::map<const date::time_zone*, std::optional<Posix::time_zone>> footers;
  const std::lock_guard lock(mutex);
  auto it = footers.find(&zone);
  if (it == footers.end()) it = footers.emplace(&zone, read_footer(zone)).first;
  return it->second ? &*it->second : nullptr;
}

}  // namespace

date::sys_info sys_info_at(const date::time_zone& zone, sys_seconds t) {
  date::sys_info info = zone.get_info(t);
  if (!past_listed_transitions(info)) return info;
  const Posix::time_zone* footer = footer_of(zone);
  if (footer == nullptr) return info;
  date::sys_info ruled = footer->get_info(t);
  if (ruled.begin < info.begin) ruled.begin = info.begin;
  return ruled;
}

date::local_info local_info_at(const date::time_zone& zone, date::local_seconds t) {
  date::local_info info = zone.get_info(t);
  if (info.result != date::local_info::unique || !past_listed_transitions(info.first)) {
    return info;
  }
  const Posix::time_zone* footer = footer_of(zone);
  if (footer == nullptr) return info;
  return footer->get_info(t);
}

}  // namespace tickd::cron::detail
