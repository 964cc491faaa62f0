#pragma once
// Reading a result row's fields left to right, cheaply: the region loads (a million rows at
// a full pass) and the control reads share it. Throws std::runtime_error for a malformed
// whole number.

#include <charconv>
#include <concepts>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "control_internal.hpp"

namespace tickd::db {

// A row's fields read left to right through one column iterator: libpqxx 6 copies the
// result's shared pointers into every field object it makes, which was a quarter of the CPU
// of reading every region's keys.
class Columns {
 public:
  explicit Columns(const pqxx::row& row) : at_(row.begin()) {}
  template <typename T>
  T as() {
    return take([](const pqxx::field& f) { return f.as<T>(); });
  }
  // Whole numbers by std::from_chars: libpqxx 6 checks each digit for overflow with a
  // 64-bit division, the largest cost of reading 10,000 rows of microsecond instants.
  template <std::integral T>
  T integer() {
    return take([](const pqxx::field& f) { return parse<T>(f); });
  }
  template <std::integral T>
  std::optional<T> opt_integer() {
    return take([](const pqxx::field& f) {
      return f.is_null() ? std::nullopt : std::optional<T>(parse<T>(f));
    });
  }
  std::optional<Micros> opt_micros() {
    const auto us = opt_integer<std::int64_t>();
    if (!us) return std::nullopt;
    return Micros(std::chrono::microseconds(*us));
  }
  std::optional<std::string> opt_text() { return take(control_db::opt_text); }
  // One field as a whole number (the same check, for code that reads fields by index).
  template <std::integral T>
  static T parse(const pqxx::field& f) {
    T n{};
    const char* text = f.c_str();
    const auto* end = text + f.size();
    if (const auto [stop, error] = std::from_chars(text, end, n);
        error != std::errc() || stop != end) {
      throw std::runtime_error("column " + std::to_string(f.num()) + ": '" + std::string(text) +
                               "' is not a whole number");
    }
    return n;
  }

 private:
  const pqxx::field& field() const { return at_; }
  template <typename Read>
  std::invoke_result_t<Read, const pqxx::field&> take(Read&& read) {
    auto value = read(field());
    ++at_;
    return value;
  }
  pqxx::const_row_iterator at_;
};

}  // namespace tickd::db
