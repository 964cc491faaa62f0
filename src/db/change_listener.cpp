#include "tickd/change_listener.hpp"

#include <charconv>
#include <pqxx/pqxx>

#include "pool.hpp"
#include "tickd/database.hpp"

namespace tickd {
namespace {

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
  std::unique_ptr<pqxx::connection> conn;
  Changes pending;
  std::unique_ptr<Receiver> receiver;
};

ChangeListener::ChangeListener(std::string database_url) : impl_(std::make_unique<Impl>()) {
  impl_->conninfo = with_connection_defaults(database_url);
}

ChangeListener::~ChangeListener() { close(); }

void ChangeListener::connect() {
  close();
  try {
    impl_->conn = std::make_unique<pqxx::connection>(impl_->conninfo);
    impl_->receiver = std::make_unique<Receiver>(*impl_->conn, impl_->pending);
    // The receiver's LISTEN is sent lazily; a round trip makes sure it is in place
    // before the caller's full reconcile reads the table.
    pqxx::nontransaction tx(*impl_->conn);
    tx.exec("SELECT 1");
  } catch (const pqxx::failure& e) {
    close();
    throw DbError(db::one_line("listening for region changes", e.what()), true);
  }
}

int ChangeListener::socket() const { return impl_->conn ? impl_->conn->sock() : -1; }

ChangeListener::Changes ChangeListener::drain() {
  if (!impl_->conn) throw DbError("listening for region changes: not connected", true);
  try {
    impl_->conn->get_notifs();
  } catch (const pqxx::failure& e) {
    throw DbError(db::one_line("listening for region changes", e.what()), true);
  }
  if (!impl_->conn->is_open()) {
    throw DbError("listening for region changes: connection closed", true);
  }
  Changes out = std::move(impl_->pending);
  impl_->pending = {};
  return out;
}

void ChangeListener::close() {
  impl_->receiver.reset();
  impl_->conn.reset();
}

}  // namespace tickd
