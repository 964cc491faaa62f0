#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "tickd/schedule/status.hpp"
#include "tickd/util/json.hpp"

namespace tickd {

namespace {

using json::append_string;

constexpr std::size_t kMaxErrorBytes = 4096;

void append_instant(std::string& out, const std::optional<std::chrono::sys_seconds>& t) {
  if (!t) {
    out += "null";
    return;
  }
  using namespace std::chrono;
  const auto day = floor<days>(*t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{*t - day};
  char buf[40];
  const int n = std::snprintf(
      buf, sizeof buf, "\"%04d-%02u-%02uT%02d:%02d:%02dZ\"", static_cast<int>(ymd.year()),
      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
      static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()));
  if (n > 0) out.append(buf, static_cast<std::size_t>(n));
}

void append_status(std::string& out, const std::optional<RunStatus>& s) {
  if (s) {
    append_string(out, to_string(*s));
  } else {
    out += "null";
  }
}

void append_optional_string(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    append_string(out, *s);
  } else {
    out += "null";
  }
}

// `[a,b,...]`, each item written by `append_item`.
template <class Items, class AppendItem>
void append_array(std::string& out, const Items& items, AppendItem append_item) {
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    append_item(item);
  }
  out += ']';
}

}  // namespace

std::string render_status_json(const StatusSnapshot& s) {
  std::string out;
  out.reserve(128 + 160 * s.regions.size() + 64 * s.invalid.size());
  out += "{\"replica_id\":";
  append_string(out, s.replica_id);
  out += ",\"regions\":";
  append_array(out, s.regions, [&](const auto& r) {
    out += "{\"code\":";
    append_string(out, r.code);
    out += ",\"cron_schedule\":";
    append_string(out, r.cron_schedule);
    out += ",\"timezone\":";
    append_string(out, r.timezone);
    out += ",\"next_fire\":";
    append_instant(out, r.next_fire);
    out += ",\"last_outcome\":";
    append_status(out, r.last_outcome);
    out += ",\"last_scheduled_for\":";
    append_instant(out, r.last_scheduled_for);
    // Every region has the pause fields (false and nulls when running), so a reader need not
    // tell a missing key from a running region.
    out += ",\"paused\":";
    out += r.pause ? "true" : "false";
    out += ",\"paused_reason\":";
    append_optional_string(out, r.pause ? r.pause->reason : std::nullopt);
    out += ",\"paused_by\":";
    append_optional_string(out, r.pause ? r.pause->by : std::nullopt);
    out += ",\"paused_at\":";
    append_instant(out, r.pause
                            ? std::optional(std::chrono::floor<std::chrono::seconds>(r.pause->at))
                            : std::nullopt);
    out += '}';
  });
  out += ",\"invalid\":";
  append_array(out, s.invalid, [&](const auto& inv) {
    out += "{\"code\":";
    append_string(out, inv.code);
    out += ",\"error\":";
    // It may quote the row's expression, however long.
    append_string(out, json::shorten(inv.error, kMaxErrorBytes));
    out += '}';
  });
  out += "}\n";
  return out;
}

}  // namespace tickd
