// TickRunner against a scripted TickStore: what each claim outcome becomes, the precheck,
// in-doubt claims, the paused claims of a stalled replica, and a tick's recorded end.
// Ticks here are claimed at or after their instant, so no handler waits on a timer.

#include "tickd/dispatch/tick_runner.hpp"

#include <doctest/doctest.h>

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <stdexcept>
#include <thread>

#include "../fakes.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::ClaimOutcome;
using tickd::DueTick;
using tickd::RunStatus;
using tickd::TickOutcome;
using tickd::TickReport;
using tickd::test::metric;
using tickd::test::utc;
using tickd::test::utc_ms;

namespace {

const auto kInstant = utc("2026-05-01T10:00:00Z");

tickd::Config config_for_test() {
  tickd::Config c;
  c.replica_id = "a";
  c.tick_lease = 10s;
  return c;
}

struct Rig {
  explicit Rig(const char* now = "2026-05-01T10:00:00.010Z") : time(utc_ms(now)) {}

  tickd::test::FakeTickStore store;
  // Handed to handlers only (TickContext::db); the fake handlers never use it, so it never
  // connects.
  tickd::Database db{"postgresql://tickd-unit-test.invalid/none", 1};
  tickd::test::FakeHandler* handler = nullptr;
  tickd::HandlerRegistry handlers = tickd::test::registry_with(handler);
  tickd::Metrics metrics{"test"};
  tickd::test::SimTime time;
  tickd::Config config = config_for_test();
  boost::asio::thread_pool workers{1};
  tickd::TickRunner runner{store, db, handlers, metrics, time, config, workers, 1};
  tickd::test::Inbox<std::pair<std::int64_t, TickReport>> reports;

  DueTick tick(std::int64_t id, const char* deadline = "2026-05-01T10:00:01.000Z") {
    return tickd::test::tick(id, kInstant, utc_ms(deadline));
  }
  void run(std::vector<DueTick> ticks) {
    runner.run_group(std::move(ticks), {}, [this](const DueTick& t, TickReport r) {
      reports.add({t.region->row->id, r});
    });
  }
  // The report of region `id`, once `n` reports have come.
  TickReport report(std::int64_t id, std::size_t n = 1) {
    for (const auto& [rid, r] : reports.wait(n)) {
      if (rid == id) return r;
    }
    FAIL("no report for region " << id);
    return {};
  }
  double ticks(const char* outcome) {
    return metric(metrics, std::string("tickd_ticks_total{outcome=\"") + outcome + "\"}");
  }
};

}  // namespace

TEST_CASE("a won tick runs its handlers and its end is recorded ok, on its row") {
  Rig rig;
  rig.run({rig.tick(1)});
  const auto r = rig.report(1);
  CHECK(r.outcome == TickOutcome::ran);
  CHECK(r.status == RunStatus::ok);
  rig.store.locked([&] {
    REQUIRE(rig.store.claims.size() == 1);
    CHECK(rig.store.claims[0].ids == std::vector<std::int64_t>{1});
    CHECK(rig.store.claims[0].instant == kInstant);
    CHECK(rig.store.claims[0].deadlines ==
          std::vector<tickd::Database::Deadline>{utc_ms("2026-05-01T10:00:01.000Z")});
    REQUIRE(rig.store.batches.size() == 1);
    const auto& end = rig.store.batches[0][0];
    CHECK(end.run_id == 1001);
    CHECK(end.status == RunStatus::ok);
    CHECK_FALSE(end.error);
    CHECK(end.attempt == 1);
    CHECK(end.details.find("\"region\":{\"seconds\":") != std::string::npos);
    CHECK(end.details.find("\"lateness_seconds\":") != std::string::npos);
    return 0;
  });
  CHECK(rig.handler->runs == 1);
  CHECK(rig.ticks("ran") == 1);
  CHECK(metric(rig.metrics, "tickd_claim_attempts_total") == 1);
}

TEST_CASE("a handler that throws fails the tick, its message recorded") {
  Rig rig;
  rig.handler->body = [](const tickd::TickContext&) -> tickd::HandlerCounts {
    throw std::runtime_error("boom");
  };
  rig.run({rig.tick(1)});
  const auto r = rig.report(1);
  CHECK(r.outcome == TickOutcome::failed);
  CHECK(r.status == RunStatus::failed);
  rig.store.locked([&] {
    REQUIRE(rig.store.batches.size() == 1);
    CHECK(rig.store.batches[0][0].status == RunStatus::failed);
    CHECK(rig.store.batches[0][0].error == "handler region: boom");
    return 0;
  });
  CHECK(rig.ticks("failed") == 1);
}

TEST_CASE(
    "claims lost to another replica count lost; gone, expired and overlapping count "
    "skipped; none of them runs") {
  Rig rig;
  rig.store.outcomes = {{2, ClaimOutcome::taken},
                        {3, ClaimOutcome::gone},
                        {4, ClaimOutcome::expired},
                        {5, ClaimOutcome::overlapping}};
  rig.run({rig.tick(2), rig.tick(3), rig.tick(4), rig.tick(5)});
  CHECK(rig.reports.size() == 4);  // all decided before run_group returns
  CHECK(rig.report(2, 4).outcome == TickOutcome::lost);
  for (const std::int64_t id : {3, 4, 5}) {
    const auto r = rig.report(id, 4);
    CHECK(r.outcome == TickOutcome::skipped);
    CHECK_FALSE(r.status);
    CHECK_FALSE(r.claim_again_at);
  }
  CHECK(rig.ticks("lost") == 1);
  CHECK(rig.ticks("skipped") == 3);
  CHECK(rig.handler->runs == 0);
}

TEST_CASE(
    "claimed ahead while the region's previous tick still runs: nothing counted, "
    "claim it again at its instant") {
  Rig rig("2026-05-01T09:59:59.700Z");  // 300 ms ahead of the instant
  rig.store.outcomes = {{1, ClaimOutcome::overlapping}};
  rig.run({rig.tick(1)});
  const auto r = rig.report(1);
  CHECK(r.outcome == TickOutcome::skipped);
  CHECK(r.claim_again_at == utc_ms("2026-05-01T10:00:00.000Z"));
  CHECK(rig.ticks("skipped") == 0);
}

TEST_CASE("ticks another replica (their owner) already claimed are not claimed again") {
  Rig rig;
  rig.store.claimed_elsewhere = {1};
  auto a = rig.tick(1), b = rig.tick(2);
  a.precheck = b.precheck = true;
  rig.run({a, b, rig.tick(3)});
  CHECK(rig.report(1, 3).outcome == TickOutcome::lost);
  rig.store.locked([&] {
    CHECK(rig.store.prechecks == std::vector<std::vector<std::int64_t>>{{1, 2}});
    REQUIRE(rig.store.claims.size() == 1);
    CHECK(rig.store.claims[0].ids == std::vector<std::int64_t>{2, 3});
    return 0;
  });
}

TEST_CASE(
    "a claim that lost its connection skips its ticks and keeps them in doubt for the "
    "liveness round") {
  Rig rig;
  rig.store.claim_error = tickd::test::unreachable();
  rig.run({rig.tick(1), rig.tick(2)});
  for (const std::int64_t id : {1, 2}) {
    const auto r = rig.report(id, 2);
    CHECK(r.outcome == TickOutcome::skipped);
    CHECK(r.db_unavailable);
  }
  using Keys = std::vector<tickd::TickRunner::TickKey>;
  CHECK(rig.runner.take_in_doubt() == Keys{{1, kInstant}, {2, kInstant}});
  CHECK(rig.runner.take_in_doubt().empty());  // taken: the round that took them owns them
  rig.runner.restore_in_doubt({{2, kInstant}});
  CHECK(rig.runner.take_in_doubt() == Keys{{2, kInstant}});
}

TEST_CASE("a claim refused by a statement error skips its ticks, none in doubt") {
  Rig rig;
  rig.store.claim_error = tickd::test::statement_error();
  rig.run({rig.tick(1)});
  CHECK_FALSE(rig.report(1).db_unavailable);
  CHECK(rig.runner.take_in_doubt().empty());
}

TEST_CASE(
    "the incarnation is read once, before the first claim; until then nothing is "
    "claimed") {
  Rig rig;
  rig.store.incarnation_error = tickd::test::unreachable();
  rig.run({rig.tick(1)});
  CHECK(rig.report(1).db_unavailable);
  CHECK(rig.store.claims.empty());
  rig.store.incarnation_error.reset();
  CHECK(rig.runner.begin_incarnation() == rig.store.incarnation);
  rig.run({rig.tick(2)});
  rig.run({rig.tick(3)});
  rig.reports.wait(3);
  CHECK(rig.store.locked([&] { return rig.store.incarnation_reads; }) == 2);
}

TEST_CASE("claims pause while this replica's heartbeat is older than the limit (it stalled)") {
  Rig rig;
  rig.run({rig.tick(1)});  // never renewed yet: claims go ahead
  rig.reports.wait(1);
  rig.runner.set_claims_stale_after(750ms);
  rig.runner.heartbeat_renewed(rig.time.mono());
  rig.time.advance(750ms);
  rig.run({rig.tick(2)});
  rig.reports.wait(2);
  rig.time.advance(1ms);
  rig.run({rig.tick(3)});
  const auto r = rig.report(3, 3);
  CHECK(r.outcome == TickOutcome::skipped);
  CHECK_FALSE(r.db_unavailable);
  rig.store.locked([&] {
    CHECK(rig.store.claims.size() == 2);  // 3 was not claimed
    return 0;
  });
  rig.runner.heartbeat_renewed(rig.time.mono());
  rig.run({rig.tick(4)});
  rig.reports.wait(4);
  CHECK(rig.store.locked([&] { return rig.store.claims.size(); }) == 3);
}

TEST_CASE("a tick taken over from a dead replica runs on its row and attempt, unclaimed") {
  Rig rig;
  auto t = rig.tick(1);
  t.run_id = 77;
  t.attempt = 2;
  rig.run({t});
  CHECK(rig.report(1).outcome == TickOutcome::ran);
  rig.store.locked([&] {
    CHECK(rig.store.claims.empty());
    REQUIRE(rig.store.batches.size() == 1);
    CHECK(rig.store.batches[0][0].run_id == 77);
    CHECK(rig.store.batches[0][0].attempt == 2);
    return 0;
  });
}

TEST_CASE("a group whose start deadline passed while it waited is skipped without a claim") {
  // A backlog of stale claims must not cost a round trip each, or it never drains.
  Rig rig;
  rig.time.advance(991ms);  // 10:00:01.001: past the 10:00:01.000 deadline
  rig.run({rig.tick(1), rig.tick(2, "2026-05-01T10:00:02.000Z")});
  CHECK(rig.report(1, 2).outcome == TickOutcome::skipped);
  CHECK(rig.report(2, 2).outcome == TickOutcome::ran);
  rig.store.locked([&] {
    REQUIRE(rig.store.claims.size() == 1);
    CHECK(rig.store.claims[0].ids == std::vector<std::int64_t>{2});
    return 0;
  });
  CHECK(rig.ticks("skipped") == 1);
}

TEST_CASE("a tick claimed but not started by its start deadline fails without running") {
  Rig rig;
  // Claimed (here: taken over, so no claim to refuse it), then the process stalled.
  auto t = rig.tick(1);
  t.run_id = 1001;
  rig.time.advance(1'500ms);  // 10:00:01.510: past the 10:00:01.000 deadline
  rig.run({t});
  CHECK(rig.report(1).outcome == TickOutcome::failed);
  CHECK(rig.handler->runs == 0);
  rig.store.locked([&] {
    REQUIRE(rig.store.batches.size() == 1);
    REQUIRE(rig.store.batches[0][0].error);
    CHECK(rig.store.batches[0][0].error->rfind("not started by its start deadline (0.51", 0) == 0);
    return 0;
  });
}

TEST_CASE("an end fenced by a takeover is counted; the tick still reports how it ran") {
  Rig rig;
  rig.store.fenced = {1001};
  rig.run({rig.tick(1)});
  CHECK(rig.report(1).outcome == TickOutcome::ran);
  CHECK(metric(rig.metrics, "tickd_fenced_writes_total") == 1);
}

namespace {

// A tick of a region whose policy `set` changes, on the rig's instant.
DueTick tick_with(std::int64_t id, const std::function<void(tickd::RegionPolicy&)>& set,
                  const char* cron = "*/10 * * * * *") {
  auto r = tickd::test::row(id, cron);
  set(r.policy);
  return DueTick{tickd::test::scheduled(std::move(r)), kInstant,
                 utc_ms("2026-05-01T10:00:01.000Z")};
}

double attempts(Rig& rig, const char* result) {
  return metric(rig.metrics, std::string("tickd_tick_attempts_total{result=\"") + result + "\"}");
}

}  // namespace

TEST_CASE("a failed attempt with attempts left runs again on its row; each failure recorded") {
  Rig rig;
  int calls = 0;
  std::vector<int> seen_attempts;
  rig.handler->body = [&](const tickd::TickContext& t) -> tickd::HandlerCounts {
    seen_attempts.push_back(t.run->attempt);
    if (++calls <= 2) throw std::runtime_error("flaky " + std::to_string(calls));
    return {};
  };
  rig.run({tick_with(1, [](auto& p) {
    p.max_attempts = 3;
    p.retry_backoff = tickd::ColumnMs(0);  // no wait: the test needs no timer
  })});
  const auto r = rig.report(1);
  CHECK(r.outcome == TickOutcome::ran);
  CHECK(seen_attempts == std::vector<int>{1, 2, 3});
  rig.store.locked([&] {
    REQUIRE(rig.store.attempts.size() == 2);
    CHECK(rig.store.attempts[0].attempt == 1);
    CHECK(rig.store.attempts[0].error == "handler region: flaky 1");
    CHECK(rig.store.attempts[1].attempt == 2);
    CHECK(rig.store.attempts[1].error == "handler region: flaky 2");
    REQUIRE(rig.store.batches.size() == 1);
    CHECK(rig.store.batches[0][0].status == RunStatus::ok);
    CHECK(rig.store.batches[0][0].attempt == 3);
    return 0;
  });
  CHECK(attempts(rig, "failed") == 2);
  CHECK(attempts(rig, "ok") == 1);
  CHECK(rig.ticks("ran") == 1);  // the tick counts once
  CHECK(metric(rig.metrics, "tickd_tick_lateness_seconds_count") == 1);
}

TEST_CASE("no retry past max_attempts, nor one that would start at the next instant") {
  struct Case {
    const char* what;
    int max_attempts;
    int backoff_ms;
    const char* cron;
    int runs;
  };
  const Case cases[] = {
      {"the default: one attempt", 1, 0, "*/10 * * * * *", 1},
      {"two attempts, both fail", 2, 0, "*/10 * * * * *", 2},
      // Every second, a wait of up to 20 s: a draw that reaches the next instant ends it.
      {"the wait reaches the next instant", 5, 3'600'000, "* * * * * *", 1},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    Rig rig;
    rig.handler->body = [](const tickd::TickContext&) -> tickd::HandlerCounts {
      throw std::runtime_error("always");
    };
    rig.run({tick_with(
        1,
        [&](auto& p) {
          p.max_attempts = c.max_attempts;
          p.retry_backoff = tickd::ColumnMs(c.backoff_ms);
        },
        c.cron)});
    const auto r = rig.report(1);
    CHECK(r.outcome == TickOutcome::failed);
    CHECK(rig.handler->runs == c.runs);
    rig.store.locked([&] {
      REQUIRE(rig.store.batches.size() == 1);
      CHECK(rig.store.batches[0][0].attempt == c.runs);
      CHECK(rig.store.batches[0][0].error == "handler region: always");
      return 0;
    });
    CHECK(attempts(rig, "failed") == c.runs);
  }
}

TEST_CASE("a retry whose row was taken over meanwhile is not run; its end is fenced") {
  Rig rig;
  rig.store.fenced = {1001};
  rig.handler->body = [](const tickd::TickContext&) -> tickd::HandlerCounts {
    throw std::runtime_error("once");
  };
  rig.run({tick_with(1, [](auto& p) {
    p.max_attempts = 3;
    p.retry_backoff = tickd::ColumnMs(0);
  })});
  rig.report(1);
  CHECK(rig.handler->runs == 1);
  CHECK(metric(rig.metrics, "tickd_fenced_writes_total") == 1);
}

TEST_CASE("an attempt past its timeout fails as timed out, its handler's error kept") {
  Rig rig;
  std::chrono::milliseconds budget{-1};
  rig.handler->body = [&](const tickd::TickContext& t) -> tickd::HandlerCounts {
    budget = t.remaining();
    // A handler honouring the deadline stops at it (a cancelled statement, here a wait).
    while (!t.should_stop()) std::this_thread::yield();
    throw std::runtime_error("canceling statement due to statement timeout");
  };
  rig.run({tick_with(1, [](auto& p) { p.timeout = tickd::ColumnMs(30); })});
  const auto r = rig.report(1);
  CHECK(r.outcome == TickOutcome::failed);
  CHECK(budget > std::chrono::milliseconds(0));
  CHECK(budget <= std::chrono::milliseconds(30));
  rig.store.locked([&] {
    REQUIRE(rig.store.batches.size() == 1);
    CHECK(rig.store.batches[0][0].error ==
          "timed out after 30 ms (handler region: canceling statement due to statement timeout)");
    return 0;
  });
  CHECK(attempts(rig, "timed_out") == 1);
  CHECK(rig.ticks("failed") == 1);
}

TEST_CASE("without timeout_ms the attempt's budget is TICK_TIMEOUT_MS") {
  Rig rig;
  rig.config.tick_timeout = std::chrono::milliseconds(60'000);
  std::chrono::milliseconds budget{};
  rig.handler->body = [&](const tickd::TickContext& t) -> tickd::HandlerCounts {
    budget = t.remaining();
    return {};
  };
  rig.run({rig.tick(1)});
  CHECK(rig.report(1).outcome == TickOutcome::ran);
  CHECK(budget > std::chrono::milliseconds(59'000));
  CHECK(budget <= std::chrono::milliseconds(60'000));
}

TEST_CASE("buffer_one: a tick whose region still runs tries again shortly, until its deadline") {
  struct Case {
    const char* now;
    tickd::Overlap overlap;
    std::optional<const char*> again;  // none: skipped and counted
  };
  const Case cases[] = {
      {"2026-05-01T10:00:00.010Z", tickd::Overlap::buffer_one, "2026-05-01T10:00:00.110Z"},
      {"2026-05-01T10:00:00.900Z", tickd::Overlap::buffer_one, "2026-05-01T10:00:01.000Z"},
      {"2026-05-01T10:00:00.901Z", tickd::Overlap::buffer_one, std::nullopt},  // past it
      {"2026-05-01T10:00:00.010Z", tickd::Overlap::skip, std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.now);
    Rig rig(c.now);
    rig.store.outcomes = {{1, ClaimOutcome::overlapping}};
    DueTick seen;
    rig.runner.run_group({tick_with(1, [&](auto& p) { p.overlap = c.overlap; })}, {},
                         [&](const DueTick& t, TickReport r) {
                           seen = t;
                           rig.reports.add({t.region->row->id, r});
                         });
    const auto r = rig.report(1);
    CHECK(r.outcome == TickOutcome::skipped);
    if (c.again) {
      CHECK(r.claim_again_at == utc_ms(*c.again));
      CHECK(seen.buffered);
      CHECK(rig.ticks("skipped") == 0);
    } else {
      CHECK_FALSE(r.claim_again_at);
      CHECK(rig.ticks("skipped") == 1);
    }
  }
}

TEST_CASE("a tick not started by its start deadline is not retried, whatever max_attempts says") {
  Rig rig;
  auto t = tick_with(1, [](auto& p) {
    p.max_attempts = 3;
    p.retry_backoff = tickd::ColumnMs(0);
  });
  t.run_id = 1001;            // claimed (taken over), then the process stalled
  rig.time.advance(1'500ms);  // past the 10:00:01.000 deadline
  rig.run({t});
  CHECK(rig.report(1).outcome == TickOutcome::failed);
  CHECK(rig.handler->runs == 0);
  rig.store.locked([&] {
    CHECK(rig.store.attempts.empty());
    REQUIRE(rig.store.batches.size() == 1);
    CHECK(rig.store.batches[0][0].attempt == 1);
    return 0;
  });
}
