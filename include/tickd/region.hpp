#pragma once
// A row of region_index as tickd needs it (only active rows are ever loaded).

#include <cstdint>
#include <memory>
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

// Rows are immutable once loaded and shared: the schedule, the reconcile diff and the
// in-flight ticks of a region hold the same copy.
using RowPtr = std::shared_ptr<const RegionRow>;

}  // namespace tickd
