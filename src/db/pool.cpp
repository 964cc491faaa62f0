#include "pool.hpp"

namespace tickd::db {

std::string one_line(std::string_view what, const char* detail) {
  std::string out(what);
  out += ": ";
  for (const char* p = detail; *p != '\0'; ++p) out += (*p == '\n' || *p == '\r') ? ' ' : *p;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Pool::Lease Pool::acquire() {
  std::unique_lock lock(mutex_);
  freed_.wait(lock, [&] { return lent_ < size_; });
  ++lent_;
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(conn));
  }
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<pqxx::connection>(conninfo_));
  } catch (...) {
    give_back(nullptr);
    throw;
  }
}

void Pool::give_back(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard lock(mutex_);
    --lent_;
    if (conn && conn->is_open()) idle_.push_back(std::move(conn));
  }
  freed_.notify_one();
}

}  // namespace tickd::db
