// The /v1 API's front door, no database: authorization (decided before any read), routing
// and the checks of request bodies all answer before the store is used. The store points at
// a server that does not exist and is never connected (its pool connects lazily).

#include "tickd/control/api.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

namespace {

using tickd::Api;
using tickd::ApiRequest;
using tickd::ApiResponse;

struct Rig {
  explicit Rig(std::string token = "t0k3n", bool auth_all = false)
      : store("postgresql://nobody@127.0.0.1:1/none"), api(store, {token, auth_all, {}}) {}
  ApiResponse call(std::string method, std::string target, std::string auth = "",
                   std::string body = "") {
    return api.handle(
        {std::move(method), std::move(target), std::move(body), std::move(auth), "127.0.0.1"});
  }
  tickd::ControlStore store;
  Api api;
};

std::string error_of(const ApiResponse& r) {
  return nlohmann::json::parse(r.body).at("error").get<std::string>();
}

}  // namespace

TEST_CASE("bearer_matches wants exactly `Bearer <token>`, the scheme in any case") {
  CHECK(tickd::bearer_matches("Bearer abc", "abc"));
  CHECK(tickd::bearer_matches("bearer abc", "abc"));
  CHECK_FALSE(tickd::bearer_matches("Bearer abd", "abc"));
  CHECK_FALSE(tickd::bearer_matches("Bearer abc ", "abc"));
  CHECK_FALSE(tickd::bearer_matches("Bearer ab", "abc"));
  CHECK_FALSE(tickd::bearer_matches("Basic abc", "abc"));
  CHECK_FALSE(tickd::bearer_matches("abc", "abc"));
  CHECK_FALSE(tickd::bearer_matches("Bearer ", ""));  // no token configured: nothing matches
}

TEST_CASE("writes: 403 without a token, 401 with a wrong one, 403 when none is configured") {
  Rig rig;
  auto r = rig.call("POST", "/v1/regions/a/pause");
  CHECK(r.status == 403);
  CHECK(error_of(r).find("Authorization: Bearer") != std::string::npos);
  r = rig.call("POST", "/v1/regions/a/pause", "Bearer wrong");
  CHECK(r.status == 401);
  Rig closed("");
  r = closed.call("POST", "/v1/regions/a/pause", "Bearer t0k3n");
  CHECK(r.status == 403);
  CHECK(error_of(r).find("TICKD_API_TOKEN") != std::string::npos);
}

TEST_CASE("with TICKD_API_AUTH=all reads need the token too") {
  Rig rig("t0k3n", true);
  CHECK(rig.call("GET", "/v1/regions").status == 401);
  CHECK(rig.call("GET", "/v1/regions", "Bearer nope").status == 401);
  CHECK_FALSE(rig.api.may_read(""));
  CHECK(rig.api.may_read("Bearer t0k3n"));
  Rig open;
  CHECK(open.api.may_read(""));
}

TEST_CASE("unknown paths are 404 and wrong methods 405, before the database") {
  Rig rig;
  CHECK(rig.call("GET", "/v1/nothing").status == 404);
  CHECK(rig.call("GET", "/v1/regions/a/b/c").status == 404);
  CHECK(rig.call("GET", "/v1/regions/a/frobnicate").status == 404);
  CHECK(rig.call("GET", "/v1/regions/a/trigger").status == 405);
  CHECK(rig.call("POST", "/v1/regions", "Bearer t0k3n").status == 405);
  CHECK(rig.call("DELETE", "/v1/regions/a").status == 405);
}

TEST_CASE("bodies are checked before anything is written: JSON objects of known fields") {
  Rig rig;
  const std::string auth = "Bearer t0k3n";
  struct Case {
    const char* action;
    const char* body;
    const char* says;
  };
  for (const Case& c : {
           Case{"pause", "{", "not JSON"},
           Case{"pause", "[1]", "JSON object"},
           Case{"pause", R"({"reason": 5})", "\"reason\" must be a string"},
           Case{"pause", R"({"reason": "a\nb"})", "control characters"},
           Case{"pause", R"({"resaon": "typo"})", "unknown field \"resaon\""},
           Case{"trigger", R"({"reason": "x"})", "unknown field \"reason\""},
           Case{"trigger", R"({"by": ""})", "must not be empty"},
           Case{"backfill", R"({"to": "2026-03-08"})", "\"from\" is required"},
           Case{"backfill", R"({"from": "yesterday", "to": "2026-03-08"})", "is not a time"},
           Case{"backfill", R"({"from": "2026-03-08", "to": "2026-03-09", "dry_run": "yes"})",
                "must be a boolean"},
       }) {
    CAPTURE(c.body);
    const auto r = rig.call("POST", std::string("/v1/regions/a/") + c.action, auth, c.body);
    CHECK(r.status == 400);
    CHECK(error_of(r).find(c.says) != std::string::npos);
  }
  // Over 200 bytes of "by".
  const auto r = rig.call("POST", "/v1/regions/a/trigger", auth,
                          R"({"by": ")" + std::string(201, 'x') + R"("})");
  CHECK(r.status == 400);
}
