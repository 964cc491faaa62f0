#pragma once
// The reconcile diff: a pure function from what this replica holds to what the database
// wants. Only changes that move a region's instants (expression, zone, handlers) make it
// `replaced` (its timer is re-armed); a changed code or tick_sql is `updated` in place;
// everything else is left untouched.

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "tickd/region.hpp"

namespace tickd {

struct ReconcilePlan {
  std::vector<RegionRow> added;
  std::vector<RegionRow> replaced;
  std::vector<RegionRow> updated;
  std::vector<std::int64_t> removed;

  bool empty() const {
    return added.empty() && replaced.empty() && updated.empty() && removed.empty();
  }
};

// `current`: every region this replica knows (valid or not), by id. `desired`: the
// active rows just read. `scope`: nullopt for a full pass (a known id absent from
// `desired` is removed); otherwise only the listed ids are considered (the rows of a
// change notification).
ReconcilePlan plan_reconcile(const std::unordered_map<std::int64_t, RowPtr>& current,
                             const std::vector<RegionRow>& desired,
                             const std::optional<std::vector<std::int64_t>>& scope);

}  // namespace tickd
