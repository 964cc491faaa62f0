#pragma once
// Internal to src/db: PostgreSQL array literals, for passing a whole batch as one parameter
// ($1::bigint[], $2::text[]) instead of one statement per row.

#include <cstdint>
#include <functional>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class field;
}

namespace tickd::db {

// The text elements of an array column, in order; a NULL element reads as an empty string
// (for the handler list: refused by HandlerRegistry::check, never dropped unseen).
std::vector<std::string> parse_text_array(const pqxx::field& f);

// {1,-2,3}; {} when empty.
std::string id_array(const std::vector<std::int64_t>& ids);

// {t,f,t}; {} when empty.
std::string bool_array(const std::vector<bool>& values);

// Appends one text element to an array literal: double-quoted, with " and \ escaped
// (so commas, braces, blanks and the word NULL stay text); nullopt appends NULL.
void append_array_element(std::string& out, std::string_view text);
void append_array_element(std::string& out, const std::optional<std::string>& text);
inline void append_array_element(std::string& out, const std::string& text) {
  append_array_element(out, std::string_view(text));
}

// {"a","b \"c\"",NULL}: the text elements of `items`, each as `proj` gives it (a
// std::string / std::string_view, or a std::optional<std::string> for NULLs).
template <std::ranges::input_range R, typename Proj = std::identity>
std::string text_array(const R& items, Proj proj = {}) {
  std::string out = "{";
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    append_array_element(out, std::invoke(proj, item));
  }
  out += '}';
  return out;
}

}  // namespace tickd::db
