#include "db_health.hpp"

#include <spdlog/spdlog.h>

namespace tickd {

DbHealth::DbHealth(const Clock& clock, Metrics& metrics, std::function<void()> back)
    : clock_(clock), metrics_(metrics), back_(std::move(back)) {
  metrics_.set_db_up(false);
}

void DbHealth::set(bool up) {
  if (up) last_contact_ = clock_.mono();
  if (up == up_) return;
  up_ = up;
  metrics_.set_db_up(up);
  if (up) {
    spdlog::info("database reachable");
    back_();
  } else {
    spdlog::warn("database unreachable");
  }
}

}  // namespace tickd
