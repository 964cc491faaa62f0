#include "tickd/schedule/policy.hpp"

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
