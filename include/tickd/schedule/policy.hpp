#pragma once
// A region's policies (spec: "Per-region policies"; sql/004_policies.sql): how long one
// attempt may run, how often a failed tick is tried, what happens when ticks overlap, how
// late a tick may start, how far its start is spread, and whether it is paused.
//
// A row holds them as loaded, unclamped: the database refuses values out of range (named
// CHECK constraints), and check_policy() refuses those of a row written while a constraint
// was not in force, saying which column and why. The decisions below are pure functions of
// a policy and exact instants; the tick's code acts on them.
//
// Kept small (one per region, a million regions in view): 32 bytes inline, every field the
// column's own 32-bit integer; the pause's strings live out of line, and only while paused.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tickd {

// region_index.overlap: what a tick due while the region's previous tick still runs does.
enum class Overlap : std::uint8_t {
  skip,        // not run (counted skipped); the default, and the behaviour before 004
  buffer_one,  // waits for it, up to its start deadline; at most one waiting tick per region
  allow,       // runs alongside it
  unknown,     // a text tickd does not know (a row that predates the constraint): refused
};
std::string_view to_string(Overlap o);
// "skip", "buffer_one", "allow"; anything else is Overlap::unknown.
Overlap parse_overlap(std::string_view text);

// An integer-column duration: the exact value of the column (any int4 fits), also one
// out of range, so that a refusal names the value the row holds.
using ColumnMs = std::chrono::duration<std::int32_t, std::milli>;

struct RegionPolicy {
  std::optional<ColumnMs> timeout;       // timeout_ms; none: TICK_TIMEOUT_MS
  std::optional<ColumnMs> start_window;  // start_window_ms; none: MISFIRE_GRACE_MS
  ColumnMs retry_backoff{10'000};        // retry_backoff_ms: base of the exponential backoff
  ColumnMs jitter{0};                    // jitter_ms: handlers start in [instant, instant + jitter)
  std::int32_t max_attempts = 1;         // attempts of a failed, timed-out or taken-over tick
  Overlap overlap = Overlap::skip;

  friend bool operator==(const RegionPolicy&, const RegionPolicy&) = default;
};

// How late a tick of the region may still start, before the one-period cap: its
// start_window_ms, else `fallback` (MISFIRE_GRACE_MS).
inline std::chrono::milliseconds start_grace(const RegionPolicy& p,
                                             std::chrono::milliseconds fallback) {
  return p.start_window ? std::chrono::milliseconds(*p.start_window) : fallback;
}

// The longest one attempt of a tick may run, all handlers together: timeout_ms, else
// `fallback` (TICK_TIMEOUT_MS).
inline std::chrono::milliseconds attempt_timeout(const RegionPolicy& p,
                                                 std::chrono::milliseconds fallback) {
  return p.timeout ? std::chrono::milliseconds(*p.timeout) : fallback;
}

// A pseudo-random draw fixed by (region, instant, salt), the same on every replica:
// splitmix64 over the three.
std::uint64_t tick_draw(std::int64_t region_id, std::chrono::sys_seconds instant,
                        std::uint64_t salt);

// How long after its instant a tick's handlers start: in [0, jitter_ms), fixed by (region,
// instant) so that every replica computes the same start. 0 without jitter.
std::chrono::milliseconds jitter_offset(const RegionPolicy& p, std::int64_t region_id,
                                        std::chrono::sys_seconds instant);

// Retries cap their wait here (spec: "capped at 1 h").
inline constexpr std::chrono::milliseconds kRetryBackoffCap = std::chrono::hours(1);

// The wait before attempt n + 1 after n attempts (n >= 1), "full jitter": uniform in
// [0, min(1 h, retry_backoff_ms * 2^(n-1))], the point in it chosen by `draw`.
std::chrono::milliseconds retry_delay(const RegionPolicy& p, int attempts_made, std::uint64_t draw);

// When the next attempt of a tick whose attempt number `attempts_made` failed at
// `failed_at` starts, or nullopt: max_attempts reached, or the wait would reach the region's
// next instant (`next_instant`; none: the region fires no more). The wait is at least
// `at_least` (a peer's Retry-After), itself capped at 1 h.
std::optional<std::chrono::sys_time<std::chrono::milliseconds>> retry_start(
    const RegionPolicy& p, int attempts_made,
    std::chrono::sys_time<std::chrono::milliseconds> failed_at,
    std::optional<std::chrono::sys_seconds> next_instant, std::uint64_t draw,
    std::chrono::milliseconds at_least = std::chrono::milliseconds(0));

// The accepted ranges, as sql/004_policies.sql's CHECK constraints (keep them in step).
namespace policy_range {
inline constexpr std::int32_t kTimeoutMsMin = 1, kTimeoutMsMax = 604'800'000;  // 7 days
inline constexpr std::int32_t kMaxAttemptsMin = 1, kMaxAttemptsMax = 100;
inline constexpr std::int32_t kRetryBackoffMsMin = 0, kRetryBackoffMsMax = 3'600'000;  // 1 h
inline constexpr std::int32_t kStartWindowMsMin = 1, kStartWindowMsMax = 604'800'000;
inline constexpr std::int32_t kJitterMsMin = 0, kJitterMsMax = 86'400'000;  // 1 day
}  // namespace policy_range

// Why the policy cannot be used, as "<column>: <value> is out of range <min>-<max>" (the
// form of every refused field, e.g. "max_attempts: 0 is out of range 1-100"), or nullopt.
std::optional<std::string> check_policy(const RegionPolicy& p);

// paused_at, paused_by, paused_reason of a paused region.
struct Pause {
  std::chrono::sys_time<std::chrono::microseconds> at;  // paused_at
  std::optional<std::string> by;                        // paused_by
  std::optional<std::string> reason;                    // paused_reason

  friend bool operator==(const Pause&, const Pause&) = default;
};

// A region's pause, or none: a null pointer while not paused (the common case: nothing
// allocated), shared by the copies of a row, compared by value.
class PauseRef final {
 public:
  PauseRef() = default;
  PauseRef(Pause p) : p_(std::make_shared<const Pause>(std::move(p))) {}
  explicit operator bool() const { return p_ != nullptr; }
  const Pause& operator*() const { return *p_; }
  const Pause* operator->() const { return p_.get(); }
  friend bool operator==(const PauseRef& a, const PauseRef& b) {
    return a.p_ == b.p_ || (a.p_ && b.p_ && *a.p_ == *b.p_);
  }

 private:
  std::shared_ptr<const Pause> p_;  // null: not paused
};

}  // namespace tickd
