// The change feed on simulated time, with a fake LISTEN connection whose "socket" is a pipe
// the test writes to (no network): connect, notifications, reconnect with backoff, and
// reconnecting at once when the database is back.

#include "../../../src/service/change_feed.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <deque>

#include "../fakes.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::ChangeFeed;
using tickd::ChangeListener;
using Ids = std::vector<std::int64_t>;
using Request = std::optional<Ids>;

namespace {

// Like ChangeListener's connection, each connect makes a new "socket" (here a pipe, read end
// given out) and close() closes it: the feed's duplicate of it must be gone by then.
class FakeConnection final : public ChangeFeed::Connection {
 public:
  ~FakeConnection() override { close_pipe(); }
  void connect() override {
    ++connects;
    close_pipe();
    if (connect_error) throw *connect_error;
    REQUIRE(::pipe2(pipe_, O_NONBLOCK | O_CLOEXEC) == 0);
  }
  int socket() const override { return pipe_[0]; }
  ChangeListener::Changes drain() override {
    char buf[64];
    while (::read(pipe_[0], buf, sizeof buf) > 0) {
    }
    auto changes = std::exchange(pending, {});
    if (drain_error) throw *drain_error;
    return changes;
  }
  void close() override {
    ++closes;
    close_pipe();
  }

  // A notification arrives: the socket becomes readable.
  void notify(ChangeListener::Changes changes) {
    REQUIRE(pipe_[1] >= 0);
    pending.ids.insert(pending.ids.end(), changes.ids.begin(), changes.ids.end());
    pending.unparsed = pending.unparsed || changes.unparsed;
    REQUIRE(::write(pipe_[1], "n", 1) == 1);
  }

  std::optional<tickd::DbError> connect_error, drain_error;
  ChangeListener::Changes pending;
  int connects = 0, closes = 0;

 private:
  void close_pipe() {
    for (int& fd : pipe_) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
  int pipe_[2] = {-1, -1};
};

struct Rig {
  tickd::test::SimTime time{tickd::test::utc_ms("2026-05-01T10:00:00.000Z")};
  boost::asio::io_context loop;
  std::unique_ptr<FakeConnection> owned = std::make_unique<FakeConnection>();
  FakeConnection* conn = owned.get();
  std::deque<std::function<void()>> running;  // connects in flight
  std::vector<Request> requests;
  ChangeFeed feed{loop, [this](std::function<void()> work) { running.push_back(work); },
                  std::move(owned), time, [this](Request ids) { requests.push_back(ids); }};

  void settle() {
    loop.restart();
    loop.poll();
  }
  // The connect in flight returns (or throws) and its result reaches the loop.
  void complete() {
    REQUIRE(running.size() == 1);
    auto work = std::move(running.front());
    running.pop_front();
    work();
    settle();
  }
  void connected() {
    feed.start();
    complete();
    REQUIRE(requests.size() == 1);
    requests.clear();
  }
  // Fails the connect in flight, then waits exactly `backoff` for the retry.
  void fail_then_retry_after(std::chrono::milliseconds backoff) {
    complete();
    time.advance(backoff - 1ms);
    CHECK(running.empty());
    time.advance(1ms);
    CHECK(running.size() == 1);
  }
};

}  // namespace

TEST_CASE("start connects off the loop, then listens and asks for a full pass") {
  Rig rig;
  rig.feed.start();
  CHECK(rig.conn->connects == 0);  // not on the loop
  REQUIRE(rig.running.size() == 1);
  rig.complete();
  CHECK(rig.conn->connects == 1);
  // Anything changed while not listening is caught by a full pass.
  CHECK(rig.requests == std::vector<Request>{std::nullopt});
}

TEST_CASE("notified ids become a request for them; an unparsed payload, a full request") {
  Rig rig;
  rig.connected();
  rig.conn->notify({{3, 4}, false, false, {}});
  rig.settle();
  rig.conn->notify({{}, true, false, {}});
  rig.settle();
  rig.conn->notify({{}, false, false, {}});  // nothing to do
  rig.settle();
  rig.conn->notify({{8}, false, false, {}});
  rig.settle();
  CHECK(rig.requests == std::vector<Request>{Ids{3, 4}, std::nullopt, Ids{8}});
}

TEST_CASE(
    "a lost connection is closed and retried after 250 ms, doubling up to 10 s; a "
    "connect resets the backoff") {
  Rig rig;
  rig.connected();
  rig.conn->drain_error = tickd::test::unreachable();
  rig.conn->notify({{1}, false, false, {}});
  rig.settle();
  CHECK(rig.conn->closes == 1);
  CHECK(rig.requests.empty());
  rig.time.advance(249ms);
  CHECK(rig.running.empty());
  rig.time.advance(1ms);
  REQUIRE(rig.running.size() == 1);
  rig.conn->drain_error.reset();
  rig.conn->connect_error = tickd::test::unreachable();
  for (const auto backoff : {500ms, 1'000ms, 2'000ms, 4'000ms, 8'000ms, 10'000ms, 10'000ms}) {
    CAPTURE(backoff.count());
    rig.fail_then_retry_after(backoff);
  }
  rig.conn->connect_error.reset();
  rig.complete();
  CHECK(rig.requests == std::vector<Request>{std::nullopt});
  rig.conn->notify({{5}, false, false, {}});
  rig.settle();
  CHECK(rig.requests.back() == Ids{5});
  // Lost again: the backoff starts over.
  rig.conn->drain_error = tickd::test::unreachable();
  rig.conn->notify({{6}, false, false, {}});
  rig.settle();
  rig.time.advance(250ms);
  CHECK(rig.running.size() == 1);
}

TEST_CASE(
    "when the database is back, a feed waiting to retry connects at once, its backoff "
    "reset") {
  Rig rig;
  rig.conn->connect_error = tickd::test::unreachable();
  rig.feed.start();
  rig.fail_then_retry_after(250ms);
  rig.complete();  // fails again: retry in 500 ms
  rig.time.advance(100ms);
  rig.feed.database_back();
  CHECK(rig.running.size() == 1);
  CHECK(rig.time.armed() == 0);  // the retry is cancelled
  rig.fail_then_retry_after(250ms);
  rig.conn->connect_error.reset();
  rig.complete();
  CHECK(rig.requests == std::vector<Request>{std::nullopt});
}

TEST_CASE("the database coming back changes nothing while listening or connecting") {
  Rig rig;
  rig.feed.start();
  rig.feed.database_back();  // connecting
  CHECK(rig.running.size() == 1);
  rig.complete();
  rig.feed.database_back();  // listening
  CHECK(rig.running.empty());
  CHECK(rig.conn->connects == 1);
}

TEST_CASE(
    "after stop: notifications are ignored, nothing is retried, a connect in flight is "
    "dropped; close() closes the connection") {
  Rig rig;
  rig.connected();
  rig.feed.stop();
  rig.conn->notify({{1}, false, false, {}});
  rig.settle();
  CHECK(rig.requests.empty());
  CHECK(rig.conn->closes == 0);
  rig.feed.close();
  CHECK(rig.conn->closes == 1);

  Rig connecting;
  connecting.conn->connect_error = tickd::test::unreachable();
  connecting.feed.start();
  connecting.feed.stop();
  connecting.complete();  // the failure is not retried
  CHECK(connecting.time.armed() == 0);
  connecting.conn->connect_error.reset();
  connecting.feed.start();  // nor can it start again
  CHECK(connecting.running.empty());
}
