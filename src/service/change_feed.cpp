#include "change_feed.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "tickd/db/database.hpp"

namespace tickd {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kMaxBackoff{10'000};

class ListenerConnection final : public ChangeFeed::Connection {
 public:
  ListenerConnection(std::string database_url, std::string replica_id)
      : listener_(std::move(database_url), std::move(replica_id)) {}
  void connect() override { listener_.connect(); }
  int socket() const override { return listener_.socket(); }
  ChangeListener::Changes drain() override { return listener_.drain(); }
  void close() override { listener_.close(); }

 private:
  ChangeListener listener_;
};

}  // namespace

std::unique_ptr<ChangeFeed::Connection> listen_connection(std::string database_url,
                                                          std::string replica_id) {
  return std::make_unique<ListenerConnection>(std::move(database_url), std::move(replica_id));
}

ChangeFeed::ChangeFeed(boost::asio::io_context& loop, Offload offload,
                       std::unique_ptr<Connection> connection, Timers& timers, Changed changed)
    : loop_(loop),
      offload_(std::move(offload)),
      connection_(std::move(connection)),
      changed_(std::move(changed)),
      retry_(timers.make()) {}

void ChangeFeed::start() { connect(); }

void ChangeFeed::stop() {
  stopped_ = true;
  retry_->cancel();
  socket_.reset();
}

void ChangeFeed::close() { connection_->close(); }

void ChangeFeed::database_back() {
  if (!waiting_) return;
  // The database is back (a restart, a failover): listen again now, not after the
  // backoff, so that changes apply within a second again.
  waiting_ = false;
  retry_->cancel();
  backoff_ = milliseconds(250);
  connect();
}

void ChangeFeed::connect() {
  if (stopped_) return;
  offload_([this] {
    try {
      connection_->connect();
      boost::asio::post(loop_, [this] {
        if (stopped_) return;
        backoff_ = milliseconds(250);
        // A duplicate descriptor: Asio closes its own copy, libpq keeps the original.
        socket_.emplace(loop_, ::dup(connection_->socket()));
        spdlog::info("listening for region changes");
        wait_for_notifications();
        // Anything changed while not listening is caught by a full pass.
        changed_(std::nullopt);
      });
    } catch (const DbError& e) {
      boost::asio::post(loop_, [this, error = std::string(e.what())] { lost(error); });
    }
  });
}

void ChangeFeed::wait_for_notifications() {
  socket_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code ec) {
                        if (ec || stopped_) return;
                        ChangeListener::Changes changes;
                        try {
                          changes = connection_->drain();
                        } catch (const DbError& e) {
                          lost(e.what());
                          return;
                        }
                        if (changes.unparsed) {
                          changed_(std::nullopt);
                        } else if (!changes.ids.empty()) {
                          changed_(std::move(changes.ids));
                        }
                        if (control_ && (changes.requests || !changes.cancels.empty())) {
                          control_(changes.requests, std::move(changes.cancels));
                        }
                        if (notifications_ && changes.notifications) notifications_();
                        wait_for_notifications();
                      });
}

void ChangeFeed::lost(const std::string& error) {
  if (stopped_) return;
  socket_.reset();
  connection_->close();
  spdlog::warn("change notifications unavailable (retry in {} ms): {}", backoff_.count(), error);
  retry_->arm(backoff_, [this] {
    if (!waiting_) return;
    waiting_ = false;
    connect();
  });
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  waiting_ = true;
}

}  // namespace tickd
