#include <algorithm>
#include <stdexcept>

#include "tickd/db/database.hpp"
#include "tickd/handlers/handler.hpp"

namespace tickd {
namespace {

class RegionHandler final : public Handler {
 public:
  HandlerCounts run(const TickContext& tick) override {
    if (std::chrono::steady_clock::now() - tick.claimed_at > std::chrono::seconds(1)) {
      tick.db.keepalive();
    }
    if (tick.region.tick_sql && !tick.region.tick_sql->empty()) {
      // The attempt's timeout bounds the statement too: the server cancels it then.
      const auto timeout = std::min(tick.config.tick_sql_timeout, tick.remaining());
      if (timeout <= std::chrono::milliseconds(0)) throw std::runtime_error("not started");
      // A re-run of a tick whose SQL an earlier attempt committed does not run it again.
      // A cancel interrupts the statement on the server.
      if (!tick.db.run_tick_sql(*tick.region.tick_sql, tick.region.id, tick.scheduled_for, timeout,
                                tick.run, tick.cancellation)) {
        return {{"tick_sql", 0}, {"tick_sql_committed_before", 1}};
      }
      return {{"tick_sql", 1}};
    }
    return {};
  }
};

}  // namespace

std::unique_ptr<Handler> make_region_handler() { return std::make_unique<RegionHandler>(); }

}  // namespace tickd
