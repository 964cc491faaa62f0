#include <doctest/doctest.h>

#include <cctype>
#include <stdexcept>
#include <string>

// The routing table is internal to src/http; it is tested here as a pure function.
#include "../../../src/http/router.hpp"

namespace {

namespace http = boost::beast::http;
using tickd::http_detail::Request;
using tickd::http_detail::Response;

tickd::HttpRoutes routes(bool ready = true) {
  return {
      [] { return std::string("# metrics\n"); },
      [ready] { return ready; },
      [] { return std::string("{\"replica_id\":\"r\"}"); },
      [](std::string_view code) { return "{\"code\":\"" + std::string(code) + "\"}"; },
      {},
      {},
  };
}

Response call(http::verb method, std::string_view target, const tickd::HttpRoutes& r = routes()) {
  Request req{method, target, 11};
  req.set(http::field::host, "localhost");
  return tickd::http_detail::route(req, r);
}

std::string content_type(const Response& res) {
  return std::string(res[http::field::content_type]);
}

}  // namespace

TEST_CASE("the routing table: paths, methods, status codes and content types") {
  struct Row {
    http::verb method;
    std::string_view target;
    unsigned status;
    std::string_view type;
    std::string_view body;
  };
  const Row rows[] = {
      {http::verb::get, "/metrics", 200, "text/plain; version=0.0.4; charset=utf-8", "# metrics\n"},
      {http::verb::get, "/healthz", 200, "text/plain; charset=utf-8", "ok\n"},
      {http::verb::get, "/readyz", 200, "text/plain; charset=utf-8", "ready\n"},
      {http::verb::get, "/status", 200, "application/json", "{\"replica_id\":\"r\"}"},
      {http::verb::get, "/metrics?name[]=x", 200, "text/plain; version=0.0.4; charset=utf-8",
       "# metrics\n"},
      {http::verb::get, "/metrics/", 404, "text/plain; charset=utf-8", "not found\n"},
      {http::verb::get, "/METRICS", 404, "text/plain; charset=utf-8", "not found\n"},
      {http::verb::get, "*", 404, "text/plain; charset=utf-8", "not found\n"},
      {http::verb::post, "/nothing", 404, "text/plain; charset=utf-8", "not found\n"},
      {http::verb::post, "/metrics", 405, "text/plain; charset=utf-8", "method not allowed\n"},
      {http::verb::put, "/status", 405, "text/plain; charset=utf-8", "method not allowed\n"},
      {http::verb::delete_, "/healthz", 405, "text/plain; charset=utf-8", "method not allowed\n"},
      {http::verb::options, "/readyz", 405, "text/plain; charset=utf-8", "method not allowed\n"},
      {http::verb::post, "/", 405, "text/plain; charset=utf-8", "method not allowed\n"},
      {http::verb::get, "/console.js/", 404, "text/plain; charset=utf-8", "not found\n"},
      {http::verb::get, "/index.html/..", 404, "text/plain; charset=utf-8", "not found\n"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.target);
    CAPTURE(std::string(http::to_string(row.method)));
    const Response res = call(row.method, row.target);
    CHECK(res.result_int() == row.status);
    CHECK(content_type(res) == row.type);
    CHECK(res.body() == row.body);
    CHECK(res[http::field::content_length] == std::to_string(row.body.size()));
    if (row.status == 405) CHECK(res[http::field::allow] == "GET, HEAD");
  }
}

TEST_CASE("readyz answers 503 while the service is not ready") {
  const Response res = call(http::verb::get, "/readyz", routes(false));
  CHECK(res.result() == http::status::service_unavailable);
  CHECK(res.body() == "not ready\n");
}

TEST_CASE("HEAD carries the GET headers and length but no body") {
  const Response res = call(http::verb::head, "/metrics");
  CHECK(res.result() == http::status::ok);
  CHECK(content_type(res) == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res[http::field::content_length] == "10");
  CHECK(res.body().empty());
}

TEST_CASE("keep-alive and the HTTP version follow the request") {
  Request req{http::verb::get, "/healthz", 10};
  CHECK_FALSE(tickd::http_detail::route(req, routes()).keep_alive());
  CHECK(tickd::http_detail::route(req, routes()).version() == 10);
  req.keep_alive(true);
  CHECK(tickd::http_detail::route(req, routes()).keep_alive());
  Request req11{http::verb::get, "/healthz", 11};
  CHECK(tickd::http_detail::route(req11, routes()).keep_alive());
  req11.keep_alive(false);
  CHECK_FALSE(tickd::http_detail::route(req11, routes()).keep_alive());
}

TEST_CASE("a callback that throws gives 500, and a missing one 500 or 503, never an exception") {
  tickd::HttpRoutes throwing{
      []() -> std::string { throw std::runtime_error("boom"); },
      []() -> bool { throw std::runtime_error("boom"); },
      []() -> std::string { throw 42; },
      {},
      {},
      {},
  };
  CHECK(call(http::verb::get, "/metrics", throwing).result_int() == 500);
  CHECK(call(http::verb::get, "/readyz", throwing).result_int() == 500);
  CHECK(call(http::verb::get, "/status", throwing).result_int() == 500);
  const tickd::HttpRoutes empty{};
  CHECK(call(http::verb::get, "/metrics", empty).result_int() == 500);
  CHECK(call(http::verb::get, "/readyz", empty).result_int() == 503);
  CHECK(call(http::verb::get, "/status", empty).result_int() == 500);
  CHECK(call(http::verb::get, "/healthz", empty).result_int() == 200);
}

TEST_CASE("error responses close the connection") {
  const Response res =
      tickd::http_detail::error_response(http::status::bad_request, 11, "bad request");
  CHECK(res.result_int() == 400);
  CHECK_FALSE(res.keep_alive());
  CHECK(res.body() == "bad request\n");
  CHECK(res[http::field::content_length] == "12");
}

TEST_CASE("/status?code= asks for one region, percent-decoded") {
  const auto res = call(http::verb::get, "/status?code=a%20b%2Bc");
  CHECK(res.result_int() == 200);
  CHECK(res.body() == "{\"code\":\"a b+c\"}");
  CHECK(call(http::verb::get, "/status").body() == "{\"replica_id\":\"r\"}");
  CHECK(call(http::verb::get, "/status?other=1").body() == "{\"replica_id\":\"r\"}");
}

TEST_CASE("the console: its embedded files, with the headers that keep the browser to them") {
  const struct {
    std::string_view target;
    std::string_view type;
    std::string_view starts;
  } files[] = {
      {"/", "text/html; charset=utf-8", "<!doctype html>"},
      {"/index.html", "text/html; charset=utf-8", "<!doctype html>"},
      {"/?region=x", "text/html; charset=utf-8", "<!doctype html>"},
      {"/console.js", "text/javascript; charset=utf-8", "// tickd's console"},
      {"/console.css", "text/css; charset=utf-8", "/* The console's"},
  };
  for (const auto& file : files) {
    CAPTURE(file.target);
    const Response res = call(http::verb::get, file.target);
    CHECK(res.result_int() == 200);
    CHECK(content_type(res) == file.type);
    CHECK(res.body().starts_with(file.starts));
    CHECK(res["Content-Security-Policy"] ==
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    CHECK(res["X-Content-Type-Options"] == "nosniff");
    CHECK(res["Referrer-Policy"] == "no-referrer");
    CHECK(res[http::field::cache_control] == "no-store");
    const Response head = call(http::verb::head, file.target);
    CHECK(head.body().empty());
    CHECK(head[http::field::content_length] == std::to_string(res.body().size()));
  }
}

TEST_CASE("the console's page has no inline script, style or event handler for the CSP to refuse") {
  const std::string page = call(http::verb::get, "/").body();
  CHECK(page.find("<script src=\"/console.js\"") != std::string::npos);
  CHECK(page.find("<script>") == std::string::npos);
  CHECK(page.find("<style") == std::string::npos);
  CHECK(page.find("style=") == std::string::npos);
  // An attribute " on<letters>=" (onclick=, onload=, ...).
  for (auto at = page.find(" on"); at != std::string::npos; at = page.find(" on", at + 1)) {
    auto end = at + 3;
    while (end < page.size() && std::isalpha(static_cast<unsigned char>(page[end]))) ++end;
    CHECK_MESSAGE(page.substr(end, 1) != "=", page.substr(at, 20));
  }
  const std::string script = call(http::verb::get, "/console.js").body();
  CHECK(script.find("innerHTML") == std::string::npos);
  CHECK(script.find("insertAdjacentHTML") == std::string::npos);
  CHECK(script.find("eval(") == std::string::npos);
}
