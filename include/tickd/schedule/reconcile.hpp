#pragma once
// The reconcile diff: a pure function from what this replica holds to what the database
// wants. Changes that may move a region's instants or its validity (expression, zone,
// handlers, a policy, pausing or resuming) make it `replaced` (validated again, its timer
// re-armed); a changed code, tick_sql or pause note (paused_at, by, reason of a region that
// stays paused) is `updated` in place; everything else is left untouched.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "tickd/schedule/region.hpp"

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

// Every region a replica knows (valid or not), as the diff reads it: an interface, so the
// schedule answers from the one map it keeps per region instead of a second map of rows.
class KnownRegions {
 public:
  // The row held for `id`, or null.
  virtual const RegionRow* find(std::int64_t id) const = 0;
  // Calls `f` with every id held, in no particular order.
  virtual void each_id(const std::function<void(std::int64_t)>& f) const = 0;
  virtual std::size_t size() const = 0;

 protected:
  ~KnownRegions() = default;
};

// `current`: every region this replica knows. `desired`: the active rows just read.
// `scope`: nullopt for a full pass (a known id absent from `desired` is removed); otherwise
// only the listed ids are considered (the rows of a change notification).
// The rows of `desired` move into the plan (a million of them at the first pass).
ReconcilePlan plan_reconcile(const KnownRegions& current, std::vector<RegionRow> desired,
                             const std::optional<std::vector<std::int64_t>>& scope);

// The first half of a full pass that reads versions before rows. `active`: the id and
// version of every active row. The ids whose rows must be read (as a scoped pass) for the
// schedule to match: active rows not held or held at another version, and rows held that
// are no longer active. Sorted. Empty when nothing changed: no row needs reading.
std::vector<std::int64_t> stale_ids(const KnownRegions& current,
                                    const std::vector<RegionVersion>& active);

}  // namespace tickd
