// The handler pool's policy: waiters in the order of arrival plus expected hold, a share kept
// for short work. A fake connection stands in for pqxx::connection: these tests are about who
// gets a connection and when, not about PostgreSQL (tests/db and tests/e2e use the real one).
// Arrivals are read off a manual clock; timing is sequenced by threads that block in acquire()
// and the pool's waiting() count, never by sleeping.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../../../src/db/basic_pool.hpp"

using namespace std::chrono_literals;

namespace {

struct FakeConnection {
  int serial;
  bool open = true;
  bool is_open() const { return open; }
};

using FakePool = tickd::db::BasicPool<FakeConnection>;

// A pool of fake connections that counts the connections it made, on a manual clock that
// stands still until a test moves it.
struct Pool {
  explicit Pool(unsigned size, tickd::db::PoolEvents events = {})
      : pool(
            [this]() -> std::unique_ptr<FakeConnection> {
              if (refuse) throw std::runtime_error("connection refused");
              return std::make_unique<FakeConnection>(FakeConnection{++made});
            },
            size, std::move(events),
            [this] {
              return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms));
            }) {}
  void advance(std::chrono::milliseconds d) { now_ms += d.count(); }
  std::atomic<int> made{0};
  std::atomic<bool> refuse{false};
  std::atomic<std::int64_t> now_ms{0};
  FakePool pool;
};

void until_waiting(const FakePool& pool, unsigned n) {
  while (pool.waiting() != n) std::this_thread::yield();
}

// Threads that each acquire(expected), note their name once served, and give the connection
// back at once: the order of names is the order of service.
struct Queue {
  explicit Queue(FakePool& pool) : pool(pool) {}
  void add(std::string name, std::chrono::milliseconds expected) {
    threads.emplace_back([this, name, expected] {
      auto lease = pool.acquire(expected);
      const std::lock_guard lock(mutex);
      served.push_back(name);
    });
    until_waiting(pool, static_cast<unsigned>(threads.size()));
  }
  void until_served(std::size_t n) {
    while (true) {
      {
        const std::lock_guard lock(mutex);
        if (served.size() >= n) return;
      }
      std::this_thread::yield();
    }
  }
  std::vector<std::string> join() {
    for (auto& t : threads) t.join();
    return served;
  }
  FakePool& pool;
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::vector<std::string> served;
};

}  // namespace

TEST_CASE("about a quarter of the pool is kept for short work, none in a pool of one") {
  const std::vector<std::pair<unsigned, unsigned>> size_reserved{
      {1, 0}, {2, 1}, {3, 1}, {4, 1}, {7, 1}, {8, 2}, {16, 4}, {1000, 250}};
  for (const auto& [size, reserved] : size_reserved) {
    CAPTURE(size);
    CHECK(FakePool::reserved_for(size) == reserved);
  }
}

TEST_CASE(
    "waiters arriving together are served shortest expected hold first, ties in arrival order") {
  Pool p(1);
  std::optional<FakePool::Lease> busy(p.pool.acquire());
  Queue queue(p.pool);
  queue.add("long 3 s", 3s);
  queue.add("20 ms, first", 20ms);
  queue.add("unknown (0 ms)", 0ms);
  queue.add("20 ms, second", 20ms);
  queue.add("long 1 s", 1s);
  busy.reset();
  CHECK(queue.join() == std::vector<std::string>{"unknown (0 ms)", "20 ms, first", "20 ms, second",
                                                 "long 1 s", "long 3 s"});
}

TEST_CASE("no waiter waits behind work that arrived more than its expected hold after it") {
  Pool p(1);
  std::optional<FakePool::Lease> busy(p.pool.acquire());
  Queue queue(p.pool);
  queue.add("150 ms at 0", 150ms);
  p.advance(100ms);
  queue.add("0 ms at 100 ms", 0ms);  // due at 100 ms: before the first (150 ms)
  p.advance(60ms);
  queue.add("0 ms at 160 ms", 0ms);  // due at 160 ms: after it
  p.advance(1s);
  queue.add("20 ms at 1.16 s", 20ms);
  busy.reset();
  CHECK(queue.join() == std::vector<std::string>{"0 ms at 100 ms", "150 ms at 0", "0 ms at 160 ms",
                                                 "20 ms at 1.16 s"});
}

TEST_CASE("long work never holds the connections kept for short work") {
  Pool p(4);  // one kept for short work
  REQUIRE(p.pool.reserved() == 1);
  auto a = p.pool.acquire(3s);
  auto b = p.pool.acquire(3s);
  auto c = p.pool.acquire(FakePool::kLongHold);
  CHECK_FALSE(p.pool.try_acquire(3s).has_value());  // a free connection, but not for long work
  CHECK(p.pool.try_acquire(FakePool::kLongHold - 1ms).has_value());  // short work gets it

  // A long waiter stays queued while short work comes and goes past it...
  std::thread waiter([&] { auto lease = p.pool.acquire(3s); });
  until_waiting(p.pool, 1);
  for (int i = 0; i < 3; ++i) CHECK(p.pool.try_acquire(10ms).has_value());
  CHECK(p.pool.waiting() == 1);
  // ...and is served when long work gives a connection back.
  { auto gone = std::move(a); }
  waiter.join();
  CHECK(p.pool.waiting() == 0);
}

TEST_CASE("with the long share taken and long work queued, short work is served at once") {
  Pool p(8);  // the default DB_POOL_SIZE: 6 for long work, 2 kept
  std::vector<FakePool::Lease> slow;
  for (int i = 0; i < 6; ++i) slow.push_back(p.pool.acquire(3s));
  std::vector<std::thread> queued;
  for (unsigned i = 1; i <= 2; ++i) {
    queued.emplace_back([&] { auto lease = p.pool.acquire(3s); });
    until_waiting(p.pool, i);
  }
  auto s1 = p.pool.try_acquire(5ms);
  auto s2 = p.pool.try_acquire(5ms);
  CHECK(s1.has_value());
  CHECK(s2.has_value());
  CHECK(p.pool.in_use() == 8);
  CHECK_FALSE(p.pool.try_acquire(5ms).has_value());  // now the pool is full for everyone
  slow.clear();
  for (auto& t : queued) t.join();
}

TEST_CASE("a short waiter queued behind long ones takes the next connection given back") {
  Pool p(2);  // one for long work, one kept
  auto slow = p.pool.acquire(3s);
  std::optional<FakePool::Lease> quick(p.pool.acquire(5ms));
  Queue queue(p.pool);
  queue.add("long", 3s);
  p.advance(4s);  // "long" is due first: it still does not hold up short work
  queue.add("short", 5ms);
  quick.reset();  // the kept connection: only "short" may have it
  queue.until_served(1);
  CHECK(p.pool.waiting() == 1);  // "long" still waits: it is not for long work
  { auto gone = std::move(slow); }
  CHECK(queue.join() == std::vector<std::string>{"short", "long"});
}

TEST_CASE("a pool of one runs long work too") {
  Pool p(1);
  CHECK(p.pool.try_acquire(1h).has_value());
}

TEST_CASE("connections are made lazily, reused, and replaced when broken") {
  Pool p(2);
  CHECK(p.made == 0);
  { auto l = p.pool.acquire(); }
  { auto l = p.pool.acquire(); }
  CHECK(p.made == 1);
  {
    auto l = p.pool.acquire();
    l->open = false;  // the server went away while it was lent out
  }
  { auto l = p.pool.acquire(); }
  CHECK(p.made == 2);
  {
    auto l = p.pool.acquire();
    l.discard();
  }
  { auto l = p.pool.acquire(); }
  CHECK(p.made == 3);
}

TEST_CASE("a connection that cannot be made gives its turn back") {
  Pool p(1);
  p.refuse = true;
  CHECK_THROWS_AS(p.pool.acquire(), std::runtime_error);
  CHECK(p.pool.in_use() == 0);
  p.refuse = false;
  CHECK(p.pool.try_acquire().has_value());
}

TEST_CASE("the pool reports each wait and every change of connections in use") {
  std::vector<unsigned> in_use;
  std::vector<std::chrono::milliseconds> expected;
  tickd::db::PoolEvents events;
  events.in_use = [&](unsigned n) { in_use.push_back(n); };
  events.waited = [&](std::chrono::steady_clock::duration waited, std::chrono::milliseconds e) {
    CHECK(waited >= std::chrono::steady_clock::duration::zero());
    expected.push_back(e);
  };
  Pool p(2, events);
  {
    auto a = p.pool.acquire(5ms);
    auto b = p.pool.acquire(1s);
  }
  CHECK(expected == std::vector<std::chrono::milliseconds>{5ms, 1s});
  CHECK(in_use == std::vector<unsigned>{1, 2, 1, 0});
}
