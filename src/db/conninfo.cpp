#include <array>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "tickd/db/database.hpp"
#include "tickd/util/percent.hpp"

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

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The keys the user set. A URI's are the names of its query parameters (after the first
// '?', separated by '&', percent-decoded); the host list (h1:p1,h2:p2) and the path are not
// parameters. A key=value string's are the words before each '=' (blanks allowed around
// it), skipping values, quoted or not: a value that itself reads "key=..." (options='-c
// keepalives_idle=9') names no key.
std::set<std::string, std::less<>> keys_of(std::string_view conninfo, bool uri) {
  std::set<std::string, std::less<>> keys;
  if (uri) {
    const std::size_t query = conninfo.find('?');
    if (query == std::string_view::npos) return keys;
    std::size_t pos = query + 1;
    while (pos <= conninfo.size()) {
      const std::size_t end = std::min(conninfo.find('&', pos), conninfo.size());
      const std::string_view pair = conninfo.substr(pos, end - pos);
      const std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos) keys.insert(percent_decode(pair.substr(0, eq)));
      pos = end + 1;
    }
    return keys;
  }
  std::size_t i = 0;
  while (i < conninfo.size()) {
    while (i < conninfo.size() && blank(conninfo[i])) ++i;
    const std::size_t key_start = i;
    while (i < conninfo.size() && conninfo[i] != '=' && !blank(conninfo[i])) ++i;
    const std::string_view key = conninfo.substr(key_start, i - key_start);
    while (i < conninfo.size() && blank(conninfo[i])) ++i;
    if (i >= conninfo.size() || conninfo[i] != '=') {
      ++i;  // malformed: libpq refuses it anyway
      continue;
    }
    keys.emplace(key);
    ++i;  // '='
    while (i < conninfo.size() && blank(conninfo[i])) ++i;
    if (i < conninfo.size() && conninfo[i] == '\'') {
      ++i;
      while (i < conninfo.size() && conninfo[i] != '\'') i += (conninfo[i] == '\\') ? 2 : 1;
      ++i;
    } else {
      while (i < conninfo.size() && !blank(conninfo[i])) i += (conninfo[i] == '\\') ? 2 : 1;
    }
  }
  return keys;
}

}  // namespace

std::string with_connection_defaults(const std::string& database_url) {
  std::string out = database_url;
  const bool uri = is_uri(database_url);
  const auto keys = keys_of(database_url, uri);
  auto add = [&](std::string_view key, std::string_view value) {
    if (keys.contains(key)) return;
    if (uri) {
      // A query that ends in '?' or '&' (libpq accepts both) takes the pair as it is:
      // another separator would make an empty parameter, which libpq refuses.
      if (out.find('?') == std::string::npos) {
        out += '?';
      } else if (!out.ends_with('?') && !out.ends_with('&')) {
        out += '&';
      }
    } else if (!out.empty() && !blank(out.back())) {
      out += ' ';
    }
    out.append(key).append("=").append(value);
  };
  for (const auto& [key, value] : kDefaults) add(key, value);
  add(kUserTimeout.first, kUserTimeout.second);
  return out;
}

}  // namespace tickd
