// The console's list as the replica sorts and pages it: which regions need a look at an exact
// `now` (the rule console.js had), their order, and the query parameters of a page.

#include "../../../src/control/region_list.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::ControlError;
using tickd::Micros;
using tickd::RegionView;
using tickd::control::fixed_period;
using tickd::control::Query;
using tickd::control::Trouble;

namespace {

using tickd::test::utc;

const Micros kNow = utc("2026-03-08T10:00:00Z");

RegionView region(std::string code, std::string cron = "*/5 * * * *") {
  RegionView r;
  r.id = static_cast<std::int64_t>(std::hash<std::string>{}(code) % 100000);
  r.code = std::move(code);
  r.cron_schedule = std::move(cron);
  r.timezone = "UTC";
  r.updated_at = utc("2026-03-08T09:59:00Z");
  return r;
}

RegionView with_run(RegionView r, std::string status, Micros scheduled_for) {
  r.last_run.emplace();
  r.last_run->region_id = r.id;
  r.last_run->status = std::move(status);
  r.last_run->scheduled_for = scheduled_for;
  return r;
}

std::optional<Trouble> trouble_of(const RegionView& r, Micros now = kNow) {
  return tickd::control::trouble(r, tickd::control::region_state(r, now, 0), now);
}

std::string refusal(const Query& q) {
  try {
    tickd::control::list_query(q);
  } catch (const ControlError& e) {
    CHECK(e.kind() == ControlError::Kind::bad_input);
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("a fixed period only for the shapes the console puts in words, steps that divide") {
  const std::pair<const char*, std::optional<std::chrono::seconds>> table[] = {
      {"* * * * * *", 1s},
      {"*/2 * * * * *", 2s},
      {"  */10   * * * * *  ", 10s},
      {"*/7 * * * * *", std::nullopt},  // restarts at each minute
      {"*/0 * * * * *", std::nullopt},
      {"*/99999999999999999999 * * * * *", std::nullopt},
      {"* * * * *", 60s},
      {"30 * * * * *", 60s},
      {"*/5 * * * *", 300s},
      {"10 */5 * * * *", 300s},
      {"*/7 * * * *", std::nullopt},
      {"15 * * * *", 3600s},
      {"0 */6 * * *", 21600s},
      {"0 */5 * * *", std::nullopt},
      {"30 2 * * *", 86400s},
      {"@hourly", 3600s},
      {"@daily", 86400s},
      {"@midnight", 86400s},
      {"@weekly", 604800s},
      {"@monthly", std::nullopt},
      {"@yearly", std::nullopt},
      {"0 0 1 1 *", std::nullopt},
      {"0 9 * * MON", std::nullopt},
      {"1-5 * * * *", std::nullopt},
      {"* 3 * * *", std::nullopt},
      {"0 0 * * * * *", std::nullopt},
  };
  for (const auto& [expression, period] : table) {
    CAPTURE(expression);
    CHECK(fixed_period(expression) == period);
  }
}

TEST_CASE("overdue: active, a fixed period, and nothing for more than two periods plus 4 s") {
  // Every 5 minutes: overdue once its newest run is more than 604 s before now.
  const auto on_time = with_run(region("a"), "ok", kNow - 604s);
  CHECK(trouble_of(on_time) == std::nullopt);
  CHECK(trouble_of(on_time, kNow + 1us) == Trouble::overdue);
  // Never run: counted from its last update.
  auto never = region("b");
  never.updated_at = kNow - 604s;
  CHECK(trouble_of(never) == std::nullopt);
  never.updated_at = kNow - 605s;
  CHECK(trouble_of(never) == Trouble::overdue);
  // The newest run counts even while it runs, and whatever it ended as.
  CHECK(trouble_of(with_run(region("c"), "running", kNow - 60s)) == std::nullopt);
  // Not active, or no fixed period: never overdue.
  auto paused = with_run(region("d"), "ok", kNow - 3600s);
  paused.paused_at = kNow - 3600s;
  CHECK(trouble_of(paused) == std::nullopt);
  auto inactive = with_run(region("e"), "ok", kNow - 3600s);
  inactive.active = false;
  CHECK(trouble_of(inactive) == std::nullopt);
  CHECK(trouble_of(with_run(region("f", "0 9 * * MON"), "ok", kNow - 30 * 86400s)) == std::nullopt);
}

TEST_CASE("failing: the newest ended run failed or was abandoned, whatever the state") {
  CHECK(trouble_of(with_run(region("a"), "ok", kNow - 60s)) == std::nullopt);
  CHECK(trouble_of(with_run(region("a"), "failed", kNow - 60s)) == Trouble::failing);
  CHECK(trouble_of(with_run(region("a"), "abandoned", kNow - 60s)) == Trouble::failing);
  CHECK(trouble_of(with_run(region("a"), "cancelled", kNow - 60s)) == std::nullopt);
  // While the next run is in flight, the one before it tells.
  auto busy = with_run(region("a"), "running", kNow - 1s);
  CHECK(trouble_of(busy) == std::nullopt);
  busy.last_ended = tickd::EndedRun{"abandoned", kNow - 301s, {}, {}};
  CHECK(trouble_of(busy) == Trouble::failing);
  auto retired = with_run(region("a"), "failed", kNow - 86400s);
  retired.active = false;
  CHECK(trouble_of(retired) == Trouble::failing);
  // Failing before overdue: both are true of a failed run long ago.
  CHECK(trouble_of(with_run(region("a"), "failed", kNow - 3600s)) == Trouble::failing);
}

TEST_CASE("invalid before all: a region a replica refuses, even with a failed run") {
  CHECK(trouble_of(with_run(region("a", "0 25 * * *"), "failed", kNow - 60s)) == Trouble::invalid);
  auto zone = region("a");
  zone.timezone = "Mars/Olympus";
  CHECK(trouble_of(zone) == Trouble::invalid);
  auto policy = region("a");
  policy.max_attempts = 0;
  CHECK(trouble_of(policy) == Trouble::invalid);
  // Inactive is not invalid: replicas never load it.
  auto off = region("a", "0 25 * * *");
  off.active = false;
  CHECK(trouble_of(off) == std::nullopt);
}

TEST_CASE("the order: invalid, failing, overdue, then the rest; by code (bytes) within each") {
  const std::vector<RegionView> regions = {
      with_run(region("region-000010"), "ok", kNow - 60s),
      with_run(region("b2"), "failed", kNow - 60s),
      with_run(region("region-000002"), "ok", kNow - 60s),
      region("zz-typo", "0 25 * * *"),
      with_run(region("b10"), "failed", kNow - 60s),
      with_run(region("a-late"), "ok", kNow - 3600s),
      with_run(region("B1"), "ok", kNow - 60s),
      with_run(region("b100"), "abandoned", kNow - 60s),
      with_run(region("region-00001"), "ok", kNow - 60s),
      with_run(region("region-0000"), "ok", kNow - 60s),
  };
  std::vector<std::string> codes;
  std::vector<std::optional<Trouble>> troubles;
  for (const auto& listed : tickd::control::order_regions(regions, kNow)) {
    codes.push_back(listed.region->code);
    troubles.push_back(listed.trouble);
  }
  CHECK(codes == std::vector<std::string>{"zz-typo", "b10", "b100", "b2", "a-late", "B1",
                                          "region-0000", "region-000002", "region-00001",
                                          "region-000010"});
  CHECK(troubles == std::vector<std::optional<Trouble>>{
                        Trouble::invalid, Trouble::failing, Trouble::failing, Trouble::failing,
                        Trouble::overdue, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                        std::nullopt});
}

TEST_CASE("a page's parameters: limit 1-1000, offset from 0, q; only with view=list") {
  CHECK_FALSE(tickd::control::list_query({}));
  CHECK_FALSE(tickd::control::list_query({{"view", "list"}, {"code", "eu"}}));
  const auto defaults = tickd::control::list_query({{"view", "list"}, {"q", ""}});
  REQUIRE(defaults);
  CHECK(defaults->limit == 100);
  CHECK(defaults->offset == 0);
  CHECK(defaults->q.empty());
  const auto page = tickd::control::list_query(
      {{"view", "list"}, {"limit", "1000"}, {"offset", "2000"}, {"q", "EU"}});
  REQUIRE(page);
  CHECK(page->limit == 1000);
  CHECK(page->offset == 2000);
  CHECK(page->q == "EU");
  CHECK(refusal({{"view", "list"}, {"limit", "ten"}}) == "limit: 'ten' is not a whole number");
  CHECK(refusal({{"view", "list"}, {"limit", ""}}) == "limit: '' is not a whole number");
  CHECK(refusal({{"view", "list"}, {"limit", "0"}}) == "limit: 0 is out of range 1-1000");
  CHECK(refusal({{"view", "list"}, {"limit", "1001"}}) == "limit: 1001 is out of range 1-1000");
  CHECK(refusal({{"view", "list"}, {"offset", "-1"}}) == "offset: -1 is negative");
  CHECK(refusal({{"view", "list"}, {"offset", "1.5"}}) == "offset: '1.5' is not a whole number");
  CHECK(refusal({{"view", "list"}, {"offset", "99999999999999999999"}}) ==
        "offset: '99999999999999999999' is not a whole number");
  CHECK(refusal({{"limit", "10"}}) == "limit: pages are of view=list only");
  CHECK(refusal({{"view", "full"}, {"q", "x"}}) == "q: pages are of view=list only");
}

TEST_CASE("the search keeps the codes that contain it, ASCII letters in any case") {
  CHECK(tickd::control::code_matches("EU-West-1", "west"));
  CHECK(tickd::control::code_matches("eu-west-1", "U-W"));
  CHECK(tickd::control::code_matches("eu-west-1", ""));
  CHECK(tickd::control::code_matches("", ""));
  CHECK_FALSE(tickd::control::code_matches("eu-west-1", "east"));
  CHECK_FALSE(tickd::control::code_matches("eu", "eu-west"));
}

TEST_CASE("a page's document: its regions with their trouble, and the whole list's counts") {
  auto failing = with_run(region("b2"), "failed", kNow - 60s);
  failing.last_run->error = "boom";
  const auto quiet = region("c3", "0 0 1 1 *");
  tickd::control::PageFacts facts;
  facts.total = 10;
  facts.matching = 4;
  facts.offset = 2;
  facts.limit = 2;
  facts.troubles = {1, 2, 3};
  const auto doc = nlohmann::json::parse(tickd::control::regions_page_document(
      {failing, quiet}, {Trouble::failing, std::nullopt}, facts, kNow));
  REQUIRE(doc["regions"].size() == 2);
  CHECK(doc["regions"][0]["code"] == "b2");
  CHECK(doc["regions"][0]["trouble"] == "failing");
  CHECK(doc["regions"][0]["last_run"]["error"] == "boom");
  CHECK(doc["regions"][1]["trouble"].is_null());
  CHECK(doc["regions"][1]["next_fire"] == "2027-01-01T00:00:00Z");
  CHECK(doc["total"] == 10);
  CHECK(doc["matching"] == 4);
  CHECK(doc["offset"] == 2);
  CHECK(doc["limit"] == 2);
  CHECK(doc["troubles"] == nlohmann::json{{"invalid", 1}, {"failing", 2}, {"overdue", 3}});
}
