#pragma once
// A bounded pool of libpqxx connections, created lazily. acquire() blocks while all
// `size` connections are lent out. A lease whose connection broke is discarded, not
// returned, so the next acquire() connects afresh.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tickd/database.hpp"

namespace tickd::db {

class Pool final {
 public:
  class Lease final {
   public:
    Lease(Pool& pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(&pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr) pool_->give_back(std::move(conn_));
    }
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }
    void discard() { conn_.reset(); }

   private:
    Pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  Pool(std::string conninfo, unsigned size) : conninfo_(std::move(conninfo)), size_(size) {}

  // Throws pqxx::broken_connection when a new connection cannot be made.
  Lease acquire();

 private:
  void give_back(std::unique_ptr<pqxx::connection> conn);

  const std::string conninfo_;
  const unsigned size_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  unsigned lent_ = 0;
};

// libpq messages end with a newline (and may span lines); job_run.error and logs want one
// line: "<what>: <detail>".
std::string one_line(std::string_view what, const char* detail);

// Runs `work(pqxx::connection&)` on a pooled connection and turns libpqxx failures into
// DbError, `what` saying what was being done, with pqxx::perform's three outcomes: a lost
// connection or a lost race (serialization, deadlock) may be retried; an error in the
// statement is given up; a commit whose connection was lost is in doubt (never retried
// blindly: read first). A broken connection is dropped from the pool. A statement run
// outside a transaction block that loses its connection is in doubt too: its writer
// decides (e.g. finish_batch is safe to repeat).
template <typename Work>
auto with_connection(Pool& pool, const char* what, Work&& work) {
  using Kind = DbError::Kind;
  std::optional<Pool::Lease> lease;
  try {
    lease.emplace(pool.acquire());
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

}  // namespace tickd::db
