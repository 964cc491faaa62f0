// Finding the secrets in a libpq connection string, so that neither logs nor error messages
// carry them. Both libpq forms are handled: the URI (postgres://user:pw@host/db?password=pw)
// and key=value pairs (host=h password='p w').

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "tickd/config/config.hpp"
#include "tickd/util/percent.hpp"

namespace tickd {
namespace {

struct Span {
  std::size_t offset;
  std::size_t length;
};

bool is_secret_key(std::string_view key) {
  std::string k(key);
  std::transform(k.begin(), k.end(), k.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return k == "password" || k == "sslpassword";
}

bool starts_with_scheme(std::string_view url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

// Where the secret values are, as byte ranges of `url`.
std::vector<Span> secret_spans(std::string_view url) {
  std::vector<Span> spans;
  if (starts_with_scheme(url)) {
    const std::size_t rest = url.find("://") + 3;
    const std::size_t query = std::min(url.find('?', rest), url.size());
    // The last '@' before the query ends the user info: a password with a raw '@' or '/'
    // still counts as user info (over-redacting a path is the safe mistake).
    const std::size_t at = url.substr(0, query).rfind('@');
    if (at != std::string_view::npos && at >= rest) {
      const std::size_t colon = url.find(':', rest);
      if (colon != std::string_view::npos && colon < at)
        spans.push_back({colon + 1, at - colon - 1});
    }
    std::size_t pos = query + 1;
    while (pos < url.size()) {
      const std::size_t end = std::min(url.find('&', pos), url.size());
      const std::string_view pair = url.substr(pos, end - pos);
      const std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos && is_secret_key(percent_decode(pair.substr(0, eq)))) {
        spans.push_back({pos + eq + 1, pair.size() - eq - 1});
      }
      pos = end + 1;
    }
    return spans;
  }
  // key = value pairs; a value is either 'single quoted' (with \' and \\) or runs to the next
  // blank, with backslash escapes allowed in both.
  std::size_t i = 0;
  const auto blank = [&](std::size_t j) {
    return j < url.size() && (url[j] == ' ' || url[j] == '\t' || url[j] == '\n' || url[j] == '\r' ||
                              url[j] == '\f' || url[j] == '\v');
  };
  while (i < url.size()) {
    while (blank(i)) ++i;
    const std::size_t key_start = i;
    while (i < url.size() && url[i] != '=' && !blank(i)) ++i;
    const std::string_view key = url.substr(key_start, i - key_start);
    while (blank(i)) ++i;
    if (i >= url.size() || url[i] != '=') {
      // Malformed: libpq refuses it. Hide everything after a secret-looking key.
      if (is_secret_key(key) && i < url.size()) spans.push_back({i, url.size() - i});
      ++i;
      continue;
    }
    ++i;  // '='
    while (blank(i)) ++i;
    const std::size_t value_start = i;
    if (i < url.size() && url[i] == '\'') {
      ++i;
      while (i < url.size() && url[i] != '\'') i += (url[i] == '\\') ? 2 : 1;
      i = std::min(i + 1, url.size());
      // A quote not followed by a blank (`'it''s x'`: libpq escapes with a backslash, not by
      // doubling) leaves the rest of the string unparsable: hide all of it.
      if (i < url.size() && !blank(i) && is_secret_key(key)) i = url.size();
    } else {
      while (i < url.size() && !blank(i)) i += (url[i] == '\\') ? 2 : 1;
      i = std::min(i, url.size());
    }
    if (is_secret_key(key)) spans.push_back({value_start, i - value_start});
  }
  return spans;
}

// The value as libpq would see it: quotes and escapes removed.
std::string unquote(std::string_view v) {
  if (v.starts_with('\''))
    v = v.substr(1, v.size() >= 2 && v.ends_with('\'') ? v.size() - 2 : v.size() - 1);
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

}  // namespace

std::string redact_database_url(std::string_view url) {
  std::vector<Span> spans = secret_spans(url);
  std::string out(url);
  // Replace from the back so earlier offsets stay valid.
  std::sort(spans.begin(), spans.end(), [](Span a, Span b) { return a.offset > b.offset; });
  for (const Span& s : spans) out.replace(s.offset, s.length, "***");
  return out;
}

namespace {

void add_url_secrets(std::string_view url, std::vector<std::string>& out) {
  const bool uri = starts_with_scheme(url);
  for (const Span& s : secret_spans(url)) {
    const std::string_view raw = url.substr(s.offset, s.length);
    const std::string decoded = uri ? percent_decode(raw) : unquote(raw);
    out.emplace_back(raw);
    out.push_back(decoded);
    // libpq may cut a password that it parses differently (an unescaped '@', '?' or '%')
    // and quote only a piece of it in an error.
    for (const std::string_view whole : {raw, std::string_view(decoded)}) {
      std::size_t start = 0;
      for (std::size_t i = 0; i <= whole.size(); ++i) {
        if (i == whole.size() ||
            std::string_view("@:/?#%'\"\\ ").find(whole[i]) != std::string_view::npos) {
          if (i - start >= 4) out.emplace_back(whole.substr(start, i - start));
          start = i + 1;
        }
      }
    }
    // libpq ends a URI's password at its first '@' or '/' and quotes that token whole (a raw
    // '%' in it: `invalid percent-encoded token: "pa%ss"`), or what follows as the host.
    if (uri) {
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '@' || raw[i] == '/') {
          out.emplace_back(raw.substr(0, i));
          out.emplace_back(raw.substr(i + 1));
        }
      }
    }
  }
  // The password of a user info that the URL's own parser does not see (e.g. one with an
  // unescaped '@'): everything between the scheme's "//user:" and the last '@'.
  if (uri) {
    const auto authority = url.find("://");
    const auto at = url.rfind('@');
    if (authority != std::string_view::npos && at != std::string_view::npos && at > authority) {
      const auto info = url.substr(authority + 3, at - authority - 3);
      const auto colon = info.find(':');
      if (colon != std::string_view::npos && info.size() - colon - 1 >= 3) {
        out.emplace_back(info.substr(colon + 1));
      }
    }
  }
}

}  // namespace

std::vector<std::string> secret_values(const Config& config) {
  std::vector<std::string> out;
  add_url_secrets(config.database_url, out);
  add_url_secrets(config.database_listen_url, out);
  for (const auto* key : {&config.storage_secret_access_key, &config.publish_source_token,
                          &config.api_token, &config.notify_secret}) {
    out.push_back(*key);
  }
  for (const auto& name : split_config_list(config.http_env_allow)) {
    if (const char* value = std::getenv(name.c_str())) out.emplace_back(value);
  }
  std::erase_if(out, [](const std::string& s) { return s.size() < 3; });
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string scrub_password(std::string_view text, std::string_view database_url) {
  std::vector<std::string> secrets;
  const bool uri = starts_with_scheme(database_url);
  for (const Span& s : secret_spans(database_url)) {
    const std::string_view raw = database_url.substr(s.offset, s.length);
    secrets.emplace_back(raw);
    secrets.push_back(uri ? percent_decode(raw) : unquote(raw));
  }
  // Longest first, so a secret that contains another is replaced whole. Very short ones are
  // left alone: replacing every "a" in a message would only garble it.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  std::string out(text);
  for (const std::string& secret : secrets) {
    if (secret.size() < 3) continue;
    for (std::size_t pos = out.find(secret); pos != std::string::npos;
         pos = out.find(secret, pos + 3)) {
      out.replace(pos, secret.size(), "***");
    }
  }
  return out;
}

}  // namespace tickd
