#include "tickd/schedule/policy.hpp"

#include <algorithm>

namespace tickd {

std::string_view to_string(Overlap o) {
  switch (o) {
    case Overlap::skip:
      return "skip";
    case Overlap::buffer_one:
      return "buffer_one";
    case Overlap::allow:
      return "allow";
    case Overlap::unknown:
      break;
  }
  return "unknown";
}

Overlap parse_overlap(std::string_view text) {
  if (text == "skip") return Overlap::skip;
  if (text == "buffer_one") return Overlap::buffer_one;
  if (text == "allow") return Overlap::allow;
  return Overlap::unknown;
}

namespace {

std::optional<std::string> out_of_range(const char* column, std::int64_t value, std::int32_t min,
                                        std::int32_t max) {
  if (value >= min && value <= max) return std::nullopt;
  return std::string(column) + ": " + std::to_string(value) + " is out of range " +
         std::to_string(min) + "-" + std::to_string(max);
}

}  // namespace

std::uint64_t tick_draw(std::int64_t region_id, std::chrono::sys_seconds instant,
                        std::uint64_t salt) {
  // splitmix64's finaliser, applied to each input in turn.
  const auto mix = [](std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  std::uint64_t h = mix(static_cast<std::uint64_t>(region_id) + 0x9e3779b97f4a7c15ULL);
  h = mix(h ^ static_cast<std::uint64_t>(instant.time_since_epoch().count()));
  return mix(h ^ salt);
}

std::chrono::milliseconds jitter_offset(const RegionPolicy& p, std::int64_t region_id,
                                        std::chrono::sys_seconds instant) {
  if (p.jitter.count() <= 0) return {};
  return std::chrono::milliseconds(tick_draw(region_id, instant, 0) %
                                   static_cast<std::uint64_t>(p.jitter.count()));
}

std::chrono::milliseconds retry_delay(const RegionPolicy& p, int attempts_made,
                                      std::uint64_t draw) {
  const auto cap = static_cast<std::uint64_t>(kRetryBackoffCap.count());
  // Past 2^22 any base (at least 1 ms) has reached the cap.
  const int doublings = std::clamp(attempts_made - 1, 0, 22);
  const auto base = static_cast<std::uint64_t>(std::max(p.retry_backoff.count(), 0));
  const auto ceiling = std::min(cap, base << doublings);
  return std::chrono::milliseconds(draw % (ceiling + 1));
}

std::optional<std::chrono::sys_time<std::chrono::milliseconds>> retry_start(
    const RegionPolicy& p, int attempts_made,
    std::chrono::sys_time<std::chrono::milliseconds> failed_at,
    std::optional<std::chrono::sys_seconds> next_instant, std::uint64_t draw,
    std::chrono::milliseconds at_least) {
  if (attempts_made >= p.max_attempts) return std::nullopt;
  const auto wait =
      std::max(retry_delay(p, attempts_made, draw), std::min(at_least, kRetryBackoffCap));
  const auto at = failed_at + wait;
  if (next_instant && at >= *next_instant) return std::nullopt;
  return at;
}

std::optional<std::string> check_policy(const RegionPolicy& p) {
  using namespace policy_range;
  // In the table's column order, so the first complaint is the one a reader meets first.
  if (p.timeout) {
    if (auto e = out_of_range("timeout_ms", p.timeout->count(), kTimeoutMsMin, kTimeoutMsMax)) {
      return e;
    }
  }
  if (auto e = out_of_range("max_attempts", p.max_attempts, kMaxAttemptsMin, kMaxAttemptsMax)) {
    return e;
  }
  if (auto e = out_of_range("retry_backoff_ms", p.retry_backoff.count(), kRetryBackoffMsMin,
                            kRetryBackoffMsMax)) {
    return e;
  }
  if (p.overlap == Overlap::unknown) {
    return std::string("overlap: not one of skip, buffer_one, allow");
  }
  if (p.start_window) {
    if (auto e = out_of_range("start_window_ms", p.start_window->count(), kStartWindowMsMin,
                              kStartWindowMsMax)) {
      return e;
    }
  }
  return out_of_range("jitter_ms", p.jitter.count(), kJitterMsMin, kJitterMsMax);
}

}  // namespace tickd
