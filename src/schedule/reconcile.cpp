#include "tickd/schedule/reconcile.hpp"

#include <algorithm>
#include <unordered_set>

namespace tickd {
namespace {

// Also a policy or the handlers' columns (they may make the row valid or invalid), and
// pausing or resuming (a paused region is not armed; a resumed one is armed from now).
bool moves_instants(const RegionRow& a, const RegionRow& b) {
  return a.cron_schedule != b.cron_schedule || a.timezone != b.timezone ||
         a.handlers != b.handlers || a.policy != b.policy || a.extras != b.extras ||
         static_cast<bool>(a.pause) != static_cast<bool>(b.pause);
}

}  // namespace

ReconcilePlan plan_reconcile(const KnownRegions& current, std::vector<RegionRow> desired,
                             const std::optional<std::vector<std::int64_t>>& scope) {
  ReconcilePlan plan;
  if (current.size() == 0) {
    // The first pass: every row is new. The vector itself moves, so the rows are not held
    // twice while it is built (a million of them are a few hundred MB).
    plan.added = std::move(desired);
    return plan;
  }
  std::unordered_set<std::int64_t> seen;
  seen.reserve(desired.size());
  for (auto& row : desired) {
    seen.insert(row.id);
    const RegionRow* held = current.find(row.id);
    if (held == nullptr) {
      plan.added.push_back(std::move(row));
    } else if (moves_instants(*held, row)) {
      plan.replaced.push_back(std::move(row));
    } else if (*held != row) {
      plan.updated.push_back(std::move(row));
    }
  }
  if (scope) {
    for (const auto id : *scope) {
      if (!seen.contains(id) && current.find(id) != nullptr) plan.removed.push_back(id);
    }
  } else {
    current.each_id([&](std::int64_t id) {
      if (!seen.contains(id)) plan.removed.push_back(id);
    });
  }
  return plan;
}

std::vector<std::int64_t> stale_ids(const KnownRegions& current,
                                    const std::vector<RegionVersion>& active) {
  std::vector<std::int64_t> stale;
  std::size_t held = 0;
  for (const auto& [id, version] : active) {
    const RegionRow* row = current.find(id);
    if (row == nullptr || row->version != version) stale.push_back(id);
    if (row != nullptr) ++held;
  }
  if (held < current.size()) {
    // Some region held is no longer among the active rows (ids are unique there). The set
    // of ids costs tens of bytes a row, so it is built only when this is so.
    std::unordered_set<std::int64_t> seen;
    seen.reserve(active.size());
    for (const auto& v : active) seen.insert(v.id);
    current.each_id([&](std::int64_t id) {
      if (!seen.contains(id)) stale.push_back(id);
    });
  }
  std::sort(stale.begin(), stale.end());
  return stale;
}

}  // namespace tickd
