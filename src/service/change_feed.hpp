#pragma once
// Region changes as they happen: the LISTEN connection (a ChangeListener in production)
// connected off the loop, its socket waited on by the loop, each batch of notifications
// handed to `changed` (the changed ids, or nullopt: reconcile everything). Each time it
// is (re)connected it asks for a full pass, for whatever changed while not listening. A
// lost connection is retried after a backoff (250 ms, doubling, at most 10 s), or at once
// when database_back() says the database is reachable again. Lives on the event loop.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tickd/db/change_listener.hpp"
#include "tickd/util/timer.hpp"

namespace tickd {

class ChangeFeed final {
 public:
  // The LISTEN connection as the feed uses it (see ChangeListener for the contract).
  class Connection {
   public:
    virtual ~Connection() = default;
    virtual void connect() = 0;  // blocks; throws DbError
    virtual int socket() const = 0;
    virtual ChangeListener::Changes drain() = 0;  // does not block; throws DbError
    virtual void close() = 0;
  };
  using Changed = std::function<void(std::optional<std::vector<std::int64_t>> ids)>;

  // `connect` runs through `offload`.
  ChangeFeed(boost::asio::io_context& loop, Offload offload, std::unique_ptr<Connection> connection,
             Timers& timers, Changed changed);

  // Run requests were added (`requests`) or runs' cancels asked for (tickd_control).
  using Control = std::function<void(bool requests, std::vector<std::int64_t> cancels)>;
  void on_control(Control control) { control_ = std::move(control); }
  // Events were added to the notification outbox (tickd_control).
  void on_notifications(std::function<void()> notified) { notifications_ = std::move(notified); }
  void start();
  // The database is reachable again: if waiting to retry, connect now.
  void database_back();
  // Stops listening and retrying; close() then closes the connection (at the very end).
  void stop();
  void close();

 private:
  void connect();
  void wait_for_notifications();
  void lost(const std::string& error);

  boost::asio::io_context& loop_;
  Offload offload_;
  std::unique_ptr<Connection> connection_;
  Changed changed_;
  Control control_;
  std::function<void()> notifications_;
  std::unique_ptr<Timer> retry_;
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  std::chrono::milliseconds backoff_{250};
  bool waiting_ = false;  // retry_ is armed
  bool stopped_ = false;
};

// The feed's connection in production: a ChangeListener on `database_url`, holding the
// liveness lock of `replica_id`.
std::unique_ptr<ChangeFeed::Connection> listen_connection(std::string database_url,
                                                          std::string replica_id);

}  // namespace tickd
