#include "tickd/db/notification_store.hpp"

#include <pqxx/pqxx>

#include "pool.hpp"
#include "tickd/db/database.hpp"

namespace tickd {
namespace {

// $1 replica id, $2 lease seconds, $3 limit. Due: pending and past next_attempt_at, and not
// leased by a live deliverer (no lease, or one that ran out).
constexpr const char* kLease =
    "WITH due AS (SELECT id FROM tickd_notification "
    "  WHERE state = 'pending' AND next_attempt_at <= now() "
    "  AND (leased_until IS NULL OR leased_until < now()) "
    "  ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "UPDATE tickd_notification n SET leased_by = $1, "
    "  leased_until = now() + make_interval(secs => $2::double precision) "
    "FROM due WHERE n.id = due.id "
    "RETURNING n.id, n.event, n.url, n.payload::text, n.attempts, "
    "  extract(epoch FROM now() - n.created_at)::double precision";

// $1 id, $2 replica id. Only the lease holder's outcome counts.
constexpr const char* kDelivered =
    "UPDATE tickd_notification SET state = 'delivered', delivered_at = now(), "
    "  attempts = attempts + 1, leased_by = NULL, leased_until = NULL, last_error = NULL "
    "WHERE id = $1 AND leased_by = $2 AND state = 'pending'";

// $1 id, $2 replica id, $3 error, $4 retry in (seconds), $5 give up after (seconds, from the
// event). Returns the new state.
constexpr const char* kFailed =
    "UPDATE tickd_notification SET attempts = attempts + 1, last_error = $3, "
    "  leased_by = NULL, leased_until = NULL, "
    "  next_attempt_at = now() + make_interval(secs => $4::double precision), "
    "  state = CASE WHEN now() + make_interval(secs => $4::double precision) > "
    "    created_at + make_interval(secs => $5::double precision) THEN 'expired' ELSE 'pending' "
    "END "
    "WHERE id = $1 AND leased_by = $2 AND state = 'pending' RETURNING state";

// The pending rows (the partial index tickd_notification_due) and the oldest one's age.
constexpr const char* kOutbox =
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::double precision "
    "FROM tickd_notification WHERE state = 'pending'";

// $1 days, $2 batch.
constexpr const char* kPrune =
    "DELETE FROM tickd_notification WHERE id IN (SELECT id FROM tickd_notification "
    "  WHERE state <> 'pending' AND created_at < now() - make_interval(days => $1::int) "
    "  LIMIT $2)";

double seconds(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

}  // namespace

std::vector<NotificationStore::Leased> NotificationStore::lease(const std::string& replica_id,
                                                                std::size_t limit,
                                                                std::chrono::milliseconds lease) {
  return db::with_connection(db_.pool(), "leasing notifications", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<Leased> out;
    for (const auto& row :
         tx.exec_params(kLease, replica_id, seconds(lease), static_cast<std::int64_t>(limit))) {
      out.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<int>(), row[5].as<double>()});
    }
    return out;
  });
}

void NotificationStore::delivered(std::int64_t id, const std::string& replica_id) {
  db::with_connection(db_.pool(), "recording a delivered notification", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_params(kDelivered, id, replica_id);
  });
}

bool NotificationStore::failed(std::int64_t id, const std::string& replica_id,
                               const std::string& error, std::chrono::milliseconds retry_in,
                               std::chrono::milliseconds give_up_after) {
  return db::with_connection(
      db_.pool(), "recording a failed notification", [&](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        const auto r = tx.exec_params(kFailed, id, replica_id, error, seconds(retry_in),
                                      seconds(give_up_after));
        return !r.empty() && r[0][0].as<std::string>() == "expired";
      });
}

NotificationStore::Outbox NotificationStore::outbox() {
  return db::with_connection(db_.pool(), "reading the notification outbox",
                             [&](pqxx::connection& c) {
                               pqxx::nontransaction tx(c);
                               const auto row = tx.exec1(kOutbox);
                               return Outbox{row[0].as<std::size_t>(), row[1].as<double>()};
                             });
}

std::size_t NotificationStore::prune(unsigned days, std::size_t batch) {
  return db::with_connection(db_.pool(), "pruning notifications", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return static_cast<std::size_t>(
        tx.exec_params(kPrune, static_cast<int>(days), static_cast<std::int64_t>(batch))
            .affected_rows());
  });
}

}  // namespace tickd
