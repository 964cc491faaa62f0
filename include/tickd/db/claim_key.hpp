#pragma once
// The 64-bit key of the transaction-scoped advisory lock that guards the claim of one
// tick (region, scheduled instant):
//
//   bits 63..32  region id (low 32 bits)
//   bits 31..0   scheduled instant, Unix seconds (low 32 bits)
//
// Distinct ticks get distinct keys while region ids stay below 2^32 and instants
// within 136 years of each other. A collision beyond that can only make a claim
// report `lost` spuriously for the instant of one statement; the unique
// (region_id, scheduled_for) constraint on job_run is what makes a claim durable.

#include <chrono>
#include <cstdint>

namespace tickd {

constexpr std::int64_t claim_lock_key(std::int64_t region_id, std::chrono::sys_seconds instant) {
  const auto region = static_cast<std::uint64_t>(region_id) & 0xFFFF'FFFFu;
  const auto seconds =
      static_cast<std::uint64_t>(instant.time_since_epoch().count()) & 0xFFFF'FFFFu;
  return static_cast<std::int64_t>((region << 32) | seconds);
}

}  // namespace tickd
