#pragma once
// The /v1 API: JSON in and out, on the ControlStore (the same views and actions as the
// CLI). Beast-free: the HTTP server hands each /v1 request over as an ApiRequest and
// writes back the ApiResponse (http_server.hpp), calling handle() off its event loop,
// since every answer reads the database.
//
//   GET  /v1/regions, /v1/regions/{code}, /v1/regions/{code}/runs, /v1/runs, /v1/replicas
//   POST /v1/regions/{code}/trigger, /pause {"reason"}, /resume, /cancel,
//        /backfill {"from", "to", "dry_run"}; every POST body may name "by" (the audit's actor)
//
// Writes need `Authorization: Bearer <TICKD_API_TOKEN>` (compared in constant time): without
// it 403, with a wrong one 401; with no token configured every write is 403. With
// TICKD_API_AUTH=all reads need it too (401 without it).
// Errors are {"error": "..."} with 400, 401, 403, 404, 405, 409, 413 or 503.

#include <chrono>
#include <string>
#include <string_view>

#include "tickd/db/control_store.hpp"
#include "tickd/http/http_server.hpp"

namespace tickd {

struct ApiSettings {
  std::string token;                                // TICKD_API_TOKEN; empty: writes refused
  bool auth_all = false;                            // TICKD_API_AUTH=all
  std::chrono::milliseconds replica_fresh{10'000};  // TICK_LEASE_MS: who counts as live
};

class Api final {
 public:
  Api(ControlStore& store, ApiSettings settings);
  // Blocking (it reads and writes the database): call it off the event loop. Never throws.
  ApiResponse handle(const ApiRequest& request) const;
  // Whether a request with this Authorization header may read (/status, the console).
  bool may_read(std::string_view authorization) const;

 private:
  ControlStore& store_;
  ApiSettings settings_;
};

// True when `authorization` is exactly "Bearer <token>"; the comparison takes the same
// time wherever the first difference is. False for an empty token.
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace tickd
