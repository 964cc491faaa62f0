// The order of the console's list, moved from console.js (its trouble() and the sort of
// prepareRegions) so that the replica can page it: the same rule, at the replica's `now`.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>

#include "region_list.hpp"

namespace tickd::control {
namespace {

using std::chrono::seconds;

bool is_number(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// n of a "*/n" field, or nullopt for any other field. A number too large for 64 bits reads
// as the largest: like the console's (float) reading, it divides no unit.
std::optional<std::uint64_t> step_of(std::string_view field) {
  if (!field.starts_with("*/") || !is_number(field.substr(2))) return std::nullopt;
  std::uint64_t n = 0;
  const auto digits = field.substr(2);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (error != std::errc()) return std::numeric_limits<std::uint64_t>::max();
  return n;
}

// A step of n units (of `unit_seconds`) has a fixed period only when it divides the next
// unit up (`whole` of them); "*/7" minutes restarts at each hour.
std::optional<seconds> step_period(std::uint64_t n, std::uint64_t whole, std::int64_t unit) {
  if (n == 0 || whole % n != 0) return std::nullopt;
  return seconds(static_cast<std::int64_t>(n) * unit);
}

std::vector<std::string_view> fields_of(std::string_view text) {
  constexpr std::string_view kBlank = " \t\n\r\f\v";
  std::vector<std::string_view> out;
  for (std::size_t i = text.find_first_not_of(kBlank); i != std::string_view::npos;) {
    const auto end = std::min(text.find_first_of(kBlank, i), text.size());
    out.push_back(text.substr(i, end - i));
    i = text.find_first_not_of(kBlank, end);
  }
  return out;
}

int rank(const std::optional<Trouble>& t) { return t ? static_cast<int>(*t) : 3; }

}  // namespace

std::string_view trouble_name(Trouble t) {
  switch (t) {
    case Trouble::invalid:
      return "invalid";
    case Trouble::failing:
      return "failing";
    case Trouble::overdue:
      return "overdue";
  }
  return "";
}

std::optional<seconds> fixed_period(std::string_view expression) {
  constexpr std::int64_t kMinute = 60, kHour = 3600, kDay = 86400;
  static constexpr std::pair<std::string_view, std::int64_t> kMacros[] = {
      {"@weekly", 7 * kDay}, {"@daily", kDay}, {"@midnight", kDay}, {"@hourly", kHour}};
  auto fields = fields_of(expression);
  if (fields.size() == 1) {
    for (const auto& [name, period] : kMacros) {
      if (fields[0] == name) return seconds(period);
    }
    return std::nullopt;  // @yearly, @monthly: months differ in length
  }
  std::string_view sec = "0";
  if (fields.size() == 6) {
    sec = fields[0];
    fields.erase(fields.begin());
  } else if (fields.size() != 5) {
    return std::nullopt;
  }
  const auto min = fields[0], hour = fields[1], dom = fields[2], mon = fields[3], dow = fields[4];
  if (dom != "*" || mon != "*" || dow != "*") return std::nullopt;
  if (min == "*" && hour == "*") {
    if (sec == "*") return seconds(1);
    if (const auto n = step_of(sec)) return step_period(*n, 60, 1);
    if (is_number(sec)) return seconds(kMinute);
    return std::nullopt;
  }
  if (!is_number(sec)) return std::nullopt;
  if (const auto n = step_of(min); n && hour == "*") return step_period(*n, 60, kMinute);
  if (!is_number(min)) return std::nullopt;
  if (hour == "*") return seconds(kHour);
  if (const auto n = step_of(hour)) return step_period(*n, 24, kHour);
  if (is_number(hour)) return seconds(kDay);
  return std::nullopt;
}

std::optional<Trouble> trouble(const RegionView& r, const RegionState& state, Micros now) {
  if (state.state == "invalid") return Trouble::invalid;
  // While the newest run is in flight, the health is the one before it's.
  std::optional<std::string_view> ended;
  if (r.last_run && r.last_run->status != "running") {
    ended = r.last_run->status;
  } else if (r.last_run && r.last_ended) {
    ended = r.last_ended->status;
  }
  if (ended == "failed" || ended == "abandoned") return Trouble::failing;
  if (state.state == "active") {
    if (const auto period = fixed_period(r.cron_schedule)) {
      const auto since = r.last_run ? r.last_run->scheduled_for : r.updated_at;
      if (now - since > 2 * *period + kOverdueSlack) return Trouble::overdue;
    }
  }
  return std::nullopt;
}

std::vector<Listed> order_regions(const std::vector<RegionView>& regions, Micros now) {
  // The rank and the code's first bytes side by side: most comparisons of a sort of
  // thousands end there, without reaching into each region for its code.
  struct Sortable {
    int rank;
    std::uint64_t prefix;
    Listed listed;
  };
  std::vector<Sortable> sorted;
  sorted.reserve(regions.size());
  ScheduleParses parses;
  for (const auto& r : regions) {
    const auto t = trouble(r, region_state(r, now, 0, &parses), now);
    std::uint64_t prefix = 0;
    for (std::size_t i = 0; i < sizeof prefix; ++i) {
      prefix = (prefix << 8) | (i < r.code.size() ? static_cast<unsigned char>(r.code[i]) : 0);
    }
    sorted.push_back({rank(t), prefix, {&r, t}});
  }
  std::sort(sorted.begin(), sorted.end(), [](const Sortable& a, const Sortable& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return a.listed.region->code < b.listed.region->code;
  });
  std::vector<Listed> out;
  out.reserve(sorted.size());
  for (const auto& s : sorted) out.push_back(s.listed);
  return out;
}

}  // namespace tickd::control
