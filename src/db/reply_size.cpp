#include "reply_size.hpp"

#include <algorithm>
#include <cstring>

namespace tickd::db {

void ReplySize::add(const pqxx::result& r) noexcept {
  // The plan's lines arrive as one row each; summed, since libpq may hold several at once.
  std::size_t n = 0;
  for (const auto& row : r) {
    for (const auto& field : row) n += field.size();
  }
  largest_ = std::max(largest_, n);
}

void ReplySize::add(const char* text) noexcept { largest_ = std::max(largest_, std::strlen(text)); }

bool ReplySize::operator()(const char msg[]) noexcept {
  add(msg);
  return false;  // no older handler: pqxx would drop it anyway
}

}  // namespace tickd::db
