// The pure parts of liveness: the unbroken view of the database that a judge may count
// against another replica's silence, and what a taker does with an orphaned tick.

#include "tickd/dispatch/liveness.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using tickd::Takeover;
using tickd::Witness;

namespace {
const Witness::Mono m0{std::chrono::seconds(1'000)};
const Witness::DbTime d0{std::chrono::seconds(1'790'000'000)};
const tickd::TakeoverInputs base{true, std::chrono::sys_time<std::chrono::milliseconds>(10'000ms),
                                 std::chrono::sys_time<std::chrono::milliseconds>(9'000ms), true};
}  // namespace

TEST_CASE("a view starts with the first successful round and lasts while rounds keep coming") {
  Witness w(500ms);
  CHECK_FALSE(w.since(m0));  // nothing witnessed yet
  w.succeeded(m0, m0, d0);
  CHECK(w.since(m0 + 250ms) == d0);
  w.succeeded(m0 + 250ms, m0 + 250ms, d0 + 250ms);
  w.succeeded(m0 + 500ms, m0 + 500ms, d0 + 500ms);
  CHECK(w.since(m0 + 1'000ms) == d0);  // 500 ms after the last round: still unbroken
}

TEST_CASE("a failed round breaks the view: the next starts after the outage it may hide") {
  // The chaos suite's pg restart: the judge's round fails while the server is down; the
  // others' heartbeats stop too, and their silence must not count from before it.
  Witness w(500ms);
  w.succeeded(m0, m0, d0);
  w.failed();
  CHECK_FALSE(w.since(m0 + 250ms));
  w.succeeded(m0 + 250ms, m0 + 250ms, d0 + 300ms);
  CHECK(w.since(m0 + 500ms) == d0 + 300ms);
}

TEST_CASE("a gap after a round's end longer than the limit breaks the view (a stall)") {
  Witness w(500ms);
  w.succeeded(m0, m0, d0);
  CHECK_FALSE(w.since(m0 + 501ms));
  w.succeeded(m0 + 4s, m0 + 4s, d0 + 4s);  // woke from a 4 s stop
  CHECK(w.since(m0 + 4'250ms) == d0 + 4s);
  // A slow round: the gap counts from its end, not its start.
  w.succeeded(m0 + 4'250ms, m0 + 5s, d0 + 4'300ms);
  CHECK(w.since(m0 + 5'400ms) == d0 + 4s);
}

TEST_CASE("an orphan runs again while its deadline allows and a slot is free") {
  CHECK(tickd::decide_takeover(base) == Takeover::rerun);
  auto full = base;
  full.free_slot = false;
  CHECK(tickd::decide_takeover(full) == Takeover::later);
  auto late = base;
  late.now = late.deadline + 1ms;
  CHECK(tickd::decide_takeover(late) == Takeover::abandon);
  late.free_slot = false;
  CHECK(tickd::decide_takeover(late) == Takeover::abandon);
  auto unknown = base;
  unknown.region_known = false;
  CHECK(tickd::decide_takeover(unknown) == Takeover::abandon);
  // An http or command tick whose attempts are used up is not run again.
  auto spent = base;
  spent.repeatable = false;
  CHECK(tickd::decide_takeover(spent) == Takeover::abandon);
}

TEST_CASE("an abandoned orphan says whose it was and why it was not run again") {
  tickd::Orphan o;
  o.replica_id = "b";
  o.cause = tickd::OrphanCause::crashed;
  CHECK(tickd::abandon_reason(o, base) ==
        "replica b died (its database session ended); not run again: past its start deadline");
  auto spent = base;
  spent.repeatable = false;
  CHECK(tickd::abandon_reason(o, spent) ==
        "replica b died (its database session ended); not run again: its http or command "
        "handler repeats only while max_attempts allows another attempt");
  o.cause = tickd::OrphanCause::earlier_run;
  auto unknown = base;
  unknown.region_known = false;
  CHECK(tickd::abandon_reason(o, unknown) ==
        "replica b restarted while this tick was running; not run again: the region is no "
        "longer scheduled");
}
