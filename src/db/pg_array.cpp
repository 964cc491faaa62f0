#include "pg_array.hpp"

#include <pqxx/pqxx>

namespace tickd::db {

std::vector<std::string> parse_text_array(const pqxx::field& f) {
  std::vector<std::string> out;
  auto parser = f.as_array();
  for (auto [junction, value] = parser.get_next(); junction != pqxx::array_parser::done;
       std::tie(junction, value) = parser.get_next()) {
    if (junction == pqxx::array_parser::string_value) out.push_back(std::move(value));
    if (junction == pqxx::array_parser::null_value) out.emplace_back();
  }
  return out;
}

std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += '}';
  return out;
}

void append_array_element(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void append_array_element(std::string& out, const std::optional<std::string>& text) {
  if (text) {
    append_array_element(out, std::string_view(*text));
  } else {
    out += "NULL";
  }
}

}  // namespace tickd::db

namespace tickd::db {

std::string bool_array(const std::vector<bool>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += values[i] ? 't' : 'f';
  }
  return out + "}";
}

}  // namespace tickd::db
