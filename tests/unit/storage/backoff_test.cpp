// The wait between attempts of a storage request or a fetch: equal jitter over an
// exponential ceiling, checked at exact attempts with the random draw chosen by the test.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "../../../src/storage/transfer.hpp"

using namespace std::chrono_literals;
using tickd::storage::detail::backoff_delay;
using tickd::storage::detail::RetryPolicy;

namespace {

// Records the bounds it was asked for and answers the lower, the upper or a chosen value.
struct Draw {
  enum { low, high } pick = low;
  std::vector<std::pair<std::int64_t, std::int64_t>> asked;
  tickd::storage::detail::UniformDraw fn() {
    return [this](std::int64_t lo, std::int64_t hi) {
      asked.emplace_back(lo, hi);
      return pick == low ? lo : hi;
    };
  }
};

}  // namespace

TEST_CASE("the ceiling doubles per attempt from the base and stops at the cap") {
  const RetryPolicy policy{5, 200ms, 10'000ms};
  struct Row {
    unsigned attempt;
    std::int64_t lo, hi;
  };
  for (const Row& r :
       {Row{1, 100, 200}, Row{2, 200, 400}, Row{3, 400, 800}, Row{4, 800, 1600}, Row{6, 3200, 6400},
        Row{7, 5000, 10'000}, Row{8, 5000, 10'000}, Row{40, 5000, 10'000}}) {
    CAPTURE(r.attempt);
    Draw d;
    CHECK(backoff_delay(policy, r.attempt, d.fn()) == std::chrono::milliseconds(r.lo));
    d.pick = Draw::high;
    CHECK(backoff_delay(policy, r.attempt, d.fn()) == std::chrono::milliseconds(r.hi));
    CHECK(d.asked ==
          std::vector<std::pair<std::int64_t, std::int64_t>>{{r.lo, r.hi}, {r.lo, r.hi}});
  }
}

TEST_CASE("each caller's limits are parameters") {
  Draw d;
  d.pick = Draw::high;
  CHECK(backoff_delay(RetryPolicy{3, 1000ms, 3000ms}, 1, d.fn()) == 1000ms);
  CHECK(backoff_delay(RetryPolicy{3, 1000ms, 3000ms}, 2, d.fn()) == 2000ms);
  CHECK(backoff_delay(RetryPolicy{3, 1000ms, 3000ms}, 3, d.fn()) == 3000ms);
  // The exponent stops at 16: 1 ms << 16 = 65536 ms, under a cap of a day.
  CHECK(backoff_delay(RetryPolicy{30, 1ms, 86'400'000ms}, 30, d.fn()) == 65'536ms);
}

TEST_CASE("a base of 0 or 1 ms never asks for an inverted range") {
  Draw d;
  CHECK(backoff_delay(RetryPolicy{5, 0ms, 10'000ms}, 1, d.fn()) == 0ms);
  CHECK(backoff_delay(RetryPolicy{5, 1ms, 10'000ms}, 1, d.fn()) == 0ms);
  CHECK(d.asked == std::vector<std::pair<std::int64_t, std::int64_t>>{{0, 0}, {0, 1}});
}

TEST_CASE("the policy of Settings keeps max_attempts and backoff_base, capped at 10 s") {
  tickd::storage::Settings s;
  s.max_attempts = 7;
  s.backoff_base = 50ms;
  const auto p = tickd::storage::detail::retry_policy(s);
  CHECK(p.max_attempts == 7);
  CHECK(p.base == 50ms);
  CHECK(p.cap == 10'000ms);
}

TEST_CASE("5xx, 429 and 408 are worth another attempt; other answers are not") {
  using tickd::storage::detail::retryable_status;
  for (long s : {500L, 502L, 503L, 599L, 429L, 408L}) CHECK(retryable_status(s));
  for (long s : {200L, 204L, 301L, 400L, 401L, 403L, 404L, 409L}) CHECK_FALSE(retryable_status(s));
}
