#include "tickd/db/change_listener.hpp"

#include <charconv>
#include <pqxx/pqxx>

#include "pool.hpp"
#include "sql.hpp"
#include "tickd/db/database.hpp"
#include "tickd/version.hpp"

namespace tickd {
namespace {

// tickd_control: "request" (run requests were added), "cancel:<run id>" or "notification"
// (events were added to the outbox).
class ControlReceiver final : public pqxx::notification_receiver {
 public:
  ControlReceiver(pqxx::connection& c, ChangeListener::Changes& sink)
      : pqxx::notification_receiver(c, kControlChannel), sink_(sink) {}

  void operator()(const std::string& payload, int /*backend_pid*/) override {
    constexpr std::string_view kCancel = "cancel:";
    if (payload.starts_with(kCancel)) {
      std::int64_t id = 0;
      const auto* begin = payload.data() + kCancel.size();
      const auto* end = payload.data() + payload.size();
      const auto [ptr, ec] = std::from_chars(begin, end, id);
      if (ec == std::errc{} && ptr == end) sink_.cancels.push_back(id);
    } else if (payload == "notification") {
      sink_.notifications = true;
    } else {
      sink_.requests = true;
    }
  }

 private:
  ChangeListener::Changes& sink_;
};

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& c, ChangeListener::Changes& sink)
      : pqxx::notification_receiver(c, kRegionChannel), sink_(sink) {}

  void operator()(const std::string& payload, int /*backend_pid*/) override {
    std::int64_t id = 0;
    const auto* end = payload.data() + payload.size();
    const auto [ptr, ec] = std::from_chars(payload.data(), end, id);
    if (ec == std::errc{} && ptr == end) {
      sink_.ids.push_back(id);
    } else {
      sink_.unparsed = true;
    }
  }

 private:
  ChangeListener::Changes& sink_;
};

}  // namespace

struct ChangeListener::Impl {
  std::string conninfo;
  std::string replica_id;
  std::unique_ptr<pqxx::connection> conn;
  Changes pending;
  std::unique_ptr<Receiver> receiver;
  std::unique_ptr<ControlReceiver> control;
};

ChangeListener::ChangeListener(std::string database_url, std::string replica_id)
    : impl_(std::make_unique<Impl>()) {
  impl_->conninfo = with_connection_defaults(database_url);
  impl_->replica_id = std::move(replica_id);
}

ChangeListener::~ChangeListener() { close(); }

void ChangeListener::connect() {
  close();
  try {
    impl_->conn = std::make_unique<pqxx::connection>(impl_->conninfo);
    impl_->receiver = std::make_unique<Receiver>(*impl_->conn, impl_->pending);
    impl_->control = std::make_unique<ControlReceiver>(*impl_->conn, impl_->pending);
    // The receiver's LISTEN is sent lazily; a round trip makes sure it is in place
    // before the caller's full reconcile reads the table.
    bool locked = false;
    {
      pqxx::nontransaction tx(*impl_->conn);
      locked = tx.exec_params1(sql::kTakeReplicaLock, impl_->replica_id)[0].as<bool>();
      if (locked) tx.exec_params(sql::kRecordReplicaLock, impl_->replica_id, kVersion);
    }
    if (!locked) {
      close();
      throw DbError("taking the liveness lock of replica " + impl_->replica_id +
                        ": another live session holds it (a second replica with this "
                        "TICKD_REPLICA_ID, or this replica's previous process not gone yet)",
                    DbError::Kind::retry);
    }
  } catch (const pqxx::failure& e) {
    close();
    throw DbError(db::one_line("listening for region changes", e.what()), DbError::Kind::retry);
  }
}

int ChangeListener::socket() const { return impl_->conn ? impl_->conn->sock() : -1; }

ChangeListener::Changes ChangeListener::drain() {
  if (!impl_->conn)
    throw DbError("listening for region changes: not connected", DbError::Kind::retry);
  try {
    impl_->conn->get_notifs();
  } catch (const pqxx::failure& e) {
    throw DbError(db::one_line("listening for region changes", e.what()), DbError::Kind::retry);
  }
  if (!impl_->conn->is_open()) {
    throw DbError("listening for region changes: connection closed", DbError::Kind::retry);
  }
  Changes out = std::move(impl_->pending);
  impl_->pending = {};
  return out;
}

void ChangeListener::close() {
  impl_->receiver.reset();
  impl_->control.reset();
  impl_->conn.reset();
}

}  // namespace tickd
