// Parsing and checking a region's `http` column. Everything the check can know without
// running is refused here, when the region is validated, so a bad column makes the region
// invalid (with the reason in /status) rather than failing tick after tick.

#include "tickd/handlers/http_spec.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tickd/util/json.hpp"

namespace tickd::http_handler {
namespace {

constexpr std::int64_t kMaxTimeoutMs = 604'800'000;  // 7 days, as the region's timeout_ms

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

// A value as a message quotes it: the column's own text, so nothing secret, but shortened.
std::string shown(std::string_view s) {
  return "'" + json::shorten(json::sanitize_utf8(s), 80) + "'";
}

// RFC 9110 tchar: what a method and a header name are made of.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

bool has_control(std::string_view s, bool allow_tab) {
  return std::any_of(s.begin(), s.end(), [allow_tab](unsigned char c) {
    return (c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f;
  });
}

std::string type_name(const nlohmann::json& v) { return v.type_name(); }

using Problem = std::optional<std::string>;

Problem check_url(HttpSpec& spec, const SpecLimits& limits) {
  const std::string& url = spec.url;
  const auto host = url_host(url);
  if (!host) return "url: " + shown(url) + " is not an http:// or https:// URL";
  if (host->authority.find("{{") != std::string::npos ||
      host->authority.find("}}") != std::string::npos) {
    // The host is checked against HTTP_ALLOWED_HOSTS here, before any tick runs.
    return "url: the host of " + shown(url) + " must be written out, not a template";
  }
  // Blanks inside a template ("{{ region.id }}") are the template's, not the URL's.
  std::string literal;
  for (std::size_t pos = 0; pos < url.size();) {
    const auto open = url.find("{{", pos);
    const auto close = open == std::string::npos ? open : url.find("}}", open);
    literal += url.substr(pos, close == std::string::npos ? std::string::npos : open - pos);
    pos = close == std::string::npos ? url.size() : close + 2;
  }
  if (has_control(url, false) || literal.find(' ') != std::string::npos) {
    return "url: " + shown(url) + " contains spaces or control characters";
  }
  if (!host_allowed(host->host, host->authority, limits.allowed_hosts)) {
    return "url: host '" + host->host + "' is not in HTTP_ALLOWED_HOSTS";
  }
  if (auto e = check_template(url, "url", limits.env_allow)) return e;
  spec.host = host->host;
  spec.authority = host->authority;
  return std::nullopt;
}

Problem parse_headers(const nlohmann::json& v, HttpSpec& spec, const SpecLimits& limits) {
  if (!v.is_object()) return "headers: must be an object of strings, not " + type_name(v);
  for (const auto& [name, value] : v.items()) {
    if (!is_token(name)) return "headers: " + shown(name) + " is not a valid header name";
    if (!value.is_string()) {
      return "headers: " + shown(name) + ": must be a string, not " + type_name(value);
    }
    const auto& text = value.get_ref<const std::string&>();
    if (text.find_first_of("\r\n") != std::string::npos) {
      return "headers: " + shown(name) + ": the value contains CR or LF";
    }
    if (has_control(text, true))
      return "headers: " + shown(name) + ": the value contains control characters";
    if (auto e = check_template(text, "headers: '" + name + "'", limits.env_allow)) return e;
    spec.headers.emplace_back(name, text);
  }
  return std::nullopt;
}

Problem parse_ok_statuses(const nlohmann::json& v, HttpSpec& spec) {
  if (!v.is_array()) return "ok_statuses: must be an array of integers, not " + type_name(v);
  for (const auto& item : v) {
    if (!item.is_number_integer()) {
      return "ok_statuses: " + item.dump() + " is not an integer";
    }
    const auto status = item.get<std::int64_t>();
    if (status < 100 || status > 599) {
      return "ok_statuses: " + std::to_string(status) + " is not an HTTP status (100-599)";
    }
    spec.ok_statuses.push_back(static_cast<int>(status));
  }
  return std::nullopt;
}

Problem parse_fields(const nlohmann::json& doc, HttpSpec& spec, const SpecLimits& limits) {
  static constexpr std::string_view kKnown[] = {
      "url",        "method",      "headers",          "body",
      "timeout_ms", "conditional", "follow_redirects", "ok_statuses"};
  for (const auto& [key, value] : doc.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return "unknown field " + shown(key) +
             " (known: url, method, headers, body, timeout_ms, conditional, follow_redirects, "
             "ok_statuses)";
    }
  }
  const auto url = doc.find("url");
  if (url == doc.end()) return std::string("url: missing");
  if (!url->is_string()) return "url: must be a string, not " + type_name(*url);
  spec.url = url->get<std::string>();
  if (auto e = check_url(spec, limits)) return e;

  if (const auto m = doc.find("method"); m != doc.end()) {
    if (!m->is_string()) return "method: must be a string, not " + type_name(*m);
    spec.method = m->get<std::string>();
    if (!is_token(spec.method) || spec.method.size() > 32) {
      return "method: " + shown(spec.method) + " is not an HTTP method (a token)";
    }
  }
  if (const auto h = doc.find("headers"); h != doc.end()) {
    if (auto e = parse_headers(*h, spec, limits)) return e;
  }
  if (const auto b = doc.find("body"); b != doc.end()) {
    if (!b->is_string()) return "body: must be a string, not " + type_name(*b);
    spec.body = b->get<std::string>();
    if (auto e = check_template(*spec.body, "body", limits.env_allow)) return e;
  }
  if (const auto t = doc.find("timeout_ms"); t != doc.end()) {
    if (!t->is_number_integer()) return "timeout_ms: must be an integer, not " + t->dump();
    const auto ms = t->get<std::int64_t>();
    if (ms < 1 || ms > kMaxTimeoutMs) {
      return "timeout_ms: " + std::to_string(ms) + " is out of range 1-" +
             std::to_string(kMaxTimeoutMs);
    }
    spec.timeout = std::chrono::milliseconds(ms);
  }
  for (auto [key, field] : {std::pair{"conditional", &spec.conditional},
                            std::pair{"follow_redirects", &spec.follow_redirects}}) {
    if (const auto v = doc.find(key); v != doc.end()) {
      if (!v->is_boolean()) return std::string(key) + ": must be true or false, not " + v->dump();
      *field = v->get<bool>();
    }
  }
  if (const auto o = doc.find("ok_statuses"); o != doc.end()) {
    if (auto e = parse_ok_statuses(*o, spec)) return e;
  }
  return std::nullopt;
}

}  // namespace

std::optional<UrlHost> url_host(std::string_view url) {
  UrlHost out;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  auto authority = url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = host.substr(1, close - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.empty()) return std::nullopt;
  out.host = lower(host);
  out.authority = lower(authority);
  return out;
}

bool host_allowed(std::string_view host, std::string_view authority,
                  const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  auto unbracket = [](std::string s) {
    std::erase(s, '[');
    std::erase(s, ']');
    return s;
  };
  const std::string h = unbracket(lower(host));
  const std::string a = unbracket(lower(authority));
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& item) {
    const std::string i = unbracket(lower(item));
    return i == h || i == a;
  });
}

std::variant<HttpSpec, std::string> parse_spec(std::string_view json_text,
                                               const SpecLimits& limits) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    return std::string("http: not JSON: ") + e.what();
  }
  if (!doc.is_object()) return "http: must be a JSON object, not " + type_name(doc);
  HttpSpec spec;
  try {
    if (auto e = parse_fields(doc, spec, limits)) return "http: " + *e;
  } catch (const nlohmann::json::exception& e) {
    return std::string("http: ") + e.what();
  }
  return spec;
}

}  // namespace tickd::http_handler
