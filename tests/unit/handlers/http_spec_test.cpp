// The `http` handler's pure parts: the column parsed and refused with reasons, templates
// expanded (and their secrets scrubbed), statuses classified, Retry-After read.

#include "tickd/handlers/http_spec.hpp"

#include <doctest/doctest.h>

#include "tickd/handlers/handler.hpp"

using namespace tickd::http_handler;
using namespace std::chrono_literals;

namespace {

const SpecLimits kOpen{{}, {"API_TOKEN"}};

// The reason `json` is refused, or "" when it parses.
std::string refused(std::string_view json, const SpecLimits& limits = kOpen) {
  auto parsed = parse_spec(json, limits);
  if (auto* e = std::get_if<std::string>(&parsed)) return *e;
  return "";
}

HttpSpec spec(std::string_view json, const SpecLimits& limits = kOpen) {
  auto parsed = parse_spec(json, limits);
  REQUIRE_MESSAGE(std::holds_alternative<HttpSpec>(parsed), std::get<std::string>(parsed));
  return std::get<HttpSpec>(parsed);
}

TemplateValues values() {
  TemplateValues v;
  v.region_code = "eu west";
  v.region_id = 42;
  v.scheduled_for = "2026-12-06T07:00:00Z";
  v.attempt = 2;
  v.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "API_TOKEN") return "s3cr/t&x";
    return std::nullopt;
  };
  return v;
}

tickd::RegionExtras with_http(std::string column) {
  tickd::RegionExtras extras;
  extras.http = std::move(column);
  return extras;
}

std::chrono::system_clock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return std::chrono::sys_days(std::chrono::year(y) / mo / d) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(s);
}

}  // namespace

TEST_CASE("a full column parses with its defaults and every field") {
  const auto minimal = spec(R"({"url": "https://API.example.com:8443/ping"})");
  CHECK(minimal.method == "GET");
  CHECK(minimal.conditional);
  CHECK_FALSE(minimal.follow_redirects);
  CHECK_FALSE(minimal.timeout);
  CHECK(minimal.host == "api.example.com");
  CHECK(minimal.authority == "api.example.com:8443");

  const auto full = spec(R"({"url": "http://h/x/{{region.code}}", "method": "POST",
    "headers": {"X-Tick": "{{attempt}}", "Authorization": "Bearer {{env.API_TOKEN}}"},
    "body": "{\"at\": \"{{scheduled_for}}\"}", "timeout_ms": 1500, "conditional": false,
    "follow_redirects": true, "ok_statuses": [404, 409]})");
  CHECK(full.method == "POST");
  REQUIRE(full.headers.size() == 2);
  CHECK(full.body == R"({"at": "{{scheduled_for}}"})");
  CHECK(full.timeout == 1500ms);
  CHECK_FALSE(full.conditional);
  CHECK(full.follow_redirects);
  CHECK(full.ok_statuses == std::vector<int>{404, 409});
}

TEST_CASE("a column that cannot run is refused, saying why") {
  CHECK(refused("nope").starts_with("http: not JSON: "));
  CHECK(refused("[1]") == "http: must be a JSON object, not array");
  CHECK(refused("{}") == "http: url: missing");
  CHECK(refused(R"({"url": 5})") == "http: url: must be a string, not number");
  CHECK(refused(R"({"url": "ftp://x"})") ==
        "http: url: 'ftp://x' is not an http:// or https:// URL");
  CHECK(refused(R"({"url": "http://"})") ==
        "http: url: 'http://' is not an http:// or https:// URL");
  CHECK(refused(R"({"url": "https://{{env.API_TOKEN}}.example.com/"})") ==
        "http: url: the host of 'https://{{env.API_TOKEN}}.example.com/' must be written out, not "
        "a template");
  CHECK(refused(R"({"url": "http://h/a b"})") ==
        "http: url: 'http://h/a b' contains spaces or control characters");
  CHECK(refused(R"({"url": "http://h/", "verb": "GET"})") ==
        "http: unknown field 'verb' (known: url, method, headers, body, timeout_ms, conditional, "
        "follow_redirects, ok_statuses)");
  CHECK(refused(R"({"url": "http://h/", "method": "GE T"})") ==
        "http: method: 'GE T' is not an HTTP method (a token)");
  CHECK(refused(R"({"url": "http://h/", "method": 1})") ==
        "http: method: must be a string, not number");
  CHECK(refused(R"({"url": "http://h/", "headers": []})") ==
        "http: headers: must be an object of strings, not array");
  CHECK(refused(R"({"url": "http://h/", "headers": {"Bad Name": "x"}})") ==
        "http: headers: 'Bad Name' is not a valid header name");
  CHECK(refused(R"({"url": "http://h/", "headers": {"X-A": "a\r\nX-Evil: 1"}})") ==
        "http: headers: 'X-A': the value contains CR or LF");
  CHECK(refused(R"({"url": "http://h/", "headers": {"X-A": 1}})") ==
        "http: headers: 'X-A': must be a string, not number");
  CHECK(refused(R"({"url": "http://h/", "body": {}})") ==
        "http: body: must be a string, not object");
  CHECK(refused(R"({"url": "http://h/", "timeout_ms": 1.5})") ==
        "http: timeout_ms: must be an integer, not 1.5");
  CHECK(refused(R"({"url": "http://h/", "timeout_ms": 0})") ==
        "http: timeout_ms: 0 is out of range 1-604800000");
  CHECK(refused(R"({"url": "http://h/", "conditional": "yes"})") ==
        "http: conditional: must be true or false, not \"yes\"");
  CHECK(refused(R"({"url": "http://h/", "ok_statuses": [404, "x"]})") ==
        "http: ok_statuses: \"x\" is not an integer");
  CHECK(refused(R"({"url": "http://h/", "ok_statuses": [99]})") ==
        "http: ok_statuses: 99 is not an HTTP status (100-599)");
}

TEST_CASE("templates name known values and only allowed environment variables") {
  CHECK(refused(R"({"url": "http://h/{{env.HOME}}"})") ==
        "http: url: {{env.HOME}}: HOME is not listed in HTTP_ENV_ALLOW");
  CHECK(refused(R"({"url": "http://h/", "body": "{{region.name}}"})") ==
        "http: body: unknown template {{region.name}} (known: region.code, region.id, "
        "scheduled_for, attempt, env.NAME)");
  CHECK(refused(R"({"url": "http://h/", "headers": {"X": "{{attempt"}})") ==
        "http: headers: 'X': '{{' without its '}}'");
  CHECK(refused(R"({"url": "http://h/{{ region.id }}"})").empty());  // blanks inside are fine
}

TEST_CASE("HTTP_ALLOWED_HOSTS lists the only hosts a column may name") {
  const SpecLimits limits{{"api.example.com", "127.0.0.1:8080", "[::1]"}, {}};
  CHECK(refused(R"({"url": "https://API.example.com/x"})", limits).empty());
  CHECK(refused(R"({"url": "http://127.0.0.1:8080/x"})", limits).empty());
  CHECK(refused(R"({"url": "http://[::1]:9/x"})", limits).empty());
  CHECK(refused(R"({"url": "http://user:pw@api.example.com/x"})", limits).empty());
  CHECK(refused(R"({"url": "http://127.0.0.1:8081/x"})", limits) ==
        "http: url: host '127.0.0.1' is not in HTTP_ALLOWED_HOSTS");
  CHECK(refused(R"({"url": "http://evil.example.com/x"})", limits) ==
        "http: url: host 'evil.example.com' is not in HTTP_ALLOWED_HOSTS");
  // The user info is not the host: "api.example.com@evil" goes to evil.
  CHECK(refused(R"({"url": "http://api.example.com@evil.example.com/"})", limits) ==
        "http: url: host 'evil.example.com' is not in HTTP_ALLOWED_HOSTS");
}

TEST_CASE("the handler's check refuses a region without its column or with a bad one") {
  tickd::Config config;
  config.http_allowed_hosts = "good.example.com";
  const auto handler = tickd::make_http_handler(config);
  tickd::RegionRow row;
  CHECK(handler->check(row) == "http: the region's http column is not set");
  row.extras = with_http(R"({"url": "http://bad.example.com/"})");
  CHECK(handler->check(row) == "http: url: host 'bad.example.com' is not in HTTP_ALLOWED_HOSTS");
  row.extras = with_http(R"({"url": "http://good.example.com/"})");
  CHECK_FALSE(handler->check(row));
}

TEST_CASE("templates expand; in the URL every substituted byte is percent-encoded") {
  std::vector<std::string> secrets;
  CHECK(expand("http://h/{{region.code}}/{{region.id}}?at={{scheduled_for}}&n={{attempt}}",
               values(), Encoding::percent,
               secrets) == "http://h/eu%20west/42?at=2026-12-06T07%3A00%3A00Z&n=2");
  CHECK(secrets.empty());
  CHECK(expand("Bearer {{env.API_TOKEN}}", values(), Encoding::none, secrets) == "Bearer s3cr/t&x");
  CHECK(expand("http://h/?t={{ env.API_TOKEN }}", values(), Encoding::percent, secrets) ==
        "http://h/?t=s3cr%2Ft%26x");
  CHECK(secrets == std::vector<std::string>{"s3cr/t&x", "s3cr/t&x"});
  CHECK(expand("no {templates} here }}", values(), Encoding::none, secrets) ==
        "no {templates} here }}");
  CHECK_THROWS_WITH(expand("{{env.UNSET}}", values(), Encoding::none, secrets),
                    "{{env.UNSET}}: UNSET is not set in tickd's environment");
}

TEST_CASE("secrets are scrubbed raw and percent-encoded, longest first") {
  const std::vector<std::string> secrets{"s3cr/t&x", "s3cr"};
  CHECK(scrub("GET /?t=s3cr%2Ft%26x failed; echoed s3cr/t&x and s3cr", secrets) ==
        "GET /?t=*** failed; echoed *** and ***");
  CHECK(scrub("nothing secret", {}) == "nothing secret");
}

TEST_CASE("only URLs naming the instant or the attempt vary per tick") {
  CHECK(varies_per_tick("http://h/{{scheduled_for}}"));
  CHECK(varies_per_tick("http://h/?a={{ attempt }}"));
  CHECK_FALSE(varies_per_tick("http://h/{{region.code}}/{{env.API_TOKEN}}"));
}

TEST_CASE("statuses classify as success, retry or permanent failure") {
  CHECK(classify(200, true, {}) == Outcome::ok);
  CHECK(classify(204, false, {}) == Outcome::ok);
  CHECK(classify(304, true, {}) == Outcome::not_modified);
  CHECK(classify(304, false, {}) == Outcome::permanent);
  CHECK(classify(302, true, {}) == Outcome::permanent);
  CHECK(classify(404, true, {}) == Outcome::permanent);
  CHECK(classify(404, true, {404}) == Outcome::ok);
  CHECK(classify(400, true, {}) == Outcome::permanent);
  CHECK(classify(408, true, {}) == Outcome::retry);
  CHECK(classify(429, true, {}) == Outcome::retry);
  CHECK(classify(500, true, {}) == Outcome::retry);
  CHECK(classify(503, true, {}) == Outcome::retry);
  CHECK(classify(503, true, {503}) == Outcome::ok);
  CHECK(reason_phrase(404) == "Not Found");
  CHECK(reason_phrase(299).empty());
}

TEST_CASE("Retry-After is seconds or an HTTP-date, capped at an hour") {
  const auto now = utc(2026, 12, 6, 7, 0, 0);
  CHECK(parse_retry_after("2", now) == 2000ms);
  CHECK(parse_retry_after(" 120 ", now) == 120'000ms);
  CHECK(parse_retry_after("0", now) == 0ms);
  CHECK(parse_retry_after("86400", now) == std::chrono::milliseconds(kMaxRetryAfter));
  CHECK(parse_retry_after("99999999999999999999", now) ==
        std::chrono::milliseconds(kMaxRetryAfter));
  CHECK(parse_retry_after("Sun, 06 Dec 2026 07:00:30 GMT", now) == 30'000ms);
  CHECK(parse_retry_after("Sun, 06 Dec 2026 06:00:00 GMT", now) == 0ms);  // past
  CHECK(parse_retry_after("Mon, 07 Dec 2026 07:00:00 GMT", now) ==
        std::chrono::milliseconds(kMaxRetryAfter));
  CHECK_FALSE(parse_retry_after("-1", now));
  CHECK_FALSE(parse_retry_after("1.5", now));
  CHECK_FALSE(parse_retry_after("soon", now));
  CHECK_FALSE(parse_retry_after("Sun, 31 Feb 2026 07:00:30 GMT", now));
  CHECK_FALSE(parse_retry_after("", now));
}
