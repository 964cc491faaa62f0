#pragma once
// The `http` handler's pure parts: the region's `http` column parsed into an HttpSpec, its
// `{{...}}` templates expanded, and a response classified. No I/O: the handler
// (src/handlers/http_handler.cpp) does the request and the database work.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tickd::http_handler {

// The `http` column: {"url", "method", "headers", "body", "timeout_ms", "conditional",
// "follow_redirects", "ok_statuses"}. Strings are templates, kept unexpanded.
struct HttpSpec {
  std::string url;             // http:// or https://, a literal host (templates in path/query)
  std::string host;            // the URL's host, lower case, without brackets or port
  std::string authority;       // host[:port] as written (lower case), for HTTP_ALLOWED_HOSTS
  std::string method = "GET";  // an HTTP token
  std::vector<std::pair<std::string, std::string>> headers;  // name, value template
  std::optional<std::string> body;
  std::optional<std::chrono::milliseconds> timeout;  // timeout_ms: none, the attempt's
  bool conditional = true;        // send back ETag / Last-Modified; 304 is success
  bool follow_redirects = false;  // at most kMaxRedirects hops, each host checked
  std::vector<int> ok_statuses;   // more statuses that count as success (e.g. 404)
};

inline constexpr int kMaxRedirects = 5;

// What limits a spec: HTTP_ALLOWED_HOSTS and HTTP_ENV_ALLOW, as their lists.
struct SpecLimits {
  std::vector<std::string> allowed_hosts;  // empty: any host
  std::vector<std::string> env_allow;      // names usable as {{env.NAME}}
};

// The column's JSON text -> the spec, or why it cannot run, prefixed "http: " (e.g.
// "http: url: 'ftp://x' is not an http:// or https:// URL").
std::variant<HttpSpec, std::string> parse_spec(std::string_view json_text,
                                               const SpecLimits& limits);

// Whether `host` (lower case, no brackets) with `authority` (host[:port]) is one of
// `allowed` (empty: any). Items match case-insensitively, brackets ignored; an item with
// a port matches that port only.
bool host_allowed(std::string_view host, std::string_view authority,
                  const std::vector<std::string>& allowed);

// The host and authority of an absolute http(s) URL, or none when it is not one. Lower case;
// user info dropped; IPv6 brackets dropped from the host and kept in the authority.
struct UrlHost {
  std::string scheme;  // "http" or "https"
  std::string host;
  std::string authority;
};
std::optional<UrlHost> url_host(std::string_view url);

// ---- templates ----

// What {{...}} names expand to, for one attempt.
struct TemplateValues {
  std::string region_code;
  std::int64_t region_id = 0;
  std::string scheduled_for;  // RFC 3339 UTC
  int attempt = 1;
  // {{env.NAME}}: the variable's value, none when unset (getenv in the handler).
  std::function<std::optional<std::string>(const std::string&)> env;
};

enum class Encoding {
  none,     // header values and the body: as they are
  percent,  // the URL: every substituted byte outside A-Za-z0-9-._~ percent-encoded
};

// Why a template in `text` cannot be expanded (unterminated, unknown name, an env name not
// in `env_allow`), if it cannot. `where` names the field in the message.
std::optional<std::string> check_template(std::string_view text, std::string_view where,
                                          const std::vector<std::string>& env_allow);

// `text` with each {{name}} replaced. Every env value substituted is appended to `secrets`
// (so errors and stored text can be scrubbed of it). Throws std::runtime_error naming the
// variable when an {{env.NAME}} is unset, or on a template check_template refuses.
std::string expand(std::string_view text, const TemplateValues& values, Encoding encoding,
                   std::vector<std::string>& secrets);

// Whether a template names something that changes from one tick to the next (scheduled_for,
// attempt): such a URL is a new resource each time, so validators are not kept for it.
bool varies_per_tick(std::string_view text);

// `s` with each of `secrets` (raw, and as percent-encoded in a URL) replaced by "***",
// longest first.
std::string scrub(std::string s, const std::vector<std::string>& secrets);

// Every byte outside A-Za-z0-9-._~ as %XX (upper-case hex).
std::string percent_encode_all(std::string_view s);

// ---- outcome ----

enum class Outcome {
  ok,            // 2xx or one of ok_statuses
  not_modified,  // 304 to a conditional request
  retry,         // 408, 429, 5xx: as the region's retry policy says
  permanent,     // anything else (3xx not followed, 4xx): no further attempt
};

Outcome classify(long status, bool conditional, const std::vector<int>& ok_statuses);

// The least wait a Retry-After header value asks for: delay-seconds, or an HTTP-date
// (IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT") relative to `now`; capped at an hour;
// a date in the past is 0. None when the value is neither.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

inline constexpr std::chrono::milliseconds kMaxRetryAfter = std::chrono::hours(1);

// "Not Found" for 404 and the other common statuses; empty when not known.
std::string_view reason_phrase(long status);

}  // namespace tickd::http_handler
