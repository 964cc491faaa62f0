// Control's actions and run requests against a real PostgreSQL: requests start exactly once
// when replicas race for them, a region's backfill starts one instant at a time and oldest
// first, and a refused action leaves nothing behind.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "schema.hpp"
#include "tickd/db/control_store.hpp"

using namespace std::chrono_literals;
using tickd::ControlError;
using tickd::ControlStore;
using tickd::Database;
using tickd::Micros;
using tickd::test::Schema;

namespace {

Micros at(const char* text) { return std::get<Micros>(tickd::parse_time(text)); }

ControlError::Kind refusal(const std::function<void()>& action) {
  try {
    action();
  } catch (const ControlError& e) {
    return e.kind();
  }
  FAIL("the action was not refused");
  return ControlError::Kind::bad_input;
}

// Ends every run of `replica` that is running, ok.
void finish_all(Schema& s, const std::string& replica) {
  s.sql("UPDATE job_run SET status = 'ok', finished_at = now() WHERE replica_id = '" + replica +
        "' AND status = 'running'");
}

}  // namespace

TEST_CASE("four replicas racing for 200 manual requests start each exactly once") {
  Schema s;
  std::vector<std::int64_t> regions;
  for (int i = 0; i < 20; ++i) regions.push_back(s.region("r" + std::to_string(i)));
  s.sql("UPDATE region_index SET overlap = 'allow'");  // manual runs of a region side by side
  ControlStore store(s.url);
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 20; ++i) store.trigger("r" + std::to_string(i), "t");
  }
  std::atomic<int> started{0};
  std::vector<std::thread> replicas;
  std::mutex mutex;
  std::multiset<std::int64_t> run_ids;
  for (int r = 0; r < 4; ++r) {
    replicas.emplace_back([&, r] {
      Database db(s.url, 2);
      for (int pass = 0; pass < 400 && started < 200; ++pass) {
        for (const auto& run : db.start_requests("replica-" + std::to_string(r), 7)) {
          ++started;
          std::lock_guard lock(mutex);
          run_ids.insert(run.run_id);
          CHECK(run.row != nullptr);
          CHECK(run.trigger == "manual");
        }
      }
    });
  }
  for (auto& t : replicas) t.join();
  CHECK(started == 200);
  CHECK(run_ids.size() == 200);
  CHECK(std::set<std::int64_t>(run_ids.begin(), run_ids.end()).size() == 200);
  CHECK(s.value("SELECT count(*) FROM job_run WHERE trigger = 'manual'") == 200);
  CHECK(
      s.value("SELECT count(*) FROM run_request WHERE state = 'started' AND run_id IS NOT NULL") ==
      200);
  CHECK(s.value("SELECT count(*) FROM region_audit WHERE op = 'trigger' AND actor = 't'") == 200);
}

TEST_CASE("a backfill starts oldest first, one instant at a time, and never twice") {
  Schema s;
  const auto id = s.region("hourly");
  s.sql("UPDATE region_index SET cron_schedule = '0 * * * *' WHERE id = " + std::to_string(id));
  ControlStore store(s.url);
  // One instant of the range has run already: left alone.
  s.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) VALUES (" +
        std::to_string(id) + ", '2026-03-08T05:00:00Z', 'x', 'ok', now())");
  const auto dry =
      store.backfill("hourly", at("2026-03-08"), at("2026-03-08T10:00:00Z"), true, "b");
  CHECK(dry.instants.size() == 9);
  CHECK(dry.already_run == 1);
  CHECK(s.value("SELECT count(*) FROM run_request") == 0);  // a dry run writes nothing
  const auto done =
      store.backfill("hourly", at("2026-03-08"), at("2026-03-08T10:00:00Z"), false, "b");
  CHECK(done.instants.size() == 9);
  Database a(s.url, 2), b(s.url, 2);
  std::vector<std::string> order;
  for (int i = 0; i < 9; ++i) {
    auto first = a.start_requests("a", 16);
    auto second = b.start_requests("b", 16);
    // One at a time: whichever replica got there, exactly one run started, none beside it.
    REQUIRE(first.size() + second.size() == 1);
    const auto& run = first.empty() ? second[0] : first[0];
    CHECK(run.trigger == "backfill");
    order.push_back(tickd::format_time(Micros(run.scheduled_for)));
    finish_all(s, "a");
    finish_all(s, "b");
  }
  CHECK(a.start_requests("a", 16).empty());
  CHECK(order.front() == "2026-03-08T00:00:00Z");
  CHECK(order[5] == "2026-03-08T06:00:00Z");  // 05:00 had run
  CHECK(std::is_sorted(order.begin(), order.end()));
  // Again over the same range: all ten instants have a row now.
  const auto again =
      store.backfill("hourly", at("2026-03-08"), at("2026-03-08T10:00:00Z"), false, "b");
  CHECK(again.instants.empty());
  CHECK(again.already_run == 10);
}

TEST_CASE("refused actions say why and leave nothing behind") {
  Schema s;
  s.region("a");
  ControlStore store(s.url);
  const auto before = s.value("SELECT count(*) FROM region_audit");
  CHECK(refusal([&] { store.pause("nope", std::nullopt, "t"); }) == ControlError::Kind::not_found);
  CHECK(refusal([&] { store.resume("a", "t"); }) == ControlError::Kind::conflict);
  CHECK(refusal([&] { store.cancel("a", "t"); }) == ControlError::Kind::conflict);
  CHECK(refusal([&] { store.backfill("a", at("2026-03-09"), at("2026-03-08"), false, "t"); }) ==
        ControlError::Kind::bad_input);
  // '* * * * * *' over a day: 86,400 instants.
  CHECK(refusal([&] { store.backfill("a", at("2026-03-08"), at("2026-03-09"), false, "t"); }) ==
        ControlError::Kind::bad_input);
  CHECK(refusal([&] { store.backfill("a", at("2099-01-01"), at("2099-01-02"), false, "t"); }) ==
        ControlError::Kind::bad_input);
  CHECK(s.value("SELECT count(*) FROM region_audit") == before);
  CHECK(s.value("SELECT count(*) FROM run_request") == 0);

  // A trigger while a tick runs under overlap skip: refused; under buffer_one it waits.
  Database db(s.url, 2);
  const auto id = s.value("SELECT id FROM region_index WHERE code = 'a'");
  REQUIRE(
      tickd::test::claim(
          db, id, std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()), "x")
          .outcome == tickd::ClaimOutcome::won);
  CHECK(refusal([&] { store.trigger("a", "t"); }) == ControlError::Kind::conflict);
  s.sql("UPDATE region_index SET overlap = 'buffer_one'");
  const auto request = store.trigger("a", "t").request_id;
  REQUIRE(request);
  CHECK(db.start_requests("y", 4).empty());  // the running tick holds it back
  CHECK_FALSE(store.request_run(*request));
  finish_all(s, "x");
  const auto started = db.start_requests("y", 4);
  REQUIRE(started.size() == 1);
  const auto run = store.request_run(*request);
  REQUIRE(run);
  CHECK(run->status == "running");
  CHECK(run->requested_by == "t");
  CHECK(run->trigger == "manual");
  // Its instant is the request's time, off any whole second.
  CHECK(run->scheduled_for.time_since_epoch().count() % 1'000'000 != 0);

  // Cancel names who asked, and the first ask stands.
  CHECK(store.cancel("a", "ops-1").run_id == started[0].run_id);
  store.cancel("a", "ops-2");
  CHECK(db.cancels_requested({started[0].run_id}) ==
        std::vector<std::pair<std::int64_t, std::string>>{{started[0].run_id, "ops-1"}});
}

int main(int argc, char** argv) { return tickd::test::run_db_tests(argc, argv); }
