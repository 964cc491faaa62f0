#pragma once
// What ticks ask of the database from claim to recorded end (TickRunner, Finisher): an
// interface, so that their decisions are unit-tested against a fake. DatabaseTickStore
// serves it from Database; see database.hpp for each call's contract. Blocking,
// thread-safe; failures throw DbError.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tickd/db/database.hpp"

namespace tickd {

class TickStore {
 public:
  virtual ~TickStore() = default;
  virtual std::chrono::system_clock::time_point begin_incarnation() = 0;
  virtual std::vector<std::int64_t> already_claimed(const std::vector<std::int64_t>& region_ids,
                                                    std::chrono::sys_seconds scheduled_for) = 0;
  virtual std::vector<Claim> claim_batch(const std::vector<Database::ClaimRequest>& ticks,
                                         std::chrono::sys_seconds scheduled_for,
                                         const std::string& replica_id) = 0;
  virtual std::vector<std::int64_t> finish_batch(const std::vector<Database::Finish>& finishes,
                                                 const std::string& replica_id) = 0;
  virtual bool record_attempt(const Database::Finish& failed, const std::string& replica_id) = 0;
};

class DatabaseTickStore final : public TickStore {
 public:
  explicit DatabaseTickStore(Database& db) : db_(db) {}
  std::chrono::system_clock::time_point begin_incarnation() override {
    return db_.begin_incarnation();
  }
  std::vector<std::int64_t> already_claimed(const std::vector<std::int64_t>& region_ids,
                                            std::chrono::sys_seconds scheduled_for) override {
    return db_.already_claimed(region_ids, scheduled_for);
  }
  std::vector<Claim> claim_batch(const std::vector<Database::ClaimRequest>& ticks,
                                 std::chrono::sys_seconds scheduled_for,
                                 const std::string& replica_id) override {
    return db_.claim_batch(ticks, scheduled_for, replica_id);
  }
  std::vector<std::int64_t> finish_batch(const std::vector<Database::Finish>& finishes,
                                         const std::string& replica_id) override {
    return db_.finish_batch(finishes, replica_id);
  }
  bool record_attempt(const Database::Finish& failed, const std::string& replica_id) override {
    return db_.record_attempt(failed, replica_id);
  }

 private:
  Database& db_;
};

}  // namespace tickd
