#include "router.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <optional>
#include <string>

#include "console_assets.hpp"
#include "tickd/util/percent.hpp"

namespace tickd::http_detail {

namespace http = boost::beast::http;

namespace {

Response make(const Request& req, http::status status, std::string_view content_type,
              std::string body) {
  Response res{status, req.version()};
  res.set(http::field::server, "tickd");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  const auto length = body.size();
  if (req.method() != http::verb::head) res.body() = std::move(body);
  res.content_length(length);
  return res;
}

Response text(const Request& req, http::status status, std::string_view body) {
  return make(req, status, kTextContentType, std::string(body) + "\n");
}

std::string_view path_of(std::string_view target) {
  const auto q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

// The percent-decoded value of query parameter `name`, if present.
std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  auto query = target.substr(q + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos)
    query = query.substr(0, hash);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    const auto raw = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    return percent_decode(raw, Plus::space);
  }
  return std::nullopt;
}

enum class Endpoint { none, metrics, healthz, readyz, status };

Endpoint endpoint_of(std::string_view path) {
  if (path == "/metrics") return Endpoint::metrics;
  if (path == "/healthz") return Endpoint::healthz;
  if (path == "/readyz") return Endpoint::readyz;
  if (path == "/status") return Endpoint::status;
  return Endpoint::none;
}

Response method_not_allowed(const Request& req) {
  auto res = text(req, http::status::method_not_allowed, "method not allowed");
  res.set(http::field::allow, "GET, HEAD");
  return res;
}

// The console's files are public (their data comes from /v1, which checks the token), and
// carry the headers that keep the browser to the page's own rules.
Response console_file(const Request& req, const ConsoleAsset& asset) {
  auto res = make(req, http::status::ok, asset.content_type, std::string(asset.body));
  res.set("Content-Security-Policy", kConsoleContentSecurityPolicy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  return res;
}

}  // namespace

Response route(const Request& req, const HttpRoutes& routes) {
  const bool get_or_head = req.method() == http::verb::get || req.method() == http::verb::head;
  if (const auto* asset = find_console_asset(path_of(req.target()))) {
    return get_or_head ? console_file(req, *asset) : method_not_allowed(req);
  }
  const Endpoint ep = endpoint_of(path_of(req.target()));
  if (ep == Endpoint::none) return text(req, http::status::not_found, "not found");
  if (!get_or_head) return method_not_allowed(req);
  try {
    switch (ep) {
      case Endpoint::healthz:
        return text(req, http::status::ok, "ok");
      case Endpoint::readyz:
        if (routes.ready && routes.ready()) return text(req, http::status::ok, "ready");
        return text(req, http::status::service_unavailable, "not ready");
      case Endpoint::metrics:
        if (!routes.metrics) break;
        return make(req, http::status::ok, kMetricsContentType, routes.metrics());
      case Endpoint::status:
        if (routes.may_read && !routes.may_read(req[http::field::authorization])) {
          auto res = make(
              req, http::status::unauthorized, kJsonContentType,
              R"({"error":"this replica needs the API token to read (TICKD_API_AUTH=all): send Authorization: Bearer <token>"})");
          res.set(http::field::www_authenticate, "Bearer realm=\"tickd\"");
          return res;
        }
        if (routes.status_json_for) {
          if (const auto code = query_param(req.target(), "code")) {
            return make(req, http::status::ok, kJsonContentType, routes.status_json_for(*code));
          }
        }
        if (!routes.status_json) break;
        return make(req, http::status::ok, kJsonContentType, routes.status_json());
      case Endpoint::none:
        break;
    }
  } catch (const std::exception& e) {
    spdlog::warn("http: {} failed: {}", path_of(req.target()), e.what());
  } catch (...) {
    spdlog::warn("http: {} failed", path_of(req.target()));
  }
  return text(req, http::status::internal_server_error, "internal error");
}

bool is_api_target(std::string_view target) {
  const auto path = path_of(target);
  return path == "/v1" || path.starts_with("/v1/");
}

Response api_response(unsigned version, bool keep_alive, bool head, ApiResponse answer) {
  Response res{static_cast<http::status>(answer.status), version};
  res.set(http::field::server, "tickd");
  res.set(http::field::content_type, kJsonContentType);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  if (answer.status == 401) res.set(http::field::www_authenticate, "Bearer realm=\"tickd\"");
  res.keep_alive(keep_alive);
  const auto length = answer.body.size();
  if (!head) res.body() = std::move(answer.body);
  res.content_length(length);
  return res;
}

Response error_response(http::status status, unsigned version, std::string_view body) {
  Response res{status, version};
  res.set(http::field::server, "tickd");
  res.set(http::field::content_type, kTextContentType);
  res.keep_alive(false);
  res.body() = std::string(body) + "\n";
  res.prepare_payload();
  return res;
}

}  // namespace tickd::http_detail
