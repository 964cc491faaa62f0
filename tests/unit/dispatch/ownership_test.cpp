// Which replica claims a region's ticks first (rendezvous hashing over the live replicas),
// and when the others step in (route_due).

#include "tickd/dispatch/ownership.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "../fakes.hpp"
#include "../support.hpp"
#include "tickd/dispatch/routing.hpp"

using namespace std::chrono_literals;
using tickd::Ownership;
using tickd::test::utc;
using tickd::test::utc_ms;

namespace {

// The owner of each region 1..n as each replica of `live` sees it; fails unless every
// replica names the same one, exactly once.
std::vector<std::string> owners(const std::vector<std::string>& live, int n) {
  std::vector<Ownership> views;
  for (const auto& r : live) {
    views.emplace_back(r);
    views.back().set_live(live);
  }
  std::vector<std::string> out;
  for (int id = 1; id <= n; ++id) {
    std::vector<std::string> claimants;
    for (std::size_t i = 0; i < live.size(); ++i) {
      if (views[i].mine(id)) claimants.push_back(live[i]);
    }
    REQUIRE(claimants.size() == 1);
    out.push_back(claimants[0]);
  }
  return out;
}

}  // namespace

TEST_CASE("until told of others a replica owns every region") {
  const Ownership alone("a");
  CHECK(alone.live_count() == 1);
  for (int id = 1; id <= 100; ++id) CHECK(alone.mine(id));
}

TEST_CASE("every replica computes the same single owner from the same live list") {
  const auto three = owners({"a", "b", "c"}, 3'000);
  std::map<std::string, int> share;
  for (const auto& o : three) ++share[o];
  // Rendezvous hashing spreads regions about evenly.
  for (const auto& r : {"a", "b", "c"}) {
    CAPTURE(r);
    CHECK(share[r] > 800);
    CHECK(share[r] < 1'200);
  }
}

TEST_CASE("a replica missing from the live list still counts itself") {
  Ownership a("a");
  a.set_live({"b", "c"});
  CHECK(a.live_count() == 3);
  a.set_live({"a", "b"});
  CHECK(a.live_count() == 2);
}

TEST_CASE("a replica joining takes only its share: no region moves between the others") {
  const auto before = owners({"a", "b"}, 2'000);
  const auto after = owners({"a", "b", "c"}, 2'000);
  int moved = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i]) continue;
    CHECK(after[i] == "c");
    ++moved;
  }
  CHECK(moved > 500);
  CHECK(moved < 840);
  // And leaving gives them back as they were.
  CHECK(owners({"a", "b"}, 2'000) == before);
}

TEST_CASE("another replica's tick is released after the claim grace, at most half its window") {
  const auto instant = utc("2026-05-01T10:00:00Z");
  const auto t = [&](const char* deadline) {
    return tickd::test::tick(1, instant, utc_ms(deadline));
  };
  CHECK(tickd::release_time(t("2026-05-01T10:00:01.000Z"), 500ms) ==
        utc_ms("2026-05-01T10:00:00.500Z"));
  CHECK(tickd::release_time(t("2026-05-01T10:01:00.000Z"), 500ms) ==
        utc_ms("2026-05-01T10:00:00.500Z"));
  CHECK(tickd::release_time(t("2026-05-01T10:00:00.600Z"), 500ms) ==
        utc_ms("2026-05-01T10:00:00.300Z"));  // half of a 600 ms window
  CHECK(tickd::release_time(t("2026-05-01T10:00:01.000Z"), 0ms) ==
        utc_ms("2026-05-01T10:00:00.000Z"));
}

TEST_CASE(
    "route_due: this replica's ticks to claim now, the others' with their release, "
    "each list in the order due") {
  Ownership a("a");
  a.set_live({"a", "b"});
  const auto instant = utc("2026-05-01T10:00:00Z");
  std::vector<tickd::DueTick> due;
  for (int id = 1; id <= 50; ++id) {
    due.push_back(tickd::test::tick(id, instant, utc_ms("2026-05-01T10:00:01.000Z")));
  }
  const auto routed = tickd::route_due(due, a, 200ms);
  CHECK(routed.mine.size() + routed.others.size() == 50);
  REQUIRE_FALSE(routed.mine.empty());
  REQUIRE_FALSE(routed.others.empty());
  std::int64_t last = 0;
  for (const auto& t : routed.mine) {
    CHECK(a.mine(t.region->row->id));
    CHECK(t.region->row->id > last);
    last = t.region->row->id;
  }
  last = 0;
  for (const auto& [t, release] : routed.others) {
    CHECK_FALSE(a.mine(t.region->row->id));
    CHECK(t.region->row->id > last);
    last = t.region->row->id;
    CHECK(release == utc_ms("2026-05-01T10:00:00.200Z"));
  }
}
