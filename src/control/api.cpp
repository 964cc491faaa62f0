// The /v1 API's front door: routing, authorization and errors. The endpoints themselves
// are in api_reads.cpp and api_actions.cpp.

#include "tickd/control/api.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "api_routes.hpp"
#include "tickd/db/database.hpp"
#include "tickd/util/json.hpp"
#include "tickd/util/percent.hpp"

namespace tickd {
namespace {

using control::json_error;
using control::Query;

std::string_view path_of(std::string_view target) {
  const auto q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

Query query_of(std::string_view target) {
  Query out;
  const auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  auto query = target.substr(q + 1);
  if (const auto hash = query.find('#'); hash != std::string_view::npos) {
    query = query.substr(0, hash);
  }
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    out[percent_decode(pair.substr(0, eq), Plus::space)] = percent_decode(value, Plus::space);
  }
  return out;
}

// "/v1/regions/a%2Fb/runs" -> {"regions", "a/b", "runs"}; segments percent-decoded.
std::vector<std::string> segments_of(std::string_view path) {
  std::vector<std::string> out;
  path.remove_prefix(std::min<std::size_t>(path.size(), 4));  // "/v1/"
  while (!path.empty()) {
    const auto slash = path.find('/');
    out.push_back(percent_decode(path.substr(0, slash), Plus::literal));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

ApiResponse method_not_allowed(std::string_view allowed) {
  return json_error(405, "method not allowed here: use " + std::string(allowed));
}

constexpr std::string_view kNoToken =
    "writes are disabled on this replica: set TICKD_API_TOKEN (and send it as "
    "Authorization: Bearer <token>) to enable them";

}  // namespace

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (token.empty() || authorization.size() != kBearer.size() + token.size()) return false;
  // The scheme is case-insensitive (RFC 9110); the token is compared in constant time.
  for (std::size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kBearer[i]))) {
      return false;
    }
  }
  return CRYPTO_memcmp(authorization.data() + kBearer.size(), token.data(), token.size()) == 0;
}

Api::Api(ControlStore& store, ApiSettings settings)
    : store_(store), settings_(std::move(settings)) {}

bool Api::may_read(std::string_view authorization) const {
  return !settings_.auth_all || bearer_matches(authorization, settings_.token);
}

ApiResponse Api::handle(const ApiRequest& request) const {
  const auto path = path_of(request.target);
  const auto parts = segments_of(path);
  const bool read = request.method == "GET" || request.method == "HEAD";
  const bool write = request.method == "POST";
  try {
    // Authorization first, so that nothing (not even whether a region exists) leaks to a
    // caller without the token.
    if (write) {
      if (settings_.token.empty()) return json_error(403, kNoToken);
      // No credentials: forbidden (403); wrong credentials: not authenticated (401).
      if (request.authorization.empty()) {
        return json_error(403,
                          "this write needs the API token: send Authorization: Bearer <token>");
      }
      if (!bearer_matches(request.authorization, settings_.token)) {
        return json_error(401, "the API token does not match");
      }
    } else if (read && !may_read(request.authorization)) {
      return json_error(401,
                        "this replica needs the API token to read (TICKD_API_AUTH=all): send "
                        "Authorization: Bearer <token>");
    }
    const auto query = query_of(request.target);
    if (parts.size() == 1 && parts[0] == "regions") {
      if (!read) return method_not_allowed("GET");
      return control::get_regions(store_, query);
    }
    if (parts.size() == 1 && parts[0] == "runs") {
      if (!read) return method_not_allowed("GET");
      return control::get_runs(store_, query);
    }
    if (parts.size() == 1 && parts[0] == "replicas") {
      if (!read) return method_not_allowed("GET");
      return control::get_replicas(store_, settings_.replica_fresh);
    }
    if (parts.size() >= 2 && parts[0] == "regions" && !parts[1].empty()) {
      const std::string& code = parts[1];
      if (parts.size() == 2) {
        if (!read) return method_not_allowed("GET");
        return control::get_region(store_, code);
      }
      if (parts.size() == 3 && parts[2] == "runs") {
        if (!read) return method_not_allowed("GET");
        return control::get_region_runs(store_, code, query);
      }
      static constexpr std::string_view kActions[] = {"trigger", "pause", "resume", "cancel",
                                                      "backfill"};
      if (parts.size() == 3 &&
          std::find(std::begin(kActions), std::end(kActions), parts[2]) != std::end(kActions)) {
        if (!write) return method_not_allowed("POST");
        // The token's holder, named by the body's "by" when it gives one (api_actions.cpp).
        const std::string actor = "api@" + request.peer;
        return control::post_action(store_, code, parts[2], request.body, actor);
      }
    }
    return json_error(404, "no such endpoint: " + std::string(path));
  } catch (const ControlError& e) {
    switch (e.kind()) {
      case ControlError::Kind::bad_input:
        return json_error(400, e.what());
      case ControlError::Kind::not_found:
        return json_error(404, e.what());
      case ControlError::Kind::conflict:
        return json_error(409, e.what());
    }
  } catch (const DbError& e) {
    spdlog::warn("api: {} {}: {}", request.method, path, e.what());
    return json_error(
        503, "the database is unreachable or did not answer in time (the replica's log says more)");
  } catch (const std::exception& e) {
    spdlog::warn("api: {} {}: {}", request.method, path, e.what());
  }
  return json_error(500, "internal error");
}

}  // namespace tickd
