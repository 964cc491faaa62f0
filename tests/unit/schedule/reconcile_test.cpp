#include "tickd/schedule/reconcile.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <unordered_map>

using tickd::plan_reconcile;
using tickd::RegionRow;

namespace {

RegionRow row(std::int64_t id, std::string cron = "* * * * *", std::string tz = "UTC") {
  return RegionRow{id, "r" + std::to_string(id), std::move(cron), std::move(tz), {"region"}, {}};
}

// The regions a replica holds, as a plain map.
class Known final : public tickd::KnownRegions {
 public:
  Known(std::initializer_list<RegionRow> rows) {
    for (const auto& r : rows) rows_.emplace(r.id, r);
  }
  const RegionRow* find(std::int64_t id) const override {
    const auto it = rows_.find(id);
    return it == rows_.end() ? nullptr : &it->second;
  }
  void each_id(const std::function<void(std::int64_t)>& f) const override {
    for (const auto& [id, row] : rows_) f(id);
  }
  std::size_t size() const override { return rows_.size(); }

 private:
  std::unordered_map<std::int64_t, RegionRow> rows_;
};

Known known(std::initializer_list<RegionRow> rows) { return Known(rows); }

std::vector<std::int64_t> ids(const std::vector<RegionRow>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& r : rows) out.push_back(r.id);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("an empty schedule adds every desired region") {
  const auto plan = plan_reconcile(known({}), {row(1), row(2)}, std::nullopt);
  CHECK(ids(plan.added) == std::vector<std::int64_t>{1, 2});
  CHECK(plan.replaced.empty());
  CHECK(plan.updated.empty());
  CHECK(plan.removed.empty());
}

TEST_CASE("an unchanged region is left untouched") {
  const auto plan = plan_reconcile(known({row(1)}), {row(1)}, std::nullopt);
  CHECK(plan.empty());
}

TEST_CASE("a changed expression, zone or handler list replaces the region") {
  auto handlers = row(3);
  handlers.handlers = {"region", "sync"};
  const auto plan = plan_reconcile(
      known({row(1), row(2), row(3)}),
      {row(1, "*/5 * * * *"), row(2, "* * * * *", "Europe/London"), handlers}, std::nullopt);
  CHECK(ids(plan.replaced) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(plan.added.empty());
  CHECK(plan.updated.empty());
}

TEST_CASE("equal handler lists are equal whether or not two rows share one") {
  auto shared = row(1);
  auto own = row(1);
  own.handlers = std::vector<std::string>{"region"};
  CHECK(plan_reconcile(known({shared}), {own}, std::nullopt).empty());
  tickd::HandlerList none;
  CHECK(none.names().empty());
  CHECK_FALSE(none == own.handlers);
}

TEST_CASE("a changed code or tick_sql updates the region without re-arming it") {
  auto renamed = row(1);
  renamed.code = "renamed";
  auto with_sql = row(2);
  with_sql.tick_sql = "SELECT 1";
  const auto plan = plan_reconcile(known({row(1), row(2)}), {renamed, with_sql}, std::nullopt);
  CHECK(ids(plan.updated) == std::vector<std::int64_t>{1, 2});
  CHECK(plan.replaced.empty());
}

TEST_CASE("a changed policy, a pause or a resume replaces the region (validated and armed again)") {
  auto timeout = row(1);
  timeout.policy.timeout = tickd::ColumnMs(500);
  auto attempts = row(2);
  attempts.policy.max_attempts = 3;
  auto overlap = row(3);
  overlap.policy.overlap = tickd::Overlap::allow;
  auto jitter = row(4);
  jitter.policy.jitter = tickd::ColumnMs(1000);
  const auto at = std::chrono::sys_time<std::chrono::microseconds>(std::chrono::seconds(1));
  auto paused = row(5);
  paused.pause = tickd::Pause{at, "ops", "maintenance"};
  auto resumed = row(6);
  auto was_paused = row(6);
  was_paused.pause = tickd::Pause{at, {}, {}};
  const auto plan =
      plan_reconcile(known({row(1), row(2), row(3), row(4), row(5), was_paused}),
                     {timeout, attempts, overlap, jitter, paused, resumed}, std::nullopt);
  CHECK(ids(plan.replaced) == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});
  CHECK(plan.updated.empty());
}

TEST_CASE("a paused region whose note changes is updated in place; the same pause is no change") {
  const auto at = std::chrono::sys_time<std::chrono::microseconds>(std::chrono::seconds(1));
  auto before = row(1);
  before.pause = tickd::Pause{at, "ops", "maintenance"};
  auto after = row(1);
  after.pause = tickd::Pause{at, "ops", "maintenance until 10:00"};
  auto same = row(1);
  same.pause = tickd::Pause{at, "ops", "maintenance"};  // equal, not the same pointer
  CHECK(ids(plan_reconcile(known({before}), {after}, std::nullopt).updated) ==
        std::vector<std::int64_t>{1});
  CHECK(plan_reconcile(known({before}), {same}, std::nullopt).empty());
}

TEST_CASE("a full pass removes regions that are no longer active or no longer exist") {
  const auto plan = plan_reconcile(known({row(1), row(2), row(3)}), {row(2)}, std::nullopt);
  auto removed = plan.removed;
  std::sort(removed.begin(), removed.end());
  CHECK(removed == std::vector<std::int64_t>{1, 3});
}

TEST_CASE("a scoped pass only considers the notified ids") {
  // Region 2 is absent from `desired` because the scoped read only asked for 1 and 3.
  const auto plan = plan_reconcile(known({row(1), row(2), row(3)}), {row(1, "*/2 * * * *")},
                                   std::vector<std::int64_t>{1, 3});
  CHECK(ids(plan.replaced) == std::vector<std::int64_t>{1});
  CHECK(plan.removed == std::vector<std::int64_t>{3});
}

TEST_CASE("a scoped pass for an unknown id that is now active adds it") {
  const auto plan = plan_reconcile(known({row(1)}), {row(7)}, std::vector<std::int64_t>{7});
  CHECK(ids(plan.added) == std::vector<std::int64_t>{7});
  CHECK(plan.removed.empty());
}

TEST_CASE("a scoped pass for an id nobody knows and that is inactive changes nothing") {
  const auto plan = plan_reconcile(known({row(1)}), {}, std::vector<std::int64_t>{9});
  CHECK(plan.empty());
}

namespace {

RegionRow at_version(RegionRow r, std::uint32_t version) {
  r.version = version;
  return r;
}

}  // namespace

TEST_CASE("a full pass that compares versions reads nothing when no version moved") {
  CHECK(tickd::stale_ids(known({at_version(row(1), 7), at_version(row(2), 9)}), {{1, 7}, {2, 9}})
            .empty());
}

TEST_CASE("it reads the rows whose version moved, the new ones and the ones gone, sorted") {
  const auto held = known({at_version(row(1), 7), at_version(row(2), 9), at_version(row(3), 4)});
  // 1 unchanged, 2 rewritten, 3 deactivated or deleted, 8 new.
  CHECK(tickd::stale_ids(held, {{8, 11}, {2, 10}, {1, 7}}) == std::vector<std::int64_t>{2, 3, 8});
}

TEST_CASE(
    "a row rewritten with the same values has moved: its row is read, the plan then keeps it") {
  const auto held = known({at_version(row(1), 7)});
  CHECK(tickd::stale_ids(held, {{1, 8}}) == std::vector<std::int64_t>{1});
  const auto plan = plan_reconcile(held, {at_version(row(1), 8)}, std::vector<std::int64_t>{1});
  CHECK(ids(plan.updated) == std::vector<std::int64_t>{1});  // the snapshot only, not re-armed
  CHECK(plan.replaced.empty());
}

TEST_CASE("with nothing held, a scoped pass adds what it read, like a full one") {
  const auto plan = plan_reconcile(known({}), {row(2), row(5)}, std::vector<std::int64_t>{2, 5, 9});
  CHECK(ids(plan.added) == std::vector<std::int64_t>{2, 5});
  CHECK(plan.removed.empty());
}
