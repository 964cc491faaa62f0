#pragma once
// Internal to src/db: what control_store.cpp, control_reads.cpp and control_actions.cpp
// share: ControlStore's connections, and reading its columns.

#include <pqxx/pqxx>
#include <string>

#include "pool.hpp"
#include "tickd/db/control_store.hpp"

namespace tickd {

struct ControlStore::Impl {
  Impl(const std::string& conninfo, std::chrono::milliseconds statement_timeout,
       unsigned connections)
      : pool(db::connect_to(conninfo), connections), timeout(statement_timeout) {}
  db::Pool pool;
  std::chrono::milliseconds timeout;

  // `work(tx)` in one transaction whose statements each stop after `timeout`; DbError as
  // db::with_connection says. The transaction commits when `work` returns.
  template <typename Work>
  auto transact(const char* what, Work&& work) {
    return db::with_connection(pool, what, [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec0("SET LOCAL statement_timeout = " + std::to_string(timeout.count()));
      if constexpr (std::is_void_v<decltype(work(tx))>) {
        work(tx);
        tx.commit();
      } else {
        auto result = work(tx);
        tx.commit();
        return result;
      }
    });
  }
};

namespace control_db {

// A timestamptz column selected as Unix microseconds (`tickd_us(col)` in the SQL below).
#define TICKD_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

inline Micros micros(const pqxx::field& f) {
  return Micros(std::chrono::microseconds(f.as<std::int64_t>()));
}
inline std::optional<Micros> opt_micros(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return micros(f);
}
inline std::optional<std::string> opt_text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}
inline std::optional<int> opt_int(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int>();
}

// The columns of a RunView, in the order read_run reads them from row[first...]; the
// job_run is `j`, its region (LEFT JOIN, may be gone) `r`.
#define TICKD_RUN_COLUMNS \
  "j.id, j.region_id, coalesce(r.code, ''), " TICKD_US("j.scheduled_for") ", j.status, "   \
  "j.trigger, j.attempt, j.requested_by, j.replica_id, " TICKD_US("j.started_at") ", "     \
  TICKD_US("j.finished_at") ", j.error, j.details::text, " TICKD_US("j.cancel_requested_at") \
  ", j.cancel_requested_by "
inline constexpr int kRunColumns = 15;

inline RunView read_run(const pqxx::row& row, int first = 0) {
  RunView v;
  v.id = row[first + 0].as<std::int64_t>();
  v.region_id = row[first + 1].as<std::int64_t>();
  v.code = row[first + 2].as<std::string>();
  v.scheduled_for = micros(row[first + 3]);
  v.status = row[first + 4].as<std::string>();
  v.trigger = row[first + 5].as<std::string>();
  v.attempt = row[first + 6].as<int>();
  v.requested_by = opt_text(row[first + 7]);
  v.replica_id = row[first + 8].as<std::string>();
  v.started_at = micros(row[first + 9]);
  v.finished_at = opt_micros(row[first + 10]);
  v.error = opt_text(row[first + 11]);
  v.details = row[first + 12].as<std::string>();
  v.cancel_requested_at = opt_micros(row[first + 13]);
  v.cancel_requested_by = opt_text(row[first + 14]);
  return v;
}

// The region's id and overlap, locked against concurrent actions (FOR UPDATE), or
// ControlError(not_found) naming the code.
struct LockedRegion {
  std::int64_t id;
  std::string overlap;
  bool paused;
};
LockedRegion lock_region(pqxx::work& tx, const std::string& code);

}  // namespace control_db
}  // namespace tickd
