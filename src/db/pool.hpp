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
#include "tickd/database.hpp"

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
// turns libpqxx failures into DbError, `what` saying what was being done. A broken
// connection is dropped from the pool. in_doubt_error is never retried: the commit may or
// may not have happened.
template <typename Work>
auto with_connection(Pool& pool, const char* what, std::chrono::milliseconds expected,
                     Work&& work) {
  std::optional<Pool::Lease> lease;
  try {
    lease.emplace(pool.acquire(expected));
    return work(**lease);
  } catch (const pqxx::broken_connection& e) {
    if (lease) lease->discard();
    throw DbError(one_line(std::string(what) + ": database unreachable", e.what()), true);
  } catch (const pqxx::in_doubt_error& e) {
    if (lease) lease->discard();
    throw DbError(one_line(std::string(what) + ": connection lost during commit", e.what()), true);
  } catch (const pqxx::sql_error& e) {
    throw DbError(one_line(what, e.what()), false);
  } catch (const pqxx::failure& e) {
    if (lease) lease->discard();
    throw DbError(one_line(what, e.what()), true);
  }
}

// Short work (a few statements): served before anything expected to hold a connection long.
template <typename Work>
auto with_connection(Pool& pool, const char* what, Work&& work) {
  return with_connection(pool, what, std::chrono::milliseconds::zero(), std::forward<Work>(work));
}

}  // namespace tickd::db
