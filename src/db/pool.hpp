#pragma once
// tickd's pools of libpqxx connections (the policy: basic_pool.hpp) and the wrapper that
// turns libpqxx failures into DbError.

#include <chrono>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>

#include "basic_pool.hpp"
#include "tickd/db/database.hpp"

namespace tickd::db {

// A class rather than an alias so that database.hpp can declare it without <pqxx/pqxx>.
class Pool final : public BasicPool<pqxx::connection> {
 public:
  using BasicPool::BasicPool;
};

// Connections to `conninfo`; the factory throws pqxx::broken_connection when a new
// connection cannot be made.
Pool::Factory connect_to(std::string conninfo);

// libpq messages end with a newline (and may span lines); job_run.error and logs want one
// line: "<what>: <detail>".
std::string one_line(std::string_view what, const char* detail);

// Runs `work(pqxx::connection&)` on a pooled connection, taken with acquire(expected), and
// turns libpqxx failures into DbError, `what` saying what was being done, with
// pqxx::perform's three outcomes: a lost connection or a lost race (serialization,
// deadlock) may be retried; an error in the statement is given up; a commit whose
// connection was lost is in doubt (never retried blindly: read first). A broken connection
// is dropped from the pool. A statement run outside a transaction block that loses its
// connection is in doubt too: its writer decides (e.g. finish_batch is safe to repeat).
template <typename Work>
auto with_connection(Pool& pool, const char* what, std::chrono::milliseconds expected,
                     Work&& work) {
  using Kind = DbError::Kind;
  std::optional<Pool::Lease> lease;
  try {
    lease.emplace(pool.acquire(expected));
    return work(**lease);
  } catch (const pqxx::broken_connection& e) {
    if (lease) lease->discard();
    throw DbError(one_line(std::string(what) + ": database unreachable", e.what()), Kind::retry);
  } catch (const pqxx::in_doubt_error& e) {
    if (lease) lease->discard();
    throw DbError(one_line(std::string(what) + ": connection lost during commit", e.what()),
                  Kind::in_doubt);
  } catch (const pqxx::transaction_rollback& e) {
    throw DbError(one_line(what, e.what()), Kind::retry);
  } catch (const pqxx::sql_error& e) {
    throw DbError(one_line(what, e.what()), Kind::give_up);
  } catch (const pqxx::failure& e) {
    if (lease) lease->discard();
    throw DbError(one_line(what, e.what()), Kind::retry);
  }
}

// Short work (a few statements): served before anything expected to hold a connection long.
template <typename Work>
auto with_connection(Pool& pool, const char* what, Work&& work) {
  return with_connection(pool, what, std::chrono::milliseconds::zero(), std::forward<Work>(work));
}

}  // namespace tickd::db
