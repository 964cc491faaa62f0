#pragma once
// LISTEN for region_index changes on a dedicated, direct connection
// (DATABASE_LISTEN_URL: notifications do not survive a transaction pooler). The same
// session holds the replica's liveness lock (liveness.hpp): when the process dies, the
// database ends the session and the lock is free for the others to see.
// connect() blocks (run it off the event loop); the event loop then waits on socket()
// and calls drain(), which does not block.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tickd {

inline constexpr const char* kRegionChannel = "tickd_region_changed";
// Run requests and cancels (sql/005_control.sql), notifications (sql/006_handlers.sql).
inline constexpr const char* kControlChannel = "tickd_control";

class ChangeListener final {
 public:
  struct Changes {
    std::vector<std::int64_t> ids;      // changed region ids, as the trigger sends them
    bool unparsed = false;              // a payload was not an id: reconcile everything
    bool requests = false;              // run requests were added (tickd_control)
    std::vector<std::int64_t> cancels;  // runs whose cancel was asked for (tickd_control)
    bool notifications = false;         // events were added to the outbox (tickd_control)
  };

  ChangeListener(std::string database_url, std::string replica_id);
  ~ChangeListener();
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

  // Connects, LISTENs and takes the liveness lock; throws DbError, also when another
  // live session holds this replica id's lock.
  void connect();
  int socket() const;  // -1 when not connected
  Changes drain();     // throws DbError(unavailable) when the connection is lost
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickd
