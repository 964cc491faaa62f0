#include "tickd/reconcile.hpp"

#include <unordered_set>

namespace tickd {
namespace {

bool moves_instants(const RegionRow& a, const RegionRow& b) {
  return a.cron_schedule != b.cron_schedule || a.timezone != b.timezone || a.handlers != b.handlers;
}

}  // namespace

ReconcilePlan plan_reconcile(const std::unordered_map<std::int64_t, RowPtr>& current,
                             const std::vector<RegionRow>& desired,
                             const std::optional<std::vector<std::int64_t>>& scope) {
  ReconcilePlan plan;
  std::unordered_set<std::int64_t> seen;
  seen.reserve(desired.size());
  for (const auto& row : desired) {
    seen.insert(row.id);
    const auto it = current.find(row.id);
    if (it == current.end()) {
      plan.added.push_back(row);
    } else if (moves_instants(*it->second, row)) {
      plan.replaced.push_back(row);
    } else if (*it->second != row) {
      plan.updated.push_back(row);
    }
  }
  if (scope) {
    for (const auto id : *scope) {
      if (!seen.contains(id) && current.contains(id)) plan.removed.push_back(id);
    }
  } else {
    for (const auto& [id, row] : current) {
      if (!seen.contains(id)) plan.removed.push_back(id);
    }
  }
  return plan;
}

}  // namespace tickd
