#include "tickd/db/claim_key.hpp"

#include <doctest/doctest.h>

#include <set>

#include "../support.hpp"

using tickd::claim_lock_key;
using tickd::test::utc;

TEST_CASE("the claim key puts the region in the high half and the instant in the low half") {
  const auto t = utc("2026-03-08T07:00:00Z");
  const auto key = claim_lock_key(5, t);
  CHECK((static_cast<std::uint64_t>(key) >> 32) == 5);
  CHECK((static_cast<std::uint64_t>(key) & 0xFFFFFFFFu) ==
        static_cast<std::uint64_t>(t.time_since_epoch().count()));
}

TEST_CASE("distinct ticks get distinct claim keys") {
  std::set<std::int64_t> keys;
  const auto t0 = utc("2026-01-01T00:00:00Z");
  for (std::int64_t region = 1; region <= 50; ++region) {
    for (int s = 0; s < 50; ++s) keys.insert(claim_lock_key(region, t0 + std::chrono::seconds(s)));
  }
  CHECK(keys.size() == 2500);
}

TEST_CASE("instants after 2038 still give distinct keys") {
  CHECK(claim_lock_key(1, utc("2040-01-01T00:00:00Z")) !=
        claim_lock_key(1, utc("2040-01-01T00:00:01Z")));
}
