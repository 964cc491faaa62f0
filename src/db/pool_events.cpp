#include "pool_events.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

namespace tickd::db {
namespace {

using std::chrono::steady_clock;

// A handler that waited this long for a connection has lost most of a one-second period:
// worth a warning; shorter waits show in tickd_db_pool_wait_seconds only.
constexpr auto kLongWait = std::chrono::seconds(1);
constexpr auto kWarnEvery = std::chrono::minutes(1);

// At most one warning per kWarnEvery, counting the long waits in between.
struct LongWaitWarning {
  std::atomic<steady_clock::rep> last{0};  // steady_clock ticks of the last warning, 0: none
  std::atomic<unsigned> unreported{0};

  void note(steady_clock::duration waited, std::chrono::milliseconds expected, unsigned size) {
    const auto now = steady_clock::now().time_since_epoch().count();
    auto previous = last.load();
    const auto every = std::chrono::duration_cast<steady_clock::duration>(kWarnEvery).count();
    if ((previous != 0 && now - previous < every) || !last.compare_exchange_strong(previous, now)) {
      ++unreported;
      return;
    }
    const auto others = unreported.exchange(0);
    spdlog::warn(
        "a handler waited {:.1f} s for a database connection (expected to hold it {} ms; {} "
        "more wait(s) over 1 s since the last warning): the handler pool (DB_POOL_SIZE={}) is "
        "too small for the handlers' work; raise DB_POOL_SIZE (and PostgreSQL's "
        "max_connections to match)",
        std::chrono::duration<double>(waited).count(), expected.count(), others, size);
  }
};

}  // namespace

PoolEvents pool_events(Metrics* metrics, DbPool pool, unsigned size) {
  if (metrics != nullptr) metrics->set_db_pool_size(pool, size);
  PoolEvents events;
  std::shared_ptr<LongWaitWarning> warning;
  if (pool == DbPool::handlers) warning = std::make_shared<LongWaitWarning>();
  events.waited = [metrics, pool, warning, size](steady_clock::duration waited,
                                                 std::chrono::milliseconds expected) {
    if (metrics != nullptr) {
      metrics->observe_db_pool_wait(pool, std::chrono::duration<double>(waited).count());
    }
    if (warning && waited > kLongWait) warning->note(waited, expected, size);
  };
  if (metrics != nullptr) {
    events.in_use = [metrics, pool](unsigned n) { metrics->set_db_pool_in_use(pool, n); };
  }
  return events;
}

}  // namespace tickd::db
