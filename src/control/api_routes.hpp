#pragma once
// Internal to src/control: the /v1 endpoints, one function each, called by Api::handle
// (api.cpp) once the request is routed and authorized. Each returns the whole response;
// they may throw ControlError and DbError, which api.cpp turns into JSON errors.

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "tickd/db/control_store.hpp"
#include "tickd/http/http_server.hpp"

namespace tickd::control {

// Query parameters, percent-decoded.
using Query = std::map<std::string, std::string, std::less<>>;

ApiResponse json_error(int status, std::string_view message);

// Reads (api_reads.cpp).
ApiResponse get_regions(ControlStore& store, const Query& query);
ApiResponse get_region(ControlStore& store, const std::string& code);
ApiResponse get_region_runs(ControlStore& store, const std::string& code, const Query& query);
ApiResponse get_runs(ControlStore& store, const Query& query);
ApiResponse get_replicas(ControlStore& store, std::chrono::milliseconds fresh);

// Actions (api_actions.cpp): `body` is the request's JSON object (empty: none), `actor`
// who acts (region_audit.actor).
ApiResponse post_action(ControlStore& store, const std::string& code, std::string_view action,
                        std::string_view body, const std::string& actor);

}  // namespace tickd::control
