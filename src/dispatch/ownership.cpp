#include "tickd/dispatch/ownership.hpp"

#include <algorithm>

namespace tickd {
namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// splitmix64's finaliser: a good 64-bit mix of (replica, region).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

Ownership::Ownership(std::string me) : me_(std::move(me)), my_hash_(fnv1a(me_)) {
  hashes_.push_back(my_hash_);
}

void Ownership::set_live(const std::vector<std::string>& live) {
  hashes_.clear();
  for (const auto& r : live) hashes_.push_back(fnv1a(r));
  if (std::find(hashes_.begin(), hashes_.end(), my_hash_) == hashes_.end()) {
    hashes_.push_back(my_hash_);
  }
}

bool Ownership::mine(std::int64_t region_id) const {
  const auto key = static_cast<std::uint64_t>(region_id);
  std::uint64_t best = 0;
  std::uint64_t owner = my_hash_;
  for (const auto h : hashes_) {
    const auto score = mix(h ^ mix(key));
    if (score > best || (score == best && h < owner)) {
      best = score;
      owner = h;
    }
  }
  return owner == my_hash_;
}

}  // namespace tickd
