// ControlStore's views against a real PostgreSQL (TICKD_TEST_DATABASE_URL): regions with their
// newest run and pending requests, pages of runs, the audit trail written by region_index's
// trigger, the live replicas, and plans that never scan job_run. Each test case works in a
// fresh schema.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "../../src/control/api_routes.hpp"
#include "../../src/db/control_read_sql.hpp"
#include "schema.hpp"
#include "tickd/db/control_store.hpp"

using namespace std::chrono_literals;
using tickd::ControlError;
using tickd::ControlStore;
using tickd::Micros;
using tickd::RunFilter;
using tickd::RunView;
using tickd::test::Schema;

namespace {

const auto t0 = Micros(std::chrono::seconds(1'790'000'000));

std::string at(Micros t) { return "'" + tickd::format_time(t) + "'::timestamptz"; }

// A finished run of the region at `scheduled_for`; returns its id.
std::int64_t run(Schema& s, std::int64_t region_id, Micros scheduled_for,
                 const std::string& status = "ok", const std::string& trigger = "schedule",
                 const std::string& replica = "replica-a") {
  const bool running = status == "running";
  return s.value(
      "INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at, trigger, "
      "requested_by, error) VALUES (" +
      std::to_string(region_id) + ", " + at(scheduled_for) + ", '" + replica + "', '" + status +
      "', " + (running ? "NULL" : "now()") + ", '" + trigger + "', " +
      (trigger == "schedule" ? "NULL" : "'alice'") + ", " +
      (status == "failed" ? "'boom'" : "NULL") + ") RETURNING id");
}

std::vector<std::int64_t> ids(const std::vector<RunView>& runs) {
  std::vector<std::int64_t> out;
  for (const auto& r : runs) out.push_back(r.id);
  return out;
}

// What the store refused, as "<kind>: <message>", or "accepted".
template <typename Call>
std::string refusal(Call&& call) {
  try {
    call();
  } catch (const ControlError& e) {
    const char* kind = e.kind() == ControlError::Kind::bad_input   ? "bad_input"
                       : e.kind() == ControlError::Kind::not_found ? "not_found"
                                                                   : "conflict";
    return std::string(kind) + ": " + e.what();
  }
  return "accepted";
}

// The parameter types of kControlRunsPage, for PREPARE.
const std::string kRunsPageTypes =
    "(bigint, text, timestamptz, timestamptz, bigint, bigint, int) AS ";

// The scans of each partition of job_run counted in this session so far, as
// {name: {sequential, index}}: PostgreSQL counts a scan as it starts, not one that a plan
// holds but never runs (pg_stat_xact_user_tables; in PostgreSQL 15 it also holds this
// session's earlier transactions until they are sent to the statistics).
using Scans = std::map<std::string, std::pair<std::int64_t, std::int64_t>>;
Scans partition_scans(pqxx::work& tx) {
  Scans out;
  for (const auto& row :
       tx.exec("SELECT relname, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables "
               "WHERE schemaname = current_schema() AND relname LIKE 'job\\_run\\_%'")) {
    out[row[0].as<std::string>()] = {row[1].as<std::int64_t>(), row[2].as<std::int64_t>()};
  }
  return out;
}

// The partitions read between two counts, one line each in the order of their names
// ("job_run_20260921 index"; "seq" when read in full at least once).
std::string partitions_read(const Scans& before, const Scans& after) {
  std::string out;
  for (const auto& [name, count] : after) {
    const auto was = before.count(name) ? before.at(name) : std::pair<std::int64_t, std::int64_t>{};
    if (count.first > was.first) {
      out += name + " seq\n";
    } else if (count.second > was.second) {
      out += name + " index\n";
    }
  }
  return out;
}

std::string plan_of(Schema& s, const std::string& prepare, const std::string& execute) {
  pqxx::connection c(s.url);
  pqxx::nontransaction tx(c);
  tx.exec("PREPARE q " + prepare);
  std::string text;
  for (const auto& line : tx.exec("EXPLAIN (ANALYZE, FORMAT TEXT) EXECUTE q " + execute)) {
    text += line[0].as<std::string>() + "\n";
  }
  return text;
}

}  // namespace

TEST_CASE(
    "regions: every region by code, whatever its state, with its newest run and pending "
    "requests") {
  Schema s;
  const auto active = s.region("b-active");
  const auto inactive = s.region("a-inactive");
  const auto paused = s.region("c-paused");
  s.sql("UPDATE region_index SET active = false WHERE id = " + std::to_string(inactive));
  s.sql(
      "UPDATE region_index SET paused_at = now(), paused_by = 'bob', paused_reason = 'disk', "
      "max_attempts = 3, timeout_ms = 500, overlap = 'allow', handlers = '{region,\"a,b\"}' "
      "WHERE id = " +
      std::to_string(paused));
  run(s, active, t0);
  const auto newest = run(s, active, t0 + 60s, "failed");
  // Written after the newest, for an older instant: the newest is by scheduled_for, not id.
  run(s, active, t0 - 3600s, "ok", "backfill");
  run(s, inactive, t0 - 120s, "ok");
  run(s, inactive, t0 - 60s, "failed");
  run(s, inactive, t0, "running");
  s.sql(
      "INSERT INTO run_request (region_id, trigger, scheduled_for, requested_by, state) VALUES (" +
      std::to_string(paused) + ", 'backfill', " + at(t0) + ", 'alice', 'pending'), (" +
      std::to_string(paused) + ", 'backfill', " + at(t0 + 60s) + ", 'alice', 'pending'), (" +
      std::to_string(paused) + ", 'manual', " + at(t0 + 1s) + ", 'alice', 'started'), (" +
      std::to_string(active) + ", 'manual', " + at(t0 + 2s) + ", 'alice', 'skipped')");

  ControlStore store(s.url);
  const auto regions = store.regions();
  REQUIRE(regions.size() == 3);
  CHECK(regions[0].code == "a-inactive");
  CHECK(regions[1].code == "b-active");
  CHECK(regions[2].code == "c-paused");

  CHECK_FALSE(regions[0].active);
  REQUIRE(regions[0].last_run);
  CHECK(regions[0].last_run->status == "running");
  CHECK_FALSE(regions[0].last_run->finished_at);
  // Behind the running one, the newest that ended: what a health page shows meanwhile.
  REQUIRE(regions[0].last_ended);
  CHECK(regions[0].last_ended->status == "failed");
  CHECK(regions[0].last_ended->scheduled_for == t0 - 60s);
  CHECK(regions[0].last_ended->error == "boom");
  CHECK(regions[0].last_ended->finished_at);

  REQUIRE(regions[1].last_run);
  CHECK(regions[1].last_run->id == newest);
  CHECK(regions[1].last_run->status == "failed");
  CHECK(regions[1].last_run->error == "boom");
  CHECK(regions[1].last_run->code == "b-active");
  CHECK(regions[1].last_run->scheduled_for == t0 + 60s);
  CHECK_FALSE(regions[1].last_ended);       // last_run has ended: it says it
  CHECK(regions[1].pending_requests == 0);  // skipped is not pending
  CHECK_FALSE(regions[1].paused_at);
  CHECK(regions[1].handlers == std::vector<std::string>{"region"});

  CHECK_FALSE(regions[2].last_run);
  CHECK(regions[2].pending_requests == 2);
  CHECK(regions[2].paused_at);
  CHECK(regions[2].paused_by == "bob");
  CHECK(regions[2].paused_reason == "disk");
  CHECK(regions[2].max_attempts == 3);
  CHECK(regions[2].timeout_ms == 500);
  CHECK_FALSE(regions[2].start_window_ms);
  CHECK(regions[2].overlap == "allow");
  CHECK(regions[2].handlers == std::vector<std::string>{"region", "a,b"});

  const auto one = store.region("c-paused");
  REQUIRE(one);
  CHECK(one->id == paused);
  CHECK(one->pending_requests == 2);
  CHECK_FALSE(store.region("nope"));
  CHECK(store.run(newest)->status == "failed");
  CHECK_FALSE(store.run(newest + 1000));
}

TEST_CASE(
    "runs: newest first by instant then id, paged by cursor or by before, with and without "
    "region and status, across day partitions") {
  Schema s;
  const auto a = s.region("a");
  const auto b = s.region("b");
  // (instant, id) of every run, written in an order unlike the pages': instants over three
  // days (three partitions), a and b sharing each instant (the id decides), and a backfill of
  // an older day written last (the newest id, an old instant).
  struct Written {
    Micros at;
    std::int64_t id;
    std::int64_t region;
    bool failed;
  };
  std::vector<Written> written;
  for (int i = 0; i < 10; ++i) {
    const auto at = t0 + std::chrono::hours(24 * (i % 3 - 1)) + std::chrono::seconds(i);
    const bool failed = i % 3 == 0;
    written.push_back({at, run(s, b, at), b, false});
    written.push_back({at, run(s, a, at, failed ? "failed" : "ok"), a, failed});
  }
  const auto backfill = t0 - std::chrono::hours(24) - 3600s;
  written.push_back({backfill, run(s, a, backfill, "ok", "backfill"), a, false});
  // And runs of these days, on both sides of where a page's first read ends (it reads from
  // the day before its start onwards, then the older days: sql/010), one claimed ahead.
  const auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  const Micros yesterday = std::chrono::floor<std::chrono::days>(now) - 24h;
  s.sql(
      "SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - 2, "
      "(now() AT TIME ZONE 'UTC')::date)");
  for (const auto at :
       {now + 30s, yesterday, yesterday - std::chrono::microseconds(1), yesterday - 12h}) {
    written.push_back({at, run(s, a, at), a, false});
  }
  std::sort(written.begin(), written.end(), [](const Written& x, const Written& y) {
    return x.at != y.at ? x.at > y.at : x.id > y.id;
  });
  const auto expected = [&](auto keep) {
    std::vector<std::int64_t> out;
    for (const auto& w : written) {
      if (keep(w)) out.push_back(w.id);
    }
    return out;
  };
  const auto all = expected([](const Written&) { return true; });
  const auto of_a = expected([&](const Written& w) { return w.region == a; });
  const auto failed_of_a = expected([&](const Written& w) { return w.failed; });
  ControlStore store(s.url);

  // Pages of 7 through everything: each page starts below the previous page's last run,
  // given as its cursor or as its id.
  const auto pages = [&](RunFilter f, bool by_cursor) {
    std::vector<std::int64_t> seen;
    for (int page = 0; page < 100; ++page) {
      const auto got = store.runs(f);
      for (const auto id : ids(got)) seen.push_back(id);
      if (got.size() < static_cast<std::size_t>(f.limit)) break;
      if (by_cursor) {
        f.cursor = tickd::RunCursor{got.back().scheduled_for, got.back().id};
      } else {
        f.before = got.back().id;
      }
    }
    return seen;
  };
  for (const bool by_cursor : {true, false}) {
    CAPTURE(by_cursor);
    RunFilter f;
    f.limit = 7;
    CHECK(pages(f, by_cursor) == all);
    f.code = "a";
    CHECK(pages(f, by_cursor) == of_a);
    f.status = "failed";
    f.limit = 2;
    CHECK(pages(f, by_cursor) == failed_of_a);
    RunFilter failed;
    failed.status = "failed";
    CHECK(pages(failed, by_cursor) == failed_of_a);  // only a has failed runs
  }

  RunFilter since;
  since.code = "b";
  since.since = t0 + 24h;
  const auto recent = store.runs(since);
  REQUIRE(recent.size() == 3);  // i = 2, 5, 8: the day after t0
  CHECK(recent[0].scheduled_for == t0 + 24h + 8s);
  CHECK(recent[0].code == "b");
  CHECK(recent[2].scheduled_for == t0 + 24h + 2s);

  // A cursor between two runs of one instant: the one with the smaller id is next.
  const auto tied = std::find_if(written.begin(), written.end(),
                                 [](const Written& w) { return w.at == t0 + 24h + 8s; });
  REQUIRE(tied + 1 < written.end());
  REQUIRE(tied[1].at == tied->at);
  RunFilter tie;
  tie.limit = 1;
  tie.cursor = tickd::RunCursor{tied->at, tied->id};
  CHECK(ids(store.runs(tie)) == std::vector<std::int64_t>{tied[1].id});

  RunFilter below;
  below.before = all.back();
  CHECK(store.runs(below).empty());
  below.cursor = tickd::RunCursor{written.back().at, written.back().id};
  CHECK(refusal([&] { store.runs(below); }) ==
        "bad_input: before and cursor both say where the page starts: give one");
  RunFilter gone;
  gone.before = all.front() + 1000;  // no run has it
  CHECK(store.runs(gone).empty());

  RunFilter bad;
  bad.status = "done";
  CHECK(refusal([&] { store.runs(bad); }) ==
        "bad_input: status: 'done' is not one of running, ok, failed, abandoned, cancelled");
  for (const int limit : {0, -1, 1001}) {
    RunFilter l;
    l.limit = limit;
    CHECK(refusal([&] { store.runs(l); }) ==
          "bad_input: limit: " + std::to_string(limit) + " is out of range 1-1000");
  }
  RunFilter unknown;
  unknown.code = "x'; DROP TABLE job_run; --";
  CHECK(refusal([&] { store.runs(unknown); }) ==
        "not_found: no region with code 'x'; DROP TABLE job_run; --'");
  RunFilter max;
  max.limit = 1000;
  CHECK(ids(store.runs(max)) == all);
}

TEST_CASE("audit: region_index's trigger records who inserted and what an update changed") {
  Schema s;
  // Another system's writes: named by its database user and application_name.
  {
    pqxx::connection c(s.url + "&application_name=ops-console");
    pqxx::work tx(c);
    tx.exec(
        "INSERT INTO region_index (code, cron_schedule, timezone) VALUES "
        "('eu-1', '0 * * * *', 'Europe/Paris')");
    tx.commit();
  }
  const auto id = s.value("SELECT id FROM region_index WHERE code = 'eu-1'");
  {
    pqxx::connection c(s.url + "&application_name=ops-console");
    pqxx::work tx(c);
    tx.exec("UPDATE region_index SET cron_schedule = '*/5 * * * *', max_attempts = 2 WHERE id = " +
            std::to_string(id));
    // Nothing changes: no row.
    tx.exec("UPDATE region_index SET name = name WHERE id = " + std::to_string(id));
    tx.commit();
  }
  // tickd's own writes name their actor and action.
  {
    pqxx::connection c(s.url);
    pqxx::work tx(c);
    tx.exec("SET LOCAL tickd.actor = 'alice'");
    tx.exec("SET LOCAL tickd.op = 'pause'");
    tx.exec("UPDATE region_index SET paused_at = '2026-03-08T10:00:00Z' WHERE id = " +
            std::to_string(id));
    tx.commit();
  }

  ControlStore store(s.url);
  const auto audit = store.audit(id, 20);
  REQUIRE(audit.size() == 3);
  CHECK(audit[0].op == "pause");
  CHECK(audit[0].actor == "alice");
  CHECK(audit[0].old_values == R"({"paused_at": null})");
  CHECK(audit[0].new_values == R"({"paused_at": "2026-03-08T10:00:00+00:00"})");

  CHECK(audit[1].op == "UPDATE");
  CHECK(audit[1].actor == "postgres (ops-console)");
  CHECK(audit[1].code == "eu-1");
  CHECK(audit[1].region_id == id);
  CHECK(audit[1].old_values == R"({"max_attempts": 1, "cron_schedule": "0 * * * *"})");
  CHECK(audit[1].new_values == R"({"max_attempts": 2, "cron_schedule": "*/5 * * * *"})");

  CHECK(audit[2].op == "INSERT");
  CHECK(audit[2].actor == "postgres (ops-console)");
  CHECK_FALSE(audit[2].old_values);
  REQUIRE(audit[2].new_values);
  CHECK(audit[2].new_values->find(R"("code": "eu-1")") != std::string::npos);
  CHECK(audit[2].new_values->find("updated_at") == std::string::npos);
  CHECK(audit[1].at <= audit[0].at);

  CHECK(store.audit(id, 1).size() == 1);
  CHECK(store.audit(id, 1)[0].op == "pause");
  CHECK(store.audit(id + 1, 20).empty());
  CHECK(refusal([&] { store.audit(id, 0); }) == "bad_input: audit limit: 0 is out of range 1-1000");
}

TEST_CASE("replicas: those with a fresh heartbeat, with their running rows") {
  Schema s;
  const auto a = s.region("a");
  const auto b = s.region("b");
  const auto c = s.region("c");
  s.sql(
      "INSERT INTO tickd_replica (replica_id, heartbeat_at, version) VALUES "
      "('live', now(), '1.4.0'), ('quiet', now() - interval '1 minute', '1.3.0'), "
      "('old', now(), NULL)");
  run(s, a, t0, "running", "schedule", "live");
  run(s, b, t0, "running", "schedule", "live");
  run(s, c, t0, "ok", "schedule", "live");
  run(s, c, t0 + 1s, "running", "schedule", "quiet");

  ControlStore store(s.url);
  const auto replicas = store.replicas(10s);
  REQUIRE(replicas.size() == 2);
  CHECK(replicas[0].replica_id == "live");
  CHECK(replicas[0].version == "1.4.0");
  CHECK(replicas[0].running == 2);
  CHECK(replicas[1].replica_id == "old");
  CHECK_FALSE(replicas[1].version);
  CHECK(replicas[1].running == 0);
  CHECK(store.replicas(2min).size() == 3);
}

TEST_CASE("the views read job_run by index only, never the whole history") {
  Schema s;
  s.sql(
      "INSERT INTO region_index (code, cron_schedule) "
      "SELECT 'h' || g, '* * * * * *' FROM generate_series(1, 500) g");
  s.sql(
      "INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
      "SELECT r.id, to_timestamp(1790000000 + g), 'replica-a', "
      "       CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'ok' END, now() "
      "FROM region_index r, generate_series(1, 100) g");
  s.sql("ANALYZE region_index");
  s.sql("ANALYZE job_run");
  const auto region_id = s.value("SELECT id FROM region_index WHERE code = 'h7'");
  const auto before = s.value("SELECT max(id) - 1000 FROM job_run");

  const std::vector<std::pair<std::string, std::string>> statements = {
      {std::string("AS ") + tickd::sql::kControlRegions, ""},
      {std::string("(text) AS ") + tickd::sql::kControlRegion, "('h7')"},
      {kRunsPageTypes + tickd::sql::kControlRunsPage, "(NULL, NULL, NULL, NULL, NULL, NULL, 50)"},
      {kRunsPageTypes + tickd::sql::kControlRunsPage,
       "(NULL, 'failed', NULL, NULL, NULL, " + std::to_string(before) + ", 50)"},
      {kRunsPageTypes + tickd::sql::kControlRunsPage,
       "(" + std::to_string(region_id) + ", NULL, NULL, NULL, NULL, NULL, 10)"},
      {kRunsPageTypes + tickd::sql::kControlRunsPage, "(" + std::to_string(region_id) +
                                                          ", 'ok', '2026-09-21T14:14:00Z', " +
                                                          "'2026-09-21T14:14:30Z', 1, NULL, 10)"},
      {std::string("(bigint) AS ") + tickd::sql::kControlReplicas, "(10000)"},
      {std::string("AS ") + tickd::sql::kControlRegionKeys, ""},
      {std::string("(bigint[]) AS ") + tickd::sql::kControlRegionsByIds,
       "('{" + std::to_string(region_id) + ",1,2}')"},
  };
  for (const auto& [prepare, execute] : statements) {
    const auto plan = plan_of(s, prepare, execute);
    CAPTURE(prepare);
    CAPTURE(plan);
    CHECK(s.history_scans(plan) == "");
  }
}

TEST_CASE(
    "a page of runs reads the newest day partitions only, down to its last row, whatever the "
    "history behind it") {
  Schema s;
  s.sql(
      "INSERT INTO region_index (code, cron_schedule) "
      "SELECT 'h' || g, '* * * * * *' FROM generate_series(1, 100) g");
  const auto h7 = s.value("SELECT id FROM region_index WHERE code = 'h7'");
  pqxx::connection c(s.url);  // one session: the page's plan is made once, then reused
  struct Read {
    std::size_t rows = 0;
    std::string partitions;
  };
  const auto page = [&](std::optional<std::int64_t> region, std::optional<std::string> cursor_at,
                        int limit) {
    pqxx::work tx(c);
    Read out;
    const std::optional<std::int64_t> cursor_id =
        cursor_at ? std::optional<std::int64_t>(0) : std::nullopt;
    const auto before = partition_scans(tx);
    out.rows = tx.exec_params(tickd::sql::kControlRunsPage, region, std::optional<std::string>(),
                              std::optional<std::string>(), cursor_at, cursor_id,
                              std::optional<std::int64_t>(), limit)
                   .size();
    out.partitions = partitions_read(before, partition_scans(tx));
    tx.commit();
    return out;
  };
  // The session's plans are made while job_run is known to be empty (analyzed), as when a
  // replica starts on a new database: reading a partition in full and sorting it looks
  // cheapest then, and the plan is kept after the rows come (until the next ANALYZE).
  s.sql("ANALYZE job_run");
  CHECK(page(std::nullopt, std::nullopt, 50).rows == 0);
  CHECK(page(h7, std::nullopt, 10).rows == 0);
  CHECK(page(std::nullopt, "2026-09-20T10:10:00Z", 50).rows == 0);
  CHECK(page(h7, "2026-09-20T10:10:00Z", 50).rows == 0);
  // 20 instants a day on four days (two of them months older), 100 regions each.
  for (const auto* day : {"2026-03-08", "2026-05-28", "2026-09-20", "2026-09-21"}) {
    s.sql(std::string("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, "
                      "finished_at) SELECT r.id, '") +
          day +
          "T10:00:00Z'::timestamptz + g * interval '1 minute', 'replica-a', 'ok', now() "
          "FROM region_index r, generate_series(0, 19) g");
  }
  // The days made ahead around today (sql/008) are empty and newer than this history: the
  // newest page looks into them first.
  const auto without_days_ahead = [](const std::string& parts) {
    return parts.substr(0, parts.find("job_run_20260922"));
  };

  for (int call = 0; call < 2; ++call) {
    CAPTURE(call);
    const auto newest = page(std::nullopt, std::nullopt, 50);
    CHECK(newest.rows == 50);
    CHECK(without_days_ahead(newest.partitions) == "job_run_20260921 index\n");
    const auto region = page(h7, std::nullopt, 10);
    CHECK(region.rows == 10);
    CHECK(without_days_ahead(region.partitions) == "job_run_20260921 index\n");
  }
  // Below a cursor: the days after it are not looked at, nor those past the page's end.
  const auto deep = page(std::nullopt, "2026-09-20T10:10:00Z", 50);
  CHECK(deep.rows == 50);
  CHECK(deep.partitions == "job_run_20260920 index\n");
  const auto region_deep = page(h7, "2026-09-20T10:10:00Z", 5);
  CHECK(region_deep.rows == 5);
  CHECK(region_deep.partitions == "job_run_20260920 index\n");
  // A page that runs out of one day goes on into the next older one, and stops there.
  const auto across = page(std::nullopt, "2026-09-21T10:00:00Z", 150);
  CHECK(across.rows == 150);
  CHECK(across.partitions == "job_run_20260920 index\njob_run_20260921 index\n");
}

TEST_CASE("the /v1 reads answer the CLI's documents; an unknown region or parameter is refused") {
  using tickd::control::Query;
  Schema s;
  const auto a = s.region("eu-1");
  s.region("us-1");
  const auto first = run(s, a, t0);
  const auto second = run(s, a, t0 + 1s, "failed");
  ControlStore store(s.url);

  const auto regions = tickd::control::get_regions(store, {});
  CHECK(regions.status == 200);
  const auto list = nlohmann::json::parse(regions.body);
  REQUIRE(list["regions"].size() == 2);
  CHECK(list["regions"][0]["last_run"]["id"] == second);
  const auto found =
      nlohmann::json::parse(tickd::control::get_regions(store, {{"code", "us"}}).body);
  REQUIRE(found["regions"].size() == 1);
  CHECK(found["regions"][0]["code"] == "us-1");

  const auto one = nlohmann::json::parse(tickd::control::get_region(store, "eu-1").body);
  CHECK(one["code"] == "eu-1");
  CHECK(one["next_fires"].size() == 5);
  CHECK(one["runs"].size() == 2);
  CHECK(one["audit"][0]["op"] == "INSERT");
  CHECK(refusal([&] { tickd::control::get_region(store, "nope"); }) ==
        "not_found: no region with code 'nope'");

  const auto page =
      nlohmann::json::parse(tickd::control::get_region_runs(store, "eu-1", {{"limit", "1"}}).body);
  REQUIRE(page["runs"].size() == 1);
  CHECK(page["runs"][0]["id"] == second);
  CHECK(page["next_before"] == second);
  CHECK(page["next_cursor"] ==
        std::to_string((t0 + 1s).time_since_epoch().count()) + "_" + std::to_string(second));
  const auto next = nlohmann::json::parse(
      tickd::control::get_runs(store, {{"limit", "1"}, {"before", std::to_string(second)}}).body);
  CHECK(next["runs"][0]["id"] == first);
  const auto by_cursor = nlohmann::json::parse(
      tickd::control::get_region_runs(
          store, "eu-1", {{"limit", "1"}, {"cursor", page["next_cursor"].get<std::string>()}})
          .body);
  REQUIRE(by_cursor["runs"].size() == 1);
  CHECK(by_cursor["runs"][0]["id"] == first);
  CHECK(by_cursor["next_cursor"] ==
        std::to_string(t0.time_since_epoch().count()) + "_" + std::to_string(first));
  const auto last = nlohmann::json::parse(
      tickd::control::get_runs(store, {{"cursor", by_cursor["next_cursor"].get<std::string>()}})
          .body);
  CHECK(last["runs"].empty());
  CHECK(last["next_cursor"].is_null());
  CHECK(last["next_before"].is_null());
  CHECK(refusal([&] {
          tickd::control::get_runs(store, {{"cursor", "12_x"}});
        }) == "bad_input: cursor: '12_x' is not a cursor (pass a page's next_cursor)");
  CHECK(refusal([&] {
          tickd::control::get_runs(store, {{"cursor", by_cursor["next_cursor"].get<std::string>()},
                                           {"before", std::to_string(second)}});
        }) == "bad_input: before and cursor both say where the page starts: give one");
  CHECK(nlohmann::json::parse(tickd::control::get_runs(store, {{"status", "failed"}}).body)["runs"]
            .size() == 1);
  CHECK(refusal([&] { tickd::control::get_region_runs(store, "nope", {}); }) ==
        "not_found: no region with code 'nope'");
  CHECK(refusal([&] {
          tickd::control::get_runs(store, {{"limit", "many"}});
        }) == "bad_input: limit: 'many' is not a whole number");
  CHECK(refusal([&] {
          tickd::control::get_runs(store, {{"stauts", "ok"}});
        }) == "bad_input: unknown query parameter 'stauts'");

  s.sql("INSERT INTO tickd_replica (replica_id, version) VALUES ('r1', '1.0')");
  const auto replicas =
      nlohmann::json::parse(tickd::control::get_replicas(store, 10s).body)["replicas"];
  REQUIRE(replicas.size() == 1);
  CHECK(replicas[0]["replica_id"] == "r1");
  CHECK(replicas[0]["running"] == 0);
}

TEST_CASE("pick_regions: every region's keys, then the full views of the picked ids in order") {
  Schema s;
  const auto quiet = s.region("quiet");
  const auto busy = s.region("busy");
  const auto held = s.region("held");
  // A microsecond that a float8 of seconds must give back exactly.
  const auto paused_at = t0 + 987'654'321us;
  s.sql("UPDATE region_index SET paused_at = " + at(paused_at) +
        ", paused_by = 'ops', max_attempts = 3, overlap = 'allow', timeout_ms = 500, "
        "name = 'Held' WHERE id = " +
        std::to_string(held));
  run(s, busy, t0 - 120s, "abandoned");
  run(s, busy, t0 - 60s, "failed");
  run(s, busy, t0, "running");
  run(s, held, t0 - 60s, "ok");

  ControlStore store(s.url);
  std::vector<tickd::RegionView> keys;
  const auto picked = store.pick_regions([&](const std::vector<tickd::RegionView>& k) {
    keys = k;
    return std::vector<std::int64_t>{held, 999999, busy};
  });
  REQUIRE(keys.size() == 3);
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  CHECK(keys[0].id == quiet);
  CHECK(keys[0].code == "quiet");
  CHECK(keys[0].cron_schedule == "* * * * * *");
  CHECK(keys[0].timezone == "UTC");
  CHECK(keys[0].active);
  CHECK_FALSE(keys[0].last_run);
  CHECK_FALSE(keys[0].paused_at);
  // The newest run by instant, and behind a running one the newest that ended.
  REQUIRE(keys[1].last_run);
  CHECK(keys[1].last_run->status == "running");
  CHECK(keys[1].last_run->scheduled_for == t0);
  REQUIRE(keys[1].last_ended);
  CHECK(keys[1].last_ended->status == "failed");
  // The policies, for telling an invalid row; only the keys: no name, no run details.
  CHECK(keys[2].paused_at == paused_at);
  CHECK(keys[2].max_attempts == 3);
  CHECK(keys[2].overlap == "allow");
  CHECK(keys[2].timeout_ms == 500);
  CHECK(keys[2].name.empty());
  REQUIRE(keys[2].last_run);
  CHECK(keys[2].last_run->status == "ok");
  CHECK_FALSE(keys[2].last_ended);

  // The picked ones in full, in the picker's order; an id that is no region left out.
  REQUIRE(picked.size() == 2);
  CHECK(picked[0].code == "held");
  CHECK(picked[0].name == "Held");
  CHECK(picked[0].paused_by == "ops");
  CHECK(picked[1].code == "busy");
  REQUIRE(picked[1].last_ended);
  CHECK(picked[1].last_ended->error == "boom");
  CHECK(store.pick_regions([](const auto&) { return std::vector<std::int64_t>{}; }).empty());
}

TEST_CASE("GET /v1/regions?view=list with a page: the replica's order, search and counts") {
  using tickd::control::Query;
  Schema s;
  const auto now =
      Micros(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
  for (const auto* code : {"eu-1", "eu-2", "EU-3", "us-1", "us-2"}) s.region(code);
  const auto typo = s.region("us-typo");
  s.sql("UPDATE region_index SET cron_schedule = '0 25 * * *' WHERE id = " + std::to_string(typo));
  run(s, s.value("SELECT id FROM region_index WHERE code = 'us-2'"), now - 1s, "failed");
  run(s, s.value("SELECT id FROM region_index WHERE code = 'eu-2'"), now - 1s, "ok");
  // Every second, last run an hour ago: overdue.
  run(s, s.value("SELECT id FROM region_index WHERE code = 'eu-1'"), now - 3600s, "ok");
  // The others once a year: no fixed period, never overdue however slow the test.
  s.sql(
      "UPDATE region_index SET cron_schedule = '0 0 1 1 *' WHERE code NOT IN ('eu-1', 'us-typo')");
  ControlStore store(s.url);

  const auto page = [&](Query q) {
    q.emplace("view", "list");
    const auto answer = tickd::control::get_regions(store, q);
    CHECK(answer.status == 200);
    return nlohmann::json::parse(answer.body);
  };
  const auto codes = [](const nlohmann::json& doc) {
    std::vector<std::string> out;
    for (const auto& r : doc["regions"]) out.push_back(r["code"]);
    return out;
  };
  const auto all = page({{"limit", "10"}});
  CHECK(codes(all) == std::vector<std::string>{"us-typo", "us-2", "eu-1", "EU-3", "eu-2", "us-1"});
  CHECK(all["regions"][0]["trouble"] == "invalid");
  CHECK(all["regions"][1]["trouble"] == "failing");
  CHECK(all["regions"][2]["trouble"] == "overdue");
  CHECK(all["regions"][3]["trouble"].is_null());
  CHECK(all["total"] == 6);
  CHECK(all["matching"] == 6);
  CHECK(all["troubles"] == nlohmann::json{{"invalid", 1}, {"failing", 1}, {"overdue", 1}});

  const auto second = page({{"limit", "2"}, {"offset", "2"}});
  CHECK(codes(second) == std::vector<std::string>{"eu-1", "EU-3"});
  CHECK(second["offset"] == 2);
  CHECK(second["limit"] == 2);
  CHECK(page({{"offset", "6"}})["regions"].empty());

  const auto eu = page({{"q", "eu-"}});
  CHECK(codes(eu) == std::vector<std::string>{"eu-1", "EU-3", "eu-2"});
  CHECK(eu["matching"] == 3);
  CHECK(eu["total"] == 6);
  CHECK(eu["troubles"]["invalid"] == 1);  // of the whole list, not of the search
  // `code` keeps its meaning (a part of the code, as typed) alongside.
  CHECK(codes(page({{"q", "eu"}, {"code", "EU"}})) == std::vector<std::string>{"EU-3"});

  CHECK(refusal([&] {
          tickd::control::get_regions(store, {{"view", "list"}, {"limit", "0"}});
        }) == "bad_input: limit: 0 is out of range 1-1000");
  CHECK(refusal([&] {
          tickd::control::get_regions(store, {{"offset", "1"}});
        }) == "bad_input: offset: pages are of view=list only");
  CHECK(refusal([&] {
          tickd::control::get_regions(store, {{"view", "list"}, {"page", "1"}});
        }) == "bad_input: unknown query parameter 'page'");
  // Without a page's parameters: the whole list by code, as before.
  const auto whole =
      nlohmann::json::parse(tickd::control::get_regions(store, {{"view", "list"}}).body);
  CHECK(whole["regions"].size() == 6);
  CHECK_FALSE(whole.contains("total"));
  CHECK_FALSE(whole["regions"][0].contains("trouble"));
}

int main(int argc, char** argv) { return tickd::test::run_db_tests(argc, argv); }
