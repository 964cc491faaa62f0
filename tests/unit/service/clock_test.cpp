// The anchored clock (the database's clock carried forward by the monotonic one) and
// align_clock, the pure decision of when a liveness round re-anchors it.

#include "tickd/util/clock.hpp"

#include <doctest/doctest.h>

#include "../../../src/service/liveness_loop.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::align_clock;
using tickd::ClockAnchor;
using tickd::test::utc_ms;

namespace {
const std::chrono::steady_clock::time_point m0{std::chrono::seconds(1'000)};
const std::chrono::system_clock::time_point d0 = utc_ms("2026-05-01T10:00:00.000Z");
}  // namespace

TEST_CASE("before its first anchor the clock is this host's, steps and all") {
  tickd::test::SimTime host(utc_ms("2026-05-01T10:00:00.000Z"));
  tickd::AnchoredClock clock(host);
  CHECK_FALSE(clock.anchored());
  CHECK_FALSE(clock.last_anchor());
  host.step_wall(-3s);
  CHECK(clock.wall() == utc_ms("2026-05-01T09:59:57.000Z"));
  CHECK(clock.mono() == host.mono());
}

TEST_CASE(
    "anchored, it reads the reference carried forward by monotonic time; a step of "
    "the host's clock changes nothing") {
  tickd::test::SimTime host(utc_ms("2026-05-01T10:00:00.000Z"));
  tickd::AnchoredClock clock(host);
  // The database read 10:00:02.000 (this host is 2 s slow) 40 ms ago.
  clock.anchor(utc_ms("2026-05-01T10:00:02.000Z"), host.mono() - 40ms);
  CHECK(clock.anchored());
  CHECK(clock.wall() == utc_ms("2026-05-01T10:00:02.040Z"));
  host.advance(960ms);
  CHECK(clock.wall() == utc_ms("2026-05-01T10:00:03.000Z"));
  host.step_wall(1h);
  CHECK(clock.wall() == utc_ms("2026-05-01T10:00:03.000Z"));
  // A new anchor replaces the old.
  clock.anchor(utc_ms("2026-05-01T10:00:03.010Z"), host.mono());
  CHECK(clock.wall() == utc_ms("2026-05-01T10:00:03.010Z"));
  CHECK(clock.last_anchor()->reference == utc_ms("2026-05-01T10:00:03.010Z"));
  CHECK(clock.last_anchor()->at == host.mono());
}

TEST_CASE("the first round anchors the clock at the round trip's midpoint") {
  const auto a = align_clock(std::nullopt, m0, m0 + 20ms, d0);
  REQUIRE(a);
  CHECK(a->reference == d0);
  CHECK(a->at == m0 + 10ms);
}

TEST_CASE("within the round trip's uncertainty (at least 5 ms) the anchor is kept") {
  // The current anchor predicts d0 at the midpoint m0 + 1 ms of a 2 ms round trip.
  const ClockAnchor current{d0 - 1ms, m0};
  struct Row {
    std::chrono::microseconds db_minus_prediction;
    bool re_anchors;
  };
  for (const auto& [error, re_anchors] :
       {Row{0us, false}, Row{4'999us, false}, Row{-4'999us, false}, Row{5'000us, true},
        Row{-5'000us, true}, Row{120ms, true}}) {
    CAPTURE(error.count());
    const auto a = align_clock(current, m0, m0 + 2ms, d0 + error);
    CHECK(a.has_value() == re_anchors);
    if (a) {
      CHECK(a->reference == d0 + error);
      CHECK(a->at == m0 + 1ms);
    }
  }
}

TEST_CASE("a slow round trip widens the tolerance to its own length") {
  const ClockAnchor current{d0 - 20ms, m0};  // predicts d0 at the midpoint m0 + 20 ms
  CHECK_FALSE(align_clock(current, m0, m0 + 40ms, d0 + 39ms));
  CHECK(align_clock(current, m0, m0 + 40ms, d0 + 40ms));
  CHECK(align_clock(current, m0, m0 + 40ms, d0 - 40ms));
}
