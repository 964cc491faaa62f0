#include "tickd/schedule/schedule.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::ReconcilePlan;
using tickd::RegionRow;
using tickd::Schedule;
using tickd::test::utc;
using tickd::test::utc_ms;

namespace {

RegionRow row(std::int64_t id, std::string cron, std::string tz = "UTC",
              std::vector<std::string> handlers = {"region"}) {
  return RegionRow{
      id, "r" + std::to_string(id), std::move(cron), std::move(tz), std::move(handlers), {}};
}

ReconcilePlan adding(std::vector<RegionRow> rows) {
  ReconcilePlan p;
  p.added = std::move(rows);
  return p;
}

struct Fixture {
  tickd::HandlerRegistry handlers = tickd::builtin_handlers();
  Schedule schedule{handlers};
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "a new region is armed for its next instant after now") {
  schedule.apply(adding({row(1, "*/5 * * * *")}), utc_ms("2026-05-01T10:01:30.000Z"));
  CHECK(schedule.scheduled_count() == 1);
  CHECK(*schedule.earliest() == utc("2026-05-01T10:05:00Z"));
}

TEST_CASE_FIXTURE(Fixture, "regions due on one instant come out together, each re-armed") {
  schedule.apply(adding({row(1, "* * * * *"), row(2, "*/2 * * * *"), row(3, "0 * * * *")}),
                 utc_ms("2026-05-01T10:00:30.000Z"));
  CHECK(*schedule.earliest() == utc("2026-05-01T10:01:00Z"));
  CHECK(schedule.take_due(utc_ms("2026-05-01T10:00:59.999Z"), 60s).ticks.empty());
  auto due = schedule.take_due(utc_ms("2026-05-01T10:01:00.002Z"), 60s);
  REQUIRE(due.ticks.size() == 1);
  CHECK(due.ticks[0].region->row->id == 1);
  due = schedule.take_due(utc_ms("2026-05-01T10:02:00.001Z"), 60s);
  CHECK(due.ticks.size() == 2);
  for (const auto& t : due.ticks) CHECK(t.instant == utc("2026-05-01T10:02:00Z"));
  CHECK(*schedule.earliest() == utc("2026-05-01T10:03:00Z"));
}

TEST_CASE_FIXTURE(Fixture, "invalid expressions, zones and handlers are refused with a reason") {
  const auto result =
      schedule.apply(adding({row(1, "61 * * * *"), row(2, "* * * * *", "Mars/Base"),
                             row(3, "* * * * *", "UTC", {"region", "nope"}), row(4, "* * * * *")}),
                     utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(schedule.scheduled_count() == 1);
  CHECK(schedule.invalid_count() == 3);
  REQUIRE(result.newly_invalid.size() == 3);
  CHECK(result.newly_invalid[0].error.find("minute") != std::string::npos);
  CHECK(result.newly_invalid[1].error.find("Mars/Base") != std::string::npos);
  CHECK(result.newly_invalid[2].error.find("nope") != std::string::npos);
  const auto status = schedule.status("replica");
  CHECK(status.invalid.size() == 3);
  CHECK(status.regions.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "fixing an invalid region schedules it") {
  schedule.apply(adding({row(1, "61 * * * *")}), utc_ms("2026-05-01T10:00:00.000Z"));
  ReconcilePlan fix;
  fix.replaced = {row(1, "*/10 * * * *")};
  const auto result = schedule.apply(fix, utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(result.newly_invalid.empty());
  CHECK(schedule.invalid_count() == 0);
  CHECK(*schedule.earliest() == utc("2026-05-01T10:10:00Z"));
}

TEST_CASE_FIXTURE(Fixture, "an unchanged invalid region is not reported again") {
  schedule.apply(adding({row(1, "61 * * * *")}), utc_ms("2026-05-01T10:00:00.000Z"));
  ReconcilePlan again;
  again.replaced = {row(1, "61 * * * *")};
  CHECK(schedule.apply(again, utc_ms("2026-05-01T10:00:00.000Z")).newly_invalid.empty());
  CHECK(schedule.invalid_count() == 1);
}

TEST_CASE_FIXTURE(Fixture,
                  "the diff sees refused regions as known: an unchanged one is no change") {
  schedule.apply(adding({row(1, "61 * * * *"), row(2, "* * * * *")}),
                 utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(schedule.known().size() == 2);
  REQUIRE(schedule.known().find(1) != nullptr);
  CHECK(schedule.known().find(1)->cron_schedule == "61 * * * *");
  const std::vector<RegionRow> desired{row(1, "61 * * * *"), row(2, "* * * * *")};
  CHECK(tickd::plan_reconcile(schedule.known(), desired, std::nullopt).empty());
  // A full pass without them removes both, the refused one too.
  auto removed = tickd::plan_reconcile(schedule.known(), {}, std::nullopt).removed;
  std::sort(removed.begin(), removed.end());
  CHECK(removed == std::vector<std::int64_t>{1, 2});
}

TEST_CASE_FIXTURE(Fixture, "an update keeps the armed instant; a replace re-arms") {
  schedule.apply(adding({row(1, "*/10 * * * *")}), utc_ms("2026-05-01T10:00:00.000Z"));
  ReconcilePlan update;
  update.updated = {row(1, "*/10 * * * *")};
  update.updated[0].code = "renamed";
  schedule.apply(update, utc_ms("2026-05-01T10:03:00.000Z"));
  CHECK(*schedule.earliest() == utc("2026-05-01T10:10:00Z"));
  CHECK(schedule.status("x").regions.at(0).code == "renamed");
  ReconcilePlan replace;
  replace.replaced = {row(1, "*/2 * * * *")};
  schedule.apply(replace, utc_ms("2026-05-01T10:03:00.000Z"));
  CHECK(*schedule.earliest() == utc("2026-05-01T10:04:00Z"));
}

TEST_CASE_FIXTURE(Fixture, "a replaced region never re-arms an instant it already dispatched") {
  schedule.apply(adding({row(1, "* * * * * *")}), utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(schedule.take_due(utc_ms("2026-05-01T10:00:01.000Z"), 60s).ticks.size() == 1);
  ReconcilePlan replace;
  replace.replaced = {row(1, "*/1 * * * * *")};
  // The wall clock stepped back half a second; 10:00:01 must not come again.
  schedule.apply(replace, utc_ms("2026-05-01T10:00:00.500Z"));
  CHECK(*schedule.earliest() == utc("2026-05-01T10:00:02Z"));
}

TEST_CASE_FIXTURE(Fixture, "a removed region disappears from the timeline and the status") {
  schedule.apply(adding({row(1, "* * * * *"), row(2, "61 * * * *")}),
                 utc_ms("2026-05-01T10:00:00.000Z"));
  ReconcilePlan remove;
  remove.removed = {1, 2};
  schedule.apply(remove, utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(schedule.scheduled_count() == 0);
  CHECK(schedule.invalid_count() == 0);
  CHECK_FALSE(schedule.earliest());
  CHECK(schedule.known().size() == 0);
  CHECK(schedule.known().find(1) == nullptr);
}

TEST_CASE_FIXTURE(Fixture, "the status reports the last outcome and next fire of each region") {
  schedule.apply(adding({row(1, "* * * * *")}), utc_ms("2026-05-01T10:00:30.000Z"));
  schedule.record_outcome(1, utc("2026-05-01T10:00:00Z"), tickd::RunStatus::ok);
  const auto s = schedule.status("replica-a");
  CHECK(s.replica_id == "replica-a");
  REQUIRE(s.regions.size() == 1);
  CHECK(*s.regions[0].next_fire == utc("2026-05-01T10:01:00Z"));
  CHECK(*s.regions[0].last_outcome == tickd::RunStatus::ok);
  CHECK(*s.regions[0].last_scheduled_for == utc("2026-05-01T10:00:00Z"));
}

TEST_CASE_FIXTURE(Fixture, "the status of one region is found by its code, also after a rename") {
  schedule.apply(adding({row(1, "* * * * *"), row(2, "61 * * * *")}),
                 utc_ms("2026-05-01T10:00:30.000Z"));
  CHECK(schedule.status_of("x", "r1").regions.size() == 1);
  CHECK(schedule.status_of("x", "r2").invalid.size() == 1);
  CHECK(schedule.status_of("x", "nope").regions.empty());
  ReconcilePlan rename;
  rename.updated = {row(1, "* * * * *")};
  rename.updated[0].code = "renamed";
  schedule.apply(rename, utc_ms("2026-05-01T10:00:30.000Z"));
  CHECK(schedule.status_of("x", "r1").regions.empty());
  CHECK(schedule.status_of("x", "renamed").regions.size() == 1);
}

TEST_CASE_FIXTURE(Fixture,
                  "two held regions that share a code for a moment are both still found by it") {
  const auto at = utc_ms("2026-05-01T10:00:30.000Z");
  schedule.apply(adding({row(1, "* * * * *"), row(2, "*/2 * * * *")}), at);
  // 2 takes 1's code before 1's own rename is read; then 2 is renamed again and removed.
  ReconcilePlan swap;
  swap.updated = {row(2, "*/2 * * * *")};
  swap.updated[0].code = "r1";
  schedule.apply(swap, at);
  CHECK(schedule.status_of("x", "r1").regions.at(0).cron_schedule == "*/2 * * * *");
  ReconcilePlan away;
  away.updated = {row(2, "*/2 * * * *")};
  away.updated[0].code = "other";
  schedule.apply(away, at);
  CHECK(schedule.status_of("x", "r1").regions.at(0).cron_schedule == "* * * * *");
  CHECK(schedule.status_of("x", "other").regions.at(0).cron_schedule == "*/2 * * * *");
  ReconcilePlan gone;
  gone.removed = {2};
  schedule.apply(gone, at);
  CHECK(schedule.status_of("x", "other").regions.empty());
  CHECK(schedule.status_of("x", "r2").regions.empty());
  CHECK(schedule.status_of("x", "r1").regions.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "a region is overdue once two of its instants pass without a claim") {
  schedule.apply(adding({row(1, "* * * * *"), row(2, "0 * * * *")}),
                 utc_ms("2026-05-01T10:00:30.000Z"));
  CHECK(schedule.overdue(utc_ms("2026-05-01T10:01:59.000Z")) == 0);
  CHECK(schedule.overdue(utc_ms("2026-05-01T10:02:00.000Z")) == 1);  // 10:01 and 10:02 unclaimed
  schedule.record_claimed(1, utc("2026-05-01T10:02:00Z"));
  CHECK(schedule.overdue(utc_ms("2026-05-01T10:03:30.000Z")) == 0);
  CHECK(schedule.overdue(utc_ms("2026-05-01T10:04:00.000Z")) == 1);
}

TEST_CASE_FIXTURE(Fixture, "with a claim-ahead window, instants within it are handed out early") {
  schedule.apply(adding({row(1, "* * * * * *"), row(2, "*/10 * * * * *")}),
                 utc_ms("2026-05-01T10:00:00.300Z"));
  // 10:00:01 is 400 ms away: outside a 300 ms window, inside a 500 ms one.
  CHECK(schedule.take_due(utc_ms("2026-05-01T10:00:00.600Z"), 60s, 300ms).ticks.empty());
  auto due = schedule.take_due(utc_ms("2026-05-01T10:00:00.600Z"), 60s, 500ms);
  REQUIRE(due.ticks.size() == 1);
  CHECK(due.ticks[0].region->row->id == 1);
  CHECK(due.ticks[0].instant == utc("2026-05-01T10:00:01Z"));
  // Its start deadline is the instant's, not the early hand-out's: one period.
  CHECK(due.ticks[0].deadline == utc_ms("2026-05-01T10:00:02.000Z"));
  CHECK(due.missed == 0);
  // Re-armed for the instant after, which is not handed out twice.
  CHECK(*schedule.earliest() == utc("2026-05-01T10:00:02Z"));
  CHECK(schedule.take_due(utc_ms("2026-05-01T10:00:01.000Z"), 60s, 500ms).ticks.empty());
}

TEST_CASE_FIXTURE(Fixture, "a late instant still runs when the next one is handed out early") {
  schedule.apply(adding({row(1, "* * * * * *")}), utc_ms("2026-05-01T10:00:00.300Z"));
  // A stall: 10:00:01 is 700 ms late (within its deadline), 10:00:02 300 ms ahead.
  auto due = schedule.take_due(utc_ms("2026-05-01T10:00:01.700Z"), 60s, 500ms);
  REQUIRE(due.ticks.size() == 2);
  CHECK(due.ticks[0].instant == utc("2026-05-01T10:00:01Z"));
  CHECK(due.ticks[1].instant == utc("2026-05-01T10:00:02Z"));
  CHECK(due.missed == 0);
  CHECK(*schedule.earliest() == utc("2026-05-01T10:00:03Z"));
}

namespace {

RegionRow paused(RegionRow r, const std::string& at,
                 std::optional<std::string> reason = "upgrade") {
  r.pause = tickd::Pause{std::chrono::time_point_cast<std::chrono::microseconds>(utc_ms(at)),
                         "ops@host", std::move(reason)};
  return r;
}

ReconcilePlan replacing(std::vector<RegionRow> rows) {
  ReconcilePlan p;
  p.replaced = std::move(rows);
  return p;
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "a paused region is listed as paused with no next fire, and never due") {
  schedule.apply(
      adding({paused(row(1, "* * * * * *"), "2026-05-01T09:59:30.000Z"), row(2, "*/10 * * * * *")}),
      utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(schedule.scheduled_count() == 1);
  CHECK(schedule.paused_count() == 1);
  CHECK(schedule.invalid_count() == 0);
  CHECK(*schedule.earliest() == utc("2026-05-01T10:00:10Z"));
  // Every second of a minute passes: only region 2 comes due, on its instants.
  std::vector<std::int64_t> due_ids;
  for (int s = 1; s <= 60; ++s) {
    const auto now = utc_ms("2026-05-01T10:00:00.000Z") + std::chrono::seconds(s);
    for (const auto& t : schedule.take_due(now, 60s, 500ms).ticks) {
      due_ids.push_back(t.region->row->id);
    }
  }
  CHECK(due_ids == std::vector<std::int64_t>(6, 2));
  const auto s = schedule.status("x");
  REQUIRE(s.regions.size() == 2);
  CHECK(s.regions[0].code == "r1");
  CHECK_FALSE(s.regions[0].next_fire);
  REQUIRE(s.regions[0].pause);
  CHECK(s.regions[0].pause->reason == "upgrade");
  CHECK(s.regions[0].pause->by == "ops@host");
  CHECK(s.regions[0].pause->at == std::chrono::time_point_cast<std::chrono::microseconds>(
                                      utc_ms("2026-05-01T09:59:30.000Z")));
  CHECK_FALSE(s.regions[1].pause);
  CHECK(s.regions[1].next_fire == utc("2026-05-01T10:01:10Z"));
  // Not run, so not expected to run: never overdue, and a takeover does not run it again.
  schedule.record_claimed(2, utc("2026-05-01T10:59:50Z"));  // region 2 kept up
  CHECK(schedule.overdue(utc_ms("2026-05-01T11:00:00.000Z")) == 0);
  CHECK_FALSE(schedule.tick_of(1, utc("2026-05-01T10:00:05Z"), 60s));
  CHECK(schedule.tick_of(2, utc("2026-05-01T10:00:10Z"), 60s));
}

TEST_CASE_FIXTURE(Fixture,
                  "pausing disarms a region; resuming arms it from then, catching nothing up") {
  schedule.apply(adding({row(1, "*/5 * * * * *")}), utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(schedule.take_due(utc_ms("2026-05-01T10:00:05.000Z"), 60s).ticks.size() == 1);
  CHECK(*schedule.earliest() == utc("2026-05-01T10:00:10Z"));

  schedule.apply(replacing({paused(row(1, "*/5 * * * * *"), "2026-05-01T10:00:07.000Z")}),
                 utc_ms("2026-05-01T10:00:07.200Z"));
  CHECK_FALSE(schedule.earliest());
  CHECK(schedule.scheduled_count() == 0);
  CHECK(schedule.paused_count() == 1);
  CHECK(schedule.take_due(utc_ms("2026-05-01T10:00:30.000Z"), 60s).ticks.empty());

  // Resumed at 10:00:31.4: 10:00:10 .. 10:00:30 were within the 60 s grace, yet none runs;
  // the first tick is the next instant after the resume.
  const auto result =
      schedule.apply(replacing({row(1, "*/5 * * * * *")}), utc_ms("2026-05-01T10:00:31.400Z"));
  CHECK(result.newly_invalid.empty());
  CHECK(schedule.paused_count() == 0);
  CHECK(schedule.scheduled_count() == 1);
  CHECK(*schedule.earliest() == utc("2026-05-01T10:00:35Z"));
  const auto due = schedule.take_due(utc_ms("2026-05-01T10:00:35.001Z"), 60s);
  CHECK(due.missed == 0);
  REQUIRE(due.ticks.size() == 1);
  CHECK(due.ticks[0].instant == utc("2026-05-01T10:00:35Z"));
  CHECK(schedule.status("x").regions.at(0).pause == std::nullopt);
  // Resumed regions owe ticks only from the resume on: not overdue for the paused minute.
  CHECK(schedule.overdue(utc_ms("2026-05-01T10:00:39.000Z")) == 0);
}

TEST_CASE_FIXTURE(Fixture, "a new pause note of a paused region is swapped in; it stays unarmed") {
  schedule.apply(adding({paused(row(1, "* * * * * *"), "2026-05-01T10:00:00.000Z")}),
                 utc_ms("2026-05-01T10:00:00.000Z"));
  ReconcilePlan note;
  note.updated = {paused(row(1, "* * * * * *"), "2026-05-01T10:00:00.000Z", "upgrade, step 2")};
  schedule.apply(note, utc_ms("2026-05-01T10:00:05.000Z"));
  CHECK_FALSE(schedule.earliest());
  CHECK(schedule.paused_count() == 1);
  CHECK(schedule.status("x").regions.at(0).pause->reason == "upgrade, step 2");
}

TEST_CASE_FIXTURE(Fixture,
                  "an invalid paused region counts as invalid, not paused; removal forgets it") {
  auto bad = paused(row(1, "* * * * * *"), "2026-05-01T10:00:00.000Z");
  bad.policy.max_attempts = 0;
  const auto result =
      schedule.apply(adding({bad, paused(row(2, "* * * * * *"), "2026-05-01T10:00:00.000Z")}),
                     utc_ms("2026-05-01T10:00:00.000Z"));
  REQUIRE(result.newly_invalid.size() == 1);
  CHECK(result.newly_invalid[0].code == "r1");
  CHECK(result.newly_invalid[0].error == "max_attempts: 0 is out of range 1-100");
  CHECK(schedule.invalid_count() == 1);
  CHECK(schedule.paused_count() == 1);
  ReconcilePlan remove;
  remove.removed = {1, 2};
  schedule.apply(remove, utc_ms("2026-05-01T10:00:01.000Z"));
  CHECK(schedule.paused_count() == 0);
  CHECK(schedule.invalid_count() == 0);
}

TEST_CASE_FIXTURE(Fixture,
                  "a region's start window replaces the misfire grace, capped at one period") {
  auto narrow = row(1, "*/10 * * * * *");
  narrow.policy.start_window = tickd::ColumnMs(2'000);
  auto wide = row(2, "*/10 * * * * *");
  wide.policy.start_window = tickd::ColumnMs(600'000);  // longer than the 10 s period
  schedule.apply(adding({narrow, wide, row(3, "*/10 * * * * *")}),
                 utc_ms("2026-05-01T10:00:05.000Z"));
  auto due = schedule.take_due(utc_ms("2026-05-01T10:00:10.000Z"), 60s);
  REQUIRE(due.ticks.size() == 3);
  std::sort(due.ticks.begin(), due.ticks.end(),
            [](const auto& a, const auto& b) { return a.region->row->id < b.region->row->id; });
  CHECK(due.ticks[0].deadline == utc_ms("2026-05-01T10:00:12.000Z"));
  CHECK(due.ticks[1].deadline == utc_ms("2026-05-01T10:00:20.000Z"));
  CHECK(due.ticks[2].deadline == utc_ms("2026-05-01T10:00:20.000Z"));  // MISFIRE_GRACE_MS, capped
  // A stall: 2.5 s late, the narrow region's tick is missed; the others still run.
  due = schedule.take_due(utc_ms("2026-05-01T10:00:22.500Z"), 60s);
  CHECK(due.missed == 1);
  std::vector<std::int64_t> ids;
  for (const auto& t : due.ticks) ids.push_back(t.region->row->id);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::int64_t>{2, 3});
  // A taken-over tick's deadline follows the same window.
  CHECK(schedule.tick_of(1, utc("2026-05-01T10:00:30Z"), 60s)->deadline ==
        utc_ms("2026-05-01T10:00:32.000Z"));
}

TEST_CASE_FIXTURE(
    Fixture,
    "a taken-over tick with attempts left may start in its retry window, to the next instant") {
  auto retried = row(1, "*/10 * * * * *");
  retried.policy.max_attempts = 3;
  retried.policy.start_window = tickd::ColumnMs(2'000);
  schedule.apply(adding({retried, row(2, "*/10 * * * * *")}), utc_ms("2026-05-01T10:00:05.000Z"));
  const auto at = utc("2026-05-01T10:00:10Z");
  CHECK(schedule.tick_of(1, at, 60s)->deadline ==
        utc_ms("2026-05-01T10:00:12.000Z"));  // no attempt made
  CHECK(schedule.tick_of(1, at, 60s, 1)->deadline == utc_ms("2026-05-01T10:00:19.999Z"));
  CHECK(schedule.tick_of(1, at, 60s, 2)->deadline == utc_ms("2026-05-01T10:00:19.999Z"));
  CHECK(schedule.tick_of(1, at, 60s, 3)->deadline ==
        utc_ms("2026-05-01T10:00:12.000Z"));  // none left
  CHECK(schedule.tick_of(2, at, 60s, 1)->deadline == utc_ms("2026-05-01T10:00:20.000Z"));  // max 1
}

TEST_CASE_FIXTURE(Fixture, "jitter moves a tick's start and its deadline, not its instant") {
  auto jittered = row(1, "*/10 * * * * *");
  jittered.policy.jitter = tickd::ColumnMs(5'000);
  jittered.policy.start_window = tickd::ColumnMs(2'000);
  schedule.apply(adding({jittered}), utc_ms("2026-05-01T10:00:05.000Z"));
  const auto due = schedule.take_due(utc_ms("2026-05-01T10:00:10.000Z"), 60s);
  REQUIRE(due.ticks.size() == 1);
  const auto& t = due.ticks[0];
  const auto offset = tickd::jitter_offset(jittered.policy, 1, utc("2026-05-01T10:00:10Z"));
  CHECK(t.instant == utc("2026-05-01T10:00:10Z"));
  CHECK(t.start() == utc_ms("2026-05-01T10:00:10.000Z") + offset);
  CHECK(t.deadline == t.start() + 2s);
  CHECK(schedule.tick_of(1, t.instant, 60s)->deadline == t.deadline);
}
