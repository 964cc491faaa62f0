#include "shutdown.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace tickd {

Shutdown::Shutdown(boost::asio::io_context& loop, Offload offload, Timers& timers,
                   std::chrono::milliseconds grace, Hooks hooks)
    : loop_(loop),
      offload_(std::move(offload)),
      grace_timer_(timers.make()),
      grace_(grace),
      hooks_(std::move(hooks)) {}

void Shutdown::begin(int sig) {
  stopping_ = true;
  const auto dropped = hooks_.stop();
  spdlog::info("signal {}: stopping; {} waiting tick(s) dropped, {} in flight (grace {} ms)", sig,
               dropped, hooks_.inflight(), grace_.count());
  if (hooks_.inflight() == 0) {
    finish();
    return;
  }
  grace_timer_->arm(grace_, [this] { finish(); });
}

void Shutdown::tick_done() {
  if (stopping_ && hooks_.inflight() == 0) finish();
}

void Shutdown::finish() {
  // Once, whichever of the grace timer and the last tick comes first.
  if (finishing_) return;
  finishing_ = true;
  grace_timer_->cancel();
  hooks_.end_heartbeat();
  offload_([this] {
    hooks_.record();
    boost::asio::post(loop_, [this] { hooks_.done(); });
  });
}

void record_shutdown(Database& db, const std::string& replica_id, std::chrono::milliseconds grace) {
  try {
    const auto reason =
        "shutdown: still running after SHUTDOWN_GRACE_MS=" + std::to_string(grace.count());
    if (const auto n = db.fail_own_running(replica_id, reason); n > 0) {
      spdlog::warn("marked {} unfinished tick(s) failed: {}", n, reason);
    }
    db.retire(replica_id);
  } catch (const DbError& e) {
    spdlog::warn("could not record the shutdown in the database: {}", e.what());
  }
}

}  // namespace tickd
