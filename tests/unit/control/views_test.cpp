// The control surface's views without a database: a region's state and next instants in
// its zone, and the JSON documents of the CLI's --json and the /v1 API, parsed back.

#include "../../../src/control/views.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "../../../src/control/api_routes.hpp"
#include "tickd/cron/timestamp.hpp"

using tickd::ControlError;
using tickd::Micros;
using tickd::RegionView;
using tickd::RunView;
using tickd::control::region_state;

namespace {

Micros utc(const char* text) {
  return Micros(std::get<std::chrono::sys_seconds>(tickd::cron::parse_rfc3339(text)));
}

RegionView region(std::string cron, std::string zone = "UTC") {
  RegionView r;
  r.id = 7;
  r.code = "eu-1";
  r.name = "Europe 1";
  r.cron_schedule = std::move(cron);
  r.timezone = std::move(zone);
  r.handlers = {"region", "sync"};
  r.updated_at = utc("2026-03-01T00:00:00Z");
  return r;
}

// Everything a person or another system may have typed into a text column.
const std::string kHostile =
    "a \"quoted\" \\ back\nslash\r\t</script><script>alert(1)</script>\x01";

RunView hostile_run() {
  RunView run;
  run.id = 42;
  run.region_id = 7;
  run.code = kHostile;
  run.scheduled_for = utc("2026-03-08T10:00:00Z");
  run.status = "failed";
  run.trigger = "manual";
  run.attempt = 2;
  run.requested_by = kHostile;
  run.replica_id = kHostile;
  run.started_at = utc("2026-03-08T10:00:01Z") + std::chrono::milliseconds(250);
  run.finished_at = run.started_at + std::chrono::milliseconds(310);
  run.error = kHostile;
  run.details = R"({"attempts": [{"error": "x\"y\n<script>"}]})";
  run.cancel_requested_by = kHostile;
  run.cancel_requested_at = utc("2026-03-08T10:00:01Z");
  return run;
}

nlohmann::json parsed(const std::string& text) {
  CAPTURE(text);
  REQUIRE(nlohmann::json::accept(text));
  return nlohmann::json::parse(text);
}

}  // namespace

TEST_CASE(
    "next fires are the zone's exact instants: a wall time in the spring-forward gap fires "
    "at the first instant after it") {
  const auto s =
      region_state(region("30 2 * * *", "America/New_York"), utc("2026-03-07T12:00:00Z"), 3);
  CHECK(s.state == "active");
  CHECK_FALSE(s.error);
  REQUIRE(s.next.size() == 3);
  CHECK(s.next[0] == utc("2026-03-08T07:00:00Z"));  // 02:30 EST does not exist: 03:00 EDT
  CHECK(s.next[1] == utc("2026-03-09T06:30:00Z"));  // 02:30 EDT
  CHECK(s.next[2] == utc("2026-03-10T06:30:00Z"));
}

TEST_CASE("the next fire is strictly after now, even now within the instant's second") {
  const auto s = region_state(region("0 * * * * *"),
                              utc("2026-03-08T10:00:00Z") + std::chrono::milliseconds(500), 1);
  REQUIRE(s.next.size() == 1);
  CHECK(s.next[0] == utc("2026-03-08T10:01:00Z"));
}

TEST_CASE("a region a replica would refuse is invalid, saying why as the replica would") {
  const auto now = utc("2026-03-07T12:00:00Z");
  SUBCASE("the expression") {
    const auto s = region_state(region("61 * * * *"), now, 5);
    CHECK(s.state == "invalid");
    CHECK(s.error == "cron_schedule '61 * * * *': minute: 61 is out of range 0-59 (column 1)");
    CHECK(s.next.empty());
  }
  SUBCASE("the zone") {
    const auto s = region_state(region("* * * * *", "Mars/Base"), now, 5);
    CHECK(s.state == "invalid");
    CHECK(s.error == "timezone: time zone: unknown zone 'Mars/Base'");
    CHECK(s.next.empty());
  }
  SUBCASE("a policy out of range (a row from before its constraint)") {
    auto r = region("* * * * *");
    r.max_attempts = 0;
    const auto s = region_state(r, now, 5);
    CHECK(s.state == "invalid");
    CHECK(s.error == "max_attempts: 0 is out of range 1-100");
  }
  SUBCASE("an overlap tickd does not know") {
    auto r = region("* * * * *");
    r.overlap = "queue";
    CHECK(region_state(r, now, 5).error == "overlap: not one of skip, buffer_one, allow");
  }
}

TEST_CASE("paused and inactive regions have no next fire; inactive wins, its error still told") {
  const auto now = utc("2026-03-07T12:00:00Z");
  auto paused = region("* * * * *");
  paused.paused_at = now;
  const auto p = region_state(paused, now, 5);
  CHECK(p.state == "paused");
  CHECK(p.next.empty());

  auto inactive = region("nonsense");
  inactive.active = false;
  inactive.paused_at = now;
  const auto i = region_state(inactive, now, 5);
  CHECK(i.state == "inactive");
  CHECK(i.error.has_value());
  CHECK(i.next.empty());
}

TEST_CASE("a run with hostile strings is valid JSON that gives the strings back as they were") {
  tickd::json::Writer w;
  tickd::control::write_run(w, hostile_run());
  const auto j = parsed(w.str());
  CHECK(j["code"] == kHostile);
  CHECK(j["error"] == kHostile);
  CHECK(j["requested_by"] == kHostile);
  CHECK(j["replica_id"] == kHostile);
  CHECK(j["cancel_requested_by"] == kHostile);
  CHECK(j["details"]["attempts"][0]["error"] == "x\"y\n<script>");
  CHECK(j["scheduled_for"] == "2026-03-08T10:00:00Z");
  CHECK(j["started_at"] == "2026-03-08T10:00:01.25Z");
  CHECK(j["duration_seconds"].get<double>() == doctest::Approx(0.31));
  CHECK(j["lateness_seconds"].get<double>() == doctest::Approx(1.25));
  CHECK(j["attempt"] == 2);
  // Nothing raw: the JSON text has no newline and no control byte.
  CHECK(w.str().find('\n') == std::string::npos);
  CHECK(w.str().find('\x01') == std::string::npos);
}

TEST_CASE("a running run has null finished_at and duration") {
  auto run = hostile_run();
  run.finished_at.reset();
  run.error.reset();
  run.requested_by.reset();
  tickd::json::Writer w;
  tickd::control::write_run(w, run);
  const auto j = parsed(w.str());
  CHECK(j["finished_at"].is_null());
  CHECK(j["duration_seconds"].is_null());
  CHECK(j["error"].is_null());
  CHECK(j["requested_by"].is_null());
}

TEST_CASE("the region document: row, policies, pause, state, next fires, runs and audit") {
  auto r = region("30 2 * * *", "America/New_York");
  r.name = kHostile;
  r.tick_sql = "SELECT 'x\"' || $1";
  r.timeout_ms = 500;
  r.paused_at = utc("2026-03-06T00:00:00Z");
  r.paused_by = kHostile;
  r.last_run = hostile_run();
  r.pending_requests = 3;
  tickd::AuditView a;
  a.id = 9;
  a.region_id = 7;
  a.code = "eu-1";
  a.op = "UPDATE";
  a.at = utc("2026-03-06T00:00:00Z");
  a.actor = kHostile;
  a.old_values = R"({"paused_at": null})";
  a.new_values = R"({"paused_at": "2026-03-06T00:00:00+00:00"})";
  const auto now = utc("2026-03-07T12:00:00Z");

  SUBCASE("paused: no next fires") {
    const auto j = parsed(tickd::control::region_document(
        r, region_state(r, now, tickd::control::kShowNextFires), {hostile_run()}, {a}));
    CHECK(j["state"] == "paused");
    CHECK(j["name"] == kHostile);
    CHECK(j["paused"]["by"] == kHostile);
    CHECK(j["paused"]["reason"].is_null());
    CHECK(j["next_fire"].is_null());
    CHECK(j["next_fires"].empty());
    CHECK(j["policies"]["timeout_ms"] == 500);
    CHECK(j["policies"]["start_window_ms"].is_null());
    CHECK(j["policies"]["overlap"] == "skip");
    CHECK(j["last_run"]["id"] == 42);
    CHECK(j["pending_requests"] == 3);
    CHECK(j["handlers"] == nlohmann::json::array({"region", "sync"}));
    CHECK(j["runs"].size() == 1);
    CHECK(j["audit"][0]["actor"] == kHostile);
    CHECK(j["audit"][0]["old"]["paused_at"].is_null());
    CHECK(j["audit"][0]["new"]["paused_at"] == "2026-03-06T00:00:00+00:00");
  }
  SUBCASE("active: its next five instants") {
    r.paused_at.reset();
    const auto j = parsed(tickd::control::region_document(
        r, region_state(r, now, tickd::control::kShowNextFires), {}, {}));
    CHECK(j["state"] == "active");
    CHECK(j["paused"].is_null());
    CHECK(j["next_fire"] == "2026-03-08T07:00:00Z");
    REQUIRE(j["next_fires"].size() == 5);
    CHECK(j["next_fires"][4] == "2026-03-12T06:30:00Z");
    CHECK(j["runs"].empty());
  }
}

TEST_CASE("the list document: one region object each, with one next fire") {
  auto bad = region("nonsense");
  bad.code = "bad";
  const auto j = parsed(
      tickd::control::regions_document({region("0 * * * *"), bad}, utc("2026-03-07T12:00:00Z")));
  REQUIRE(j["regions"].size() == 2);
  CHECK(j["regions"][0]["next_fire"] == "2026-03-07T13:00:00Z");
  CHECK_FALSE(j["regions"][0].contains("next_fires"));
  CHECK(j["regions"][0]["last_run"].is_null());
  CHECK(j["regions"][1]["state"] == "invalid");
  CHECK(j["regions"][1]["error"].get<std::string>().starts_with("cron_schedule 'nonsense': "));
}

TEST_CASE("a full page of runs names the next page; a short one does not") {
  auto a = hostile_run();
  auto b = hostile_run();
  b.id = 40;
  b.scheduled_for = utc("2026-03-08T10:00:00Z") + std::chrono::microseconds(5);
  const auto full = parsed(tickd::control::runs_document({a, b}, 2));
  CHECK(full["next_before"] == 40);
  // 2026-03-08T10:00:00.000005Z in Unix microseconds, then the id.
  CHECK(full["next_cursor"] == "1772964000000005_40");
  const auto short_page = parsed(tickd::control::runs_document({a, b}, 3));
  CHECK(short_page["next_before"].is_null());
  CHECK(short_page["next_cursor"].is_null());
  CHECK(parsed(tickd::control::runs_document({}, 50))["runs"].empty());
}

TEST_CASE("runs options as text: numbers and times, or bad input naming the option") {
  using tickd::control::run_filter;
  using tickd::control::RunOptions;
  RunOptions all;
  all.region = "eu-1";
  all.status = "ok";
  all.since = "2026-03-08";
  all.limit = "20";
  all.before = "1000";
  const auto f = run_filter(all);
  CHECK(f.code == "eu-1");
  CHECK(f.status == "ok");
  CHECK(f.since == utc("2026-03-08T00:00:00Z"));
  CHECK(f.limit == 20);
  CHECK(f.before == 1000);
  CHECK_FALSE(f.cursor);
  CHECK(run_filter(RunOptions()).limit == 50);
  RunOptions cursor;
  cursor.cursor = "1772964000000005_40";  // a page's next_cursor
  const auto c = run_filter(cursor);
  REQUIRE(c.cursor);
  CHECK(c.cursor->scheduled_for == utc("2026-03-08T10:00:00Z") + std::chrono::microseconds(5));
  CHECK(c.cursor->id == 40);
  CHECK_FALSE(c.before);
  cursor.cursor = "-1000000_7";  // before 1970: still an instant PostgreSQL can hold
  CHECK(run_filter(cursor).cursor->scheduled_for == utc("1969-12-31T23:59:59Z"));

  const auto with = [](std::optional<std::string> RunOptions::*option, std::string text) {
    RunOptions o;
    o.*option = std::move(text);
    return o;
  };
  const auto refusal = [](const RunOptions& o) -> std::string {
    try {
      run_filter(o);
    } catch (const ControlError& e) {
      CHECK(e.kind() == ControlError::Kind::bad_input);
      return e.what();
    }
    return "accepted";
  };
  CHECK(refusal(with(&RunOptions::limit, "ten")) == "limit: 'ten' is not a whole number");
  CHECK(refusal(with(&RunOptions::limit, "10x")) == "limit: '10x' is not a whole number");
  CHECK(refusal(with(&RunOptions::limit, "")) == "limit: '' is not a whole number");
  CHECK(refusal(with(&RunOptions::before, "-")) == "before: '-' is not a whole number");
  for (const auto* bad :
       {"", "_", "12", "12_", "_40", "12_40_1", "12x_40", "12_40x", "1e3_40",
        "99999999999999999999_1", "253402300800000000_1", "-62135596800000001_1"}) {
    CAPTURE(bad);
    CHECK(refusal(with(&RunOptions::cursor, bad)) ==
          "cursor: '" + std::string(bad) + "' is not a cursor (pass a page's next_cursor)");
  }
  CHECK(refusal(with(&RunOptions::since, "yesterday"))
            .starts_with("since: 'yesterday' is not a time"));
  // Out of range is the store's to refuse (1-1000): it gets a value out of range too.
  CHECK(run_filter(with(&RunOptions::limit, "99999999999")).limit > 1000);
  CHECK(run_filter(with(&RunOptions::limit, "-5")).limit < 1);
}

TEST_CASE("an API error is one JSON object, its message escaped") {
  const auto r = tickd::control::json_error(404, "no region with code '\"\n'");
  CHECK(r.status == 404);
  CHECK(parsed(r.body)["error"] == "no region with code '\"\n'");
}

TEST_CASE("while a region's newest run is running, its last ended run is listed too") {
  auto busy = region("*/2 * * * * *");
  busy.last_run = hostile_run();
  busy.last_run->status = "running";
  busy.last_run->finished_at.reset();
  busy.last_ended = tickd::EndedRun{"failed", utc("2026-03-08T09:59:58Z"),
                                    utc("2026-03-08T09:59:58Z"), std::string(600, 'e')};
  auto idle = region("*/2 * * * * *");
  idle.code = "eu-2";
  idle.last_run = hostile_run();
  const auto now = utc("2026-03-08T10:00:01Z");
  for (const auto& doc : {tickd::control::regions_list_document({busy, idle}, now),
                          tickd::control::regions_document({busy, idle}, now)}) {
    const auto j = parsed(doc);
    REQUIRE(j["regions"].size() == 2);
    const auto& ended = j["regions"][0]["last_ended"];
    CHECK(ended["status"] == "failed");
    CHECK(ended["scheduled_for"] == "2026-03-08T09:59:58Z");
    CHECK(ended["error"].get<std::string>().starts_with(std::string(512, 'e')));
    CHECK_FALSE(j["regions"][1].contains("last_ended"));
  }
  // The list cuts long texts; the full document does not.
  CHECK(parsed(
            tickd::control::regions_list_document({busy}, now))["regions"][0]["last_ended"]["error"]
            .get<std::string>()
            .ends_with("(600 bytes in all)"));
  CHECK(parsed(tickd::control::regions_document(
            {busy}, now))["regions"][0]["last_ended"]["error"] == std::string(600, 'e'));
}
