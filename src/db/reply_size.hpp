#pragma once
// The largest text a tick_sql's connection received while this lived: the plan, an error, a
// notice (notices are swallowed: tickd has no use for them). libpq never shrinks a
// connection's input buffer (16 KiB at first): it stays as large as the largest message the
// connection received, for as long as the pool keeps it. So a connection that received a
// large() reply is closed rather than pooled. Plans are a few hundred bytes unless the
// statement holds a large constant (repeat('x', 100000000) in a filter is printed); an
// error can quote a value of any size ("invalid input syntax ...: "xxx..."").

#include <cstddef>
#include <pqxx/pqxx>

namespace tickd::db {

class ReplySize final : public pqxx::errorhandler {
 public:
  static constexpr std::size_t kLarge = 64 * 1024;

  // Receives `c`'s notices until destroyed; destroy it before `c`.
  explicit ReplySize(pqxx::connection_base& c) : pqxx::errorhandler(c) {}

  void add(const pqxx::result& r) noexcept;
  void add(const char* text) noexcept;
  bool large() const noexcept { return largest_ > kLarge; }

  bool operator()(const char msg[]) noexcept override;

 private:
  std::size_t largest_ = 0;
};

}  // namespace tickd::db
