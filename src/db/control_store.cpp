#include <date/date.h>

#include "control_internal.hpp"
#include "tickd/cron/timestamp.hpp"
#include "tickd/db/database.hpp"

namespace tickd {

ControlStore::ControlStore(std::string database_url, std::chrono::milliseconds statement_timeout,
                           unsigned connections)
    : impl_(std::make_unique<Impl>(with_connection_defaults(database_url), statement_timeout,
                                   connections)) {}

ControlStore::~ControlStore() = default;

std::string format_time(Micros t) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  std::string out = date::format("%FT%T", seconds);
  auto us = (t - seconds).count();
  if (us != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    std::string f(frac);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "Z";
}

std::variant<Micros, std::string> parse_time(std::string_view text) {
  const bool date_only = text.size() == 10 && text[4] == '-' && text[7] == '-';
  auto parsed = cron::parse_rfc3339(date_only ? std::string(text) + "T00:00:00Z" : text);
  if (const auto* t = std::get_if<std::chrono::sys_seconds>(&parsed)) return Micros(*t);
  return "'" + std::string(text) + "' is not a time: " + std::get<std::string>(parsed) +
         " (RFC 3339, e.g. 2026-03-08T10:00:00Z, or a date 2026-03-08)";
}

namespace control_db {

LockedRegion lock_region(pqxx::work& tx, const std::string& code) {
  const auto r = tx.exec_params(
      "SELECT id, overlap, paused_at IS NOT NULL FROM region_index WHERE code = $1 FOR UPDATE",
      code);
  if (r.empty()) {
    throw ControlError(ControlError::Kind::not_found, "no region with code '" + code + "'");
  }
  return {r[0][0].as<std::int64_t>(), r[0][1].as<std::string>(), r[0][2].as<bool>()};
}

}  // namespace control_db
}  // namespace tickd
