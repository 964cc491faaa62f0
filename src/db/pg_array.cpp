#include "pg_array.hpp"

namespace tickd::db {

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
