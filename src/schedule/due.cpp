#include "tickd/schedule/due.hpp"

namespace tickd {
namespace {

// After a long stall a per-second schedule has many missed instants; stepping through
// them one by one is bounded here, and the rest are skipped by restarting the search
// just before `now` (they are counted as one more miss).
constexpr std::size_t kMaxSteps = 10'000;

}  // namespace

std::chrono::milliseconds start_window(const cron::Expr& e, const date::time_zone* zone,
                                       std::chrono::sys_seconds instant,
                                       std::chrono::milliseconds grace) {
  const auto after = cron::next_after(e, zone, instant);
  if (!after) return grace;
  return std::min<std::chrono::milliseconds>(grace, *after - instant);
}

DueDecision decide_due(const cron::Expr& e, const date::time_zone* zone,
                       std::chrono::sys_seconds armed, Millis now,
                       std::chrono::milliseconds grace) {
  using std::chrono::seconds;
  const auto now_s = std::chrono::floor<seconds>(now);
  DueDecision d;
  d.latest = armed;
  std::size_t steps = 0;
  for (;;) {
    const auto n = cron::next_after(e, zone, d.latest);
    if (!n || *n > now_s) break;
    ++d.missed;
    d.latest = *n;
    if (++steps == kMaxSteps) {
      // Jump: the latest due instant is the one after (now - window) at the latest.
      const auto jumped =
          cron::next_after(e, zone, now_s - seconds(1) - std::chrono::ceil<seconds>(grace));
      if (jumped && *jumped > d.latest && *jumped <= now_s) {
        d.latest = *jumped;
        ++d.missed;
      }
      steps = 0;
    }
  }
  const auto deadline = Millis(d.latest) + start_window(e, zone, d.latest, grace);
  if (now <= deadline) {
    d.run = d.latest;
    d.deadline = deadline;
  } else {
    ++d.missed;
  }
  d.next = cron::next_after(e, zone, std::max(d.latest, now_s));
  return d;
}

}  // namespace tickd
