#pragma once
// A row of region_index as tickd needs it (only active rows are ever loaded).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tickd {

struct RegionRow {
  std::int64_t id = 0;
  std::string code;
  std::string cron_schedule;
  std::string timezone;
  std::vector<std::string> handlers;
  std::optional<std::string> tick_sql;

  friend bool operator==(const RegionRow&, const RegionRow&) = default;
};

}  // namespace tickd
