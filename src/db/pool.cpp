#include "pool.hpp"

namespace tickd::db {

Pool::Factory connect_to(std::string conninfo) {
  return [conninfo = std::move(conninfo)] { return std::make_unique<pqxx::connection>(conninfo); };
}

std::string one_line(std::string_view what, const char* detail) {
  std::string out(what);
  out += ": ";
  for (const char* p = detail; *p != '\0'; ++p) out += (*p == '\n' || *p == '\r') ? ' ' : *p;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace tickd::db
