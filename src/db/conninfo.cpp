#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "tickd/database.hpp"

namespace tickd {
namespace {

// Bounds for noticing a dead server: a connect gives up after 5 s, an idle connection
// is probed after 5 s and declared dead after 3 missed probes 2 s apart, and unacked
// data fails the connection after 10 s (tcp_user_timeout).
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kDefaults{{
    {"application_name", "tickd"},
    {"connect_timeout", "5"},
    {"keepalives", "1"},
    {"keepalives_idle", "5"},
    {"keepalives_interval", "2"},
    {"keepalives_count", "3"},
}};
constexpr std::pair<std::string_view, std::string_view> kUserTimeout{"tcp_user_timeout", "10000"};

bool is_uri(std::string_view s) {
  return s.starts_with("postgresql://") || s.starts_with("postgres://");
}

bool mentions(std::string_view conninfo, std::string_view key) {
  // Good enough for keys: a user-set key appears as "key=" in either form.
  const std::string needle = std::string(key) + "=";
  return conninfo.find(needle) != std::string_view::npos;
}

}  // namespace

std::string with_connection_defaults(const std::string& database_url) {
  std::string out = database_url;
  const bool uri = is_uri(database_url);
  bool has_query = uri && database_url.find('?') != std::string::npos;
  auto add = [&](std::string_view key, std::string_view value) {
    if (mentions(database_url, key)) return;
    if (uri) {
      out += has_query ? '&' : '?';
      has_query = true;
    } else if (!out.empty()) {
      out += ' ';
    }
    out.append(key).append("=").append(value);
  };
  for (const auto& [key, value] : kDefaults) add(key, value);
  add(kUserTimeout.first, kUserTimeout.second);
  return out;
}

}  // namespace tickd
