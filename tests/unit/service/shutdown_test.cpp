// Shutdown on simulated time: the grace for ticks in flight, finishing once, and the order
// of the last steps (the heartbeat ends on the loop, the shutdown is recorded in the
// database off the loop, then done on the loop).

#include "../../../src/service/shutdown.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <deque>

#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;

namespace {

struct Rig {
  tickd::test::SimTime time{tickd::test::utc_ms("2026-05-01T10:00:00.000Z")};
  boost::asio::io_context loop;
  std::deque<std::function<void()>> running;
  std::size_t inflight = 0;
  int stops = 0;
  std::vector<std::string> steps;
  tickd::Shutdown shutdown{
      loop,
      [this](std::function<void()> work) { running.push_back(work); },
      time,
      30s,
      {[this] {
         ++stops;
         return std::size_t{3};
       },
       [this] { return inflight; }, [this] { steps.push_back("end heartbeat"); },
       [this] { steps.push_back("record"); }, [this] { steps.push_back("done"); }}};

  void complete() {
    REQUIRE(running.size() == 1);
    CHECK(steps == std::vector<std::string>{"end heartbeat"});  // on the loop, before record
    auto work = std::move(running.front());
    running.pop_front();
    work();
    CHECK(steps == std::vector<std::string>{"end heartbeat", "record"});  // done waits
    loop.restart();
    loop.poll();
  }
};

}  // namespace

TEST_CASE("with nothing in flight the shutdown is recorded at once, then done") {
  Rig rig;
  CHECK_FALSE(rig.shutdown.stopping());
  rig.shutdown.begin(15);
  CHECK(rig.shutdown.stopping());
  CHECK(rig.stops == 1);
  rig.complete();
  CHECK(rig.steps == std::vector<std::string>{"end heartbeat", "record", "done"});
  CHECK(rig.time.armed() == 0);
}

TEST_CASE("ticks in flight get the grace; the last one done finishes early") {
  Rig rig;
  rig.inflight = 2;
  rig.shutdown.begin(15);
  CHECK(rig.running.empty());
  CHECK(rig.steps.empty());  // the heartbeat goes on while ticks are in flight
  rig.inflight = 1;
  rig.shutdown.tick_done();
  CHECK(rig.running.empty());
  rig.time.advance(10s);
  rig.inflight = 0;
  rig.shutdown.tick_done();
  CHECK(rig.time.armed() == 0);  // the grace timer is cancelled
  rig.complete();
  CHECK(rig.steps == std::vector<std::string>{"end heartbeat", "record", "done"});
}

TEST_CASE("at the grace's end it finishes with ticks still in flight, and only once") {
  Rig rig;
  rig.inflight = 1;
  rig.shutdown.begin(2);
  rig.time.advance(30s - 1ms);
  CHECK(rig.running.empty());
  rig.time.advance(1ms);
  CHECK(rig.running.size() == 1);
  rig.inflight = 0;
  rig.shutdown.tick_done();  // the last tick, after the grace: nothing more
  CHECK(rig.running.size() == 1);
  rig.complete();
  CHECK(rig.steps == std::vector<std::string>{"end heartbeat", "record", "done"});
}

TEST_CASE("a tick done before shutdown begins changes nothing") {
  Rig rig;
  rig.shutdown.tick_done();
  CHECK(rig.running.empty());
  CHECK(rig.stops == 0);
}
