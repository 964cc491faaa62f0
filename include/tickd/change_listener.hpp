#pragma once
// LISTEN for region_index changes on a dedicated, direct connection
// (DATABASE_LISTEN_URL: notifications do not survive a transaction pooler).
// connect() blocks (run it off the event loop); the event loop then waits on socket()
// and calls drain(), which does not block.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tickd {

inline constexpr const char* kRegionChannel = "tickd_region_changed";

class ChangeListener final {
 public:
  struct Changes {
    std::vector<std::int64_t> ids;  // changed region ids, as the trigger sends them
    bool unparsed = false;          // a payload was not an id: reconcile everything
  };

  explicit ChangeListener(std::string database_url);
  ~ChangeListener();
  ChangeListener(const ChangeListener&) = delete;
  ChangeListener& operator=(const ChangeListener&) = delete;

  void connect();      // throws DbError
  int socket() const;  // -1 when not connected
  Changes drain();     // throws DbError(unavailable) when the connection is lost
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickd
