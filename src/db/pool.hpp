#pragma once
// A bounded pool of libpqxx connections, created lazily. acquire() blocks while all
// `size` connections are lent out. A lease whose connection broke is discarded, not
// returned, so the next acquire() connects afresh.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace tickd::db
