#pragma once
// The notification outbox as its deliverers use it (sql/006_handlers.sql): lease due rows
// (FOR UPDATE SKIP LOCKED, so replicas share the work without waiting on each other), then
// record each delivery's outcome. A lease that runs out (its replica died mid-delivery)
// makes the row due again: delivery is at least once.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tickd {

class Database;

class NotificationStore final {
 public:
  explicit NotificationStore(Database& db) : db_(db) {}

  struct Leased {
    std::int64_t id;
    std::string event;
    std::string url;
    std::string payload;  // the JSON body, as stored
    int attempts;         // deliveries tried before this one
    double age_seconds;   // since the event
  };
  // Up to `limit` due rows, leased to `replica_id` for `lease`.
  std::vector<Leased> lease(const std::string& replica_id, std::size_t limit,
                            std::chrono::milliseconds lease);
  void delivered(std::int64_t id, const std::string& replica_id);
  // A failed delivery: tried again at `retry_in` from now, or, when that falls past
  // `give_up_after` from the event, expired. Returns true when expired.
  bool failed(std::int64_t id, const std::string& replica_id, const std::string& error,
              std::chrono::milliseconds retry_in, std::chrono::milliseconds give_up_after);

  struct Outbox {
    std::size_t depth = 0;      // pending rows
    double oldest_seconds = 0;  // age of the oldest pending row (0: none)
  };
  Outbox outbox();
  // Deletes delivered and expired rows older than `days`, a batch at a time; rows deleted.
  std::size_t prune(unsigned days, std::size_t batch);

 private:
  Database& db_;
};

}  // namespace tickd
