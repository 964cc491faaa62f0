#pragma once
// Which replica claims a region's ticks first: rendezvous (highest random weight)
// hashing over the live replicas. Every replica computes the same owner from the same
// sorted list, a replica joining or leaving moves only its share of regions, and the
// others try a tick only after a short grace, so a healthy set makes about one claim
// attempt per tick. Pure; the live list comes from the heartbeats table.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tickd {

class Ownership final {
 public:
  // Until told otherwise this replica owns everything (it may be alone).
  explicit Ownership(std::string me);

  void set_live(const std::vector<std::string>& live);
  bool mine(std::int64_t region_id) const;
  std::size_t live_count() const { return hashes_.size(); }

 private:
  std::string me_;
  std::uint64_t my_hash_;
  std::vector<std::uint64_t> hashes_;  // of the live replicas, this one included
};

}  // namespace tickd
