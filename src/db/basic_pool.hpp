#pragma once
// A bounded pool of connections, made lazily by a factory, that keeps connections for short
// work. acquire(expected) says how long the caller expects to hold the connection:
//   - waiters are served in the order of their arrival plus their expected hold (ties in
//     arrival order): among waiters that arrive together the shortest goes first, and no
//     waiter waits behind work that arrived more than its own expected hold after it (by
//     expected hold alone, a 150 ms waiter could wait as long as shorter work kept
//     arriving: seconds, on an overloaded machine);
//   - work expected to take kLongHold or more ("long") may hold at most size() - reserved()
//     connections at once, so `reserved()` (about a quarter of the pool) are always left to
//     short work however many long waiters queue.
// A lease whose connection broke (is_open() false, or discard()ed) is not returned, so the
// next acquire() connects afresh. A template over the connection type so that the policy is
// unit-tested with a fake connection (tests/unit/db/pool_test.cpp); tickd uses
// db::Pool, a BasicPool<pqxx::connection> (pool.hpp). Thread-safe.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace tickd::db {

// What a pool reports, for metrics and logs; either may be empty.
struct PoolEvents {
  // After each acquisition: how long the caller waited for its turn (connecting a new
  // connection is not counted: that is the database's latency, not a queue) and what it
  // expected to hold.
  std::function<void(std::chrono::steady_clock::duration waited,
                     std::chrono::milliseconds expected)>
      waited;
  // Connections lent out, after each change. Called under the pool's lock (so successive
  // values arrive in order): it must not call back into the pool.
  std::function<void(unsigned in_use)> in_use;
};

template <typename Conn>
class BasicPool {  // not final: db::Pool derives from it, to be forward-declarable
 public:
  using Factory = std::function<std::unique_ptr<Conn>()>;
  // The time waiters arrive at (a manual clock in tests).
  using Now = std::function<std::chrono::steady_clock::time_point()>;

  // Work expected to hold a connection this long or longer is "long". A quarter of a second:
  // the finest schedule is once a second, and a tick's statements (claims aside, which have
  // their own pool) take milliseconds, so work that holds a connection for a quarter of that
  // second or more is what starves the others; 0.3 s tick_sql must count as long.
  static constexpr std::chrono::milliseconds kLongHold{250};

  // Connections kept for short work: about a quarter of the pool, at least one once there
  // are two, none in a pool of one (long work must still run).
  static constexpr unsigned reserved_for(unsigned size) {
    return size >= 2 ? std::max(1u, size / 4) : 0u;
  }

  class Lease final {
   public:
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)),
          conn_(std::move(other.conn_)),
          long_(other.long_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->give_back(std::move(conn_), long_);
    }
    Conn& operator*() { return *conn_; }
    Conn* operator->() { return conn_.get(); }
    void discard() { conn_.reset(); }

   private:
    friend class BasicPool;
    Lease(BasicPool& pool, std::unique_ptr<Conn> conn, bool is_long)
        : pool_(&pool), conn_(std::move(conn)), long_(is_long) {}

    BasicPool* pool_;
    std::unique_ptr<Conn> conn_;
    bool long_;
  };

  BasicPool(Factory connect, unsigned size, PoolEvents events = {}, Now now = {})
      : connect_(std::move(connect)),
        size_(std::max(size, 1u)),
        long_limit_(size_ - reserved_for(size_)),
        events_(std::move(events)),
        now_(now ? std::move(now) : Now([] { return std::chrono::steady_clock::now(); })) {}
  BasicPool(const BasicPool&) = delete;
  BasicPool& operator=(const BasicPool&) = delete;

  // Blocks until it is this caller's turn (see above). Rethrows what the factory throws
  // when a new connection cannot be made.
  Lease acquire(std::chrono::milliseconds expected = {}) { return *take(expected, true); }

  // A lease when acquire(expected) would not wait; nullopt otherwise.
  std::optional<Lease> try_acquire(std::chrono::milliseconds expected = {}) {
    return take(expected, false);
  }

  unsigned size() const { return size_; }
  unsigned reserved() const { return size_ - long_limit_; }
  unsigned in_use() const {
    std::lock_guard lock(mutex_);
    return lent_;
  }
  unsigned waiting() const {
    std::lock_guard lock(mutex_);
    return static_cast<unsigned>(waiters_.size());
  }

 private:
  // Lives on the stack of the thread that waits; the thread that grants it its turn fills it.
  struct Waiter {
    Waiter(std::chrono::steady_clock::time_point due, std::uint64_t arrival, bool is_long)
        : due(due), arrival(arrival), is_long(is_long) {}
    std::chrono::steady_clock::time_point due;  // arrival plus expected hold
    std::uint64_t arrival;
    bool is_long;
    bool granted = false;
    std::unique_ptr<Conn> conn;  // an idle connection handed over with the turn, if any
    std::condition_variable turn;
  };
  struct EarliestDue {
    bool operator()(const Waiter* a, const Waiter* b) const {
      return std::pair(a->due, a->arrival) < std::pair(b->due, b->arrival);
    }
  };

  std::optional<Lease> take(std::chrono::milliseconds expected, bool wait) {
    const auto start = now_();
    std::unique_lock lock(mutex_);
    Waiter me{start + expected, next_arrival_++, expected >= kLongHold};
    waiters_.insert(&me);
    grant_turns();
    if (!me.granted) {
      if (!wait) {
        waiters_.erase(&me);
        return std::nullopt;
      }
      me.turn.wait(lock, [&] { return me.granted; });
    }
    lock.unlock();
    if (events_.waited) events_.waited(now_() - start, expected);
    auto conn = std::move(me.conn);
    if (!conn) {
      try {
        conn = connect_();
      } catch (...) {
        give_back(nullptr, me.is_long);
        throw;
      }
    }
    return Lease(*this, std::move(conn), me.is_long);
  }

  // Hands free connections to the waiters whose turn it is. Called, under the lock, after
  // every change: so no waiter is ever left waiting while it could be served.
  void grant_turns() {
    while (lent_ < size_) {
      // The first waiter in order that may have a connection: long work only within its
      // share (a long waiter due first does not hold up short work behind it).
      const auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter* w) {
        return !w->is_long || lent_long_ < long_limit_;
      });
      if (it == waiters_.end()) break;
      Waiter* next = *it;
      waiters_.erase(it);
      ++lent_;
      if (next->is_long) ++lent_long_;
      if (!idle_.empty()) {
        next->conn = std::move(idle_.back());
        idle_.pop_back();
      }
      next->granted = true;
      // Under the lock: once it sees `granted` the waiter may return and destroy `turn`.
      next->turn.notify_one();
    }
    if (events_.in_use) events_.in_use(lent_);
  }

  void give_back(std::unique_ptr<Conn> conn, bool is_long) {
    std::lock_guard lock(mutex_);
    --lent_;
    if (is_long) --lent_long_;
    if (conn && conn->is_open()) idle_.push_back(std::move(conn));
    grant_turns();
  }

  const Factory connect_;
  const unsigned size_;
  const unsigned long_limit_;  // the most connections long work may hold at once
  const PoolEvents events_;
  const Now now_;
  mutable std::mutex mutex_;
  std::set<Waiter*, EarliestDue> waiters_;
  std::uint64_t next_arrival_ = 0;
  std::vector<std::unique_ptr<Conn>> idle_;
  unsigned lent_ = 0;
  unsigned lent_long_ = 0;
};

}  // namespace tickd::db
