#pragma once
// Internal to src/http: the routing table as a pure function of the request, so it can be
// tested without sockets. The only place besides http_server.cpp that includes Beast.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>

#include "tickd/http/http_server.hpp"

namespace tickd::http_detail {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
inline constexpr std::string_view kJsonContentType = "application/json";

// GET/HEAD /metrics, /healthz, /readyz, /status (a query string is ignored) and the
// console's files (/, /index.html, /console.js, ...: console_assets.hpp); 404 for any
// other path, 405 (with Allow) for another method on a known path. A HEAD response carries
// the GET response's headers and Content-Length, with no body. A callback that throws or
// is missing gives 500. Keep-alive and version follow the request.
Response route(const Request& req, const HttpRoutes& routes);

// Paths under /v1/ (and /v1 itself): the API's (HttpRoutes::api).
bool is_api_target(std::string_view target);
// The API's answer as an HTTP response (JSON; no body for HEAD).
Response api_response(unsigned version, bool keep_alive, bool head, ApiResponse answer);

// A complete error response (400, 413, ...) that asks the client to close the connection.
Response error_response(boost::beast::http::status status, unsigned version, std::string_view text);

}  // namespace tickd::http_detail
