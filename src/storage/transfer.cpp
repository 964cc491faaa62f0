#include "transfer.hpp"

#include <algorithm>
#include <random>
#include <string>
#include <thread>

namespace tickd::storage {
namespace {
thread_local const CancelScope* innermost = nullptr;
}  // namespace

CancelScope::CancelScope(std::function<bool()> cancelled)
    : cancelled_(std::move(cancelled)), outer_(innermost) {
  innermost = this;
}

CancelScope::~CancelScope() { innermost = outer_; }

bool CancelScope::cancelled_now() { return innermost != nullptr && innermost->cancelled_(); }

}  // namespace tickd::storage

namespace tickd::storage::detail {
namespace {

// libcurl's progress callback: non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int abort_if_cancelled(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return CancelScope::cancelled_now() ? 1 : 0;
}

}  // namespace

RetryPolicy retry_policy(const Settings& settings) {
  return RetryPolicy{settings.max_attempts, settings.backoff_base};
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, unsigned attempt,
                                        const UniformDraw& draw) {
  const unsigned doublings = std::min(std::max(attempt, 1u) - 1, 16u);
  const std::int64_t ceiling =
      std::min<std::int64_t>(policy.cap.count(), policy.base.count() << doublings);
  return std::chrono::milliseconds(draw(ceiling / 2, std::max<std::int64_t>(ceiling / 2, ceiling)));
}

void sleep_before_retry(const RetryPolicy& policy, unsigned attempt) {
  if (CancelScope::cancelled_now()) return;  // the next try aborts at once
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto wait = backoff_delay(policy, attempt, [](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  });
  std::this_thread::sleep_for(wait);
}

std::string transfer_error(CURLcode rc, const char* errbuf) {
  if (rc == CURLE_ABORTED_BY_CALLBACK) return "cancelled (the tick's attempt timed out)";
  return std::string(curl_easy_strerror(rc)) +
         (errbuf[0] != '\0' ? std::string(" (") + errbuf + ")" : "");
}

bool retryable_status(long status) { return status >= 500 || status == 429 || status == 408; }

void set_transfer_options(CURL* c, const Settings& settings, char* errbuf) {
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &abort_if_cancelled);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(
      c, CURLOPT_LOW_SPEED_TIME,
      static_cast<long>(std::max<std::int64_t>(1, settings.low_speed_window.count() / 1000)));
}

}  // namespace tickd::storage::detail
