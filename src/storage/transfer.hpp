#pragma once
// Internal to src/storage: what the S3 backend and fetch_url share about a libcurl transfer:
// its options, which failures are worth another attempt, and how long to wait before it.

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>

#include "tickd/storage/storage.hpp"

namespace tickd::storage::detail {

// How a request is tried again after a retryable failure. Each caller passes its own limits.
struct RetryPolicy {
  unsigned max_attempts = 5;              // in all, the first one included
  std::chrono::milliseconds base{200};    // the longest first wait; doubled per attempt
  std::chrono::milliseconds cap{10'000};  // no wait is longer
};

// The policy of Settings (max_attempts, backoff_base), with the 10 s cap.
RetryPolicy retry_policy(const Settings& settings);

// A uniform random integer in [lo, hi] (lo <= hi); injected so tests can choose the draw.
using UniformDraw = std::function<std::int64_t(std::int64_t lo, std::int64_t hi)>;

// The wait after failed attempt number `attempt` (1 for the first), "equal jitter": with
// c = min(cap, base * 2^(attempt-1)) (the exponent stops growing at 16), a uniform random
// wait in [c/2, c]. Half of c is always waited, so a struggling server gets some rest;
// the random half spreads the callers out.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, unsigned attempt,
                                        const UniformDraw& draw);

// Sleeps backoff_delay(policy, attempt, a random engine of this thread).
void sleep_before_retry(const RetryPolicy& policy, unsigned attempt);

// An HTTP answer worth another attempt: 5xx, 429 (too many requests), 408 (request timeout).
bool retryable_status(long status);

// Why a transfer that failed with `rc` failed: libcurl's words and its error buffer, or for
// an abort by this thread's CancelScope, that it was cancelled.
std::string transfer_error(CURLcode rc, const char* errbuf);

// The options every transfer sets: no signals (threads), errors into `errbuf`
// (CURL_ERROR_SIZE bytes), Settings' connect timeout, an abort when less than a byte a
// second has moved for Settings' low_speed_window (at least 1 s), and one when this thread's
// CancelScope says so.
void set_transfer_options(CURL* c, const Settings& settings, char* errbuf);

}  // namespace tickd::storage::detail
