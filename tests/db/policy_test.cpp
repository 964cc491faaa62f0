// The per-region policies against a real PostgreSQL (TICKD_TEST_DATABASE_URL): migration 004
// on a database that already holds rows and history, its constraints, the one-running-tick
// rule with overlap = 'allow', and what a claim records. Each test case works in a fresh
// schema.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <pqxx/pqxx>
#include <random>

#include "schema.hpp"
#include "tickd/db/database.hpp"
#include "tickd/db/migrations.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/schedule/schedule.hpp"

using namespace std::chrono_literals;
using tickd::ClaimOutcome;
using tickd::ColumnMs;
using tickd::Database;
using tickd::Overlap;
using tickd::RegionRow;
using tickd::RunStatus;
using tickd::test::claim;
using tickd::test::finish;
using tickd::test::row_of;
using tickd::test::Schema;

namespace {

const auto t0 = std::chrono::sys_seconds(std::chrono::seconds(1'790'000'000));

// A schema at the version before the policies: migrations 001-003 applied and recorded as
// `tickd migrate` of that release left them, so that apply_migrations() then applies 004
// (and whatever follows) to the rows it holds.
struct SchemaBeforePolicies {
  std::string name, url;

  SchemaBeforePolicies() {
    std::random_device rd;
    name = "db_test_pre4_" + std::to_string(rd() % 1'000'000'000);
    const auto base = tickd::test::base_url();
    url = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
          name;
    pqxx::connection c(base);
    pqxx::work tx(c);
    tx.exec("CREATE SCHEMA " + name);
    tx.exec("SET LOCAL search_path = " + name);
    // The ledger as src/db/migrations.cpp creates it.
    tx.exec(
        "CREATE TABLE tickd_schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now())");
    for (const auto& m : tickd::embedded_migrations()) {
      if (m.version > 3) break;
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO tickd_schema_migrations (version, name) VALUES ($1, $2)",
                     m.version, std::string(m.name));
    }
    tx.commit();
  }
  ~SchemaBeforePolicies() {
    pqxx::connection c(tickd::test::base_url());
    pqxx::nontransaction tx(c);
    tx.exec("DROP SCHEMA " + name + " CASCADE");
  }
  SchemaBeforePolicies(const SchemaBeforePolicies&) = delete;
  SchemaBeforePolicies& operator=(const SchemaBeforePolicies&) = delete;

  pqxx::result sql(const std::string& statement) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec(statement);
  }
};

// The message of the statement's failure ("" when it succeeded), for naming constraints.
std::string refusal(Schema& s, const std::string& statement) {
  try {
    s.sql(statement);
  } catch (const pqxx::sql_error& e) {
    return e.what();
  }
  return "";
}

RegionRow loaded(Database& db, std::int64_t id) {
  for (auto& row : db.load_active_regions({id})) return row;
  FAIL("region " << id << " not loaded");
  return {};
}

}  // namespace

TEST_CASE("a database with rows and history keeps them through 004, and they behave as before") {
  SchemaBeforePolicies s;
  s.sql(
      "INSERT INTO region_index (id, code, cron_schedule, timezone, handlers, tick_sql) VALUES "
      "(101, 'eu-1', '*/5 * * * * *', 'Europe/Paris', '{region}', 'SELECT $1'), "
      "(102, 'us-1', '0 * * * *', 'America/New_York', '{region,sync}', NULL)");
  s.sql(
      "INSERT INTO region_index (id, code, cron_schedule, active) VALUES (103, 'off', '@daily', "
      "false)");
  s.sql(
      "INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at, error, "
      "details, attempt) VALUES "
      "(101, to_timestamp(1790000000), 'a', 'ok', now(), NULL, '{\"region\":{}}', 1), "
      "(101, to_timestamp(1790000005), 'a', 'failed', now(), 'boom', '{}', 2), "
      "(102, to_timestamp(1790000000), 'b', 'abandoned', now(), 'gone', '{}', 1)");
  s.sql(
      "INSERT INTO job_run (region_id, scheduled_for, replica_id, status) VALUES "
      "(101, to_timestamp(1790000010), 'a', 'running')");
  const auto history_before = s.sql(
      "SELECT id, region_id, scheduled_for, replica_id, status, started_at, finished_at, error, "
      "details, attempt, tick_sql_at FROM job_run ORDER BY id");

  const auto result = tickd::apply_migrations(s.url);
  REQUIRE(result.applied.size() >= 1);
  CHECK(result.applied.front() == 4);

  // The rows load with every policy at its default and no pause: equal to the rows as
  // tickd read them before the policies existed (RegionRow's default policy).
  Database db(s.url, 1);
  const auto rows = db.load_active_regions();
  REQUIRE(rows.size() == 2);
  // Each row's version is its xmin, whatever number that is.
  const auto as_read = [](RegionRow expected, const RegionRow& read) {
    expected.version = read.version;
    return expected;
  };
  CHECK(rows[0].version != 0);
  CHECK(rows[0] ==
        as_read(
            RegionRow{
                101, "eu-1", "*/5 * * * * *", "Europe/Paris", {"region"}, std::string("SELECT $1")},
            rows[0]));
  CHECK(
      rows[1] ==
      as_read(
          RegionRow{102, "us-1", "0 * * * *", "America/New_York", {"region", "sync"}, std::nullopt},
          rows[1]));
  for (const auto& row : rows) {
    CAPTURE(row.code);
    CHECK(row.policy == tickd::RegionPolicy{});
    CHECK_FALSE(row.pause);
    CHECK(std::holds_alternative<tickd::ValidRegion>(
        tickd::validate_region(row, tickd::builtin_handlers())));
  }
  CHECK(s.sql("SELECT timeout_ms IS NULL AND max_attempts = 1 AND retry_backoff_ms = 10000 AND "
              "overlap = 'skip' AND start_window_ms IS NULL AND jitter_ms = 0 AND "
              "paused_at IS NULL AND paused_by IS NULL AND paused_reason IS NULL "
              "FROM region_index WHERE id = 103")[0][0]
            .as<bool>());

  // The history is untouched, its runs counted as scheduled ones under an unknown
  // expression and zone (not recorded then).
  const auto history_after = s.sql(
      "SELECT id, region_id, scheduled_for, replica_id, status, started_at, finished_at, error, "
      "details, attempt, tick_sql_at FROM job_run ORDER BY id");
  REQUIRE(history_after.size() == history_before.size());
  for (pqxx::result::size_type i = 0; i < history_after.size(); ++i) {
    for (pqxx::row::size_type col = 0; col < history_after[i].size(); ++col) {
      CAPTURE(i);
      CAPTURE(col);
      CHECK(std::string(history_after[i][col].c_str()) == history_before[i][col].c_str());
    }
  }
  CHECK(s.sql("SELECT count(*) FROM job_run WHERE trigger = 'schedule' AND requested_by IS NULL "
              "AND cron_schedule IS NULL AND timezone IS NULL AND NOT overlap_allowed")[0][0]
            .as<int>() == 4);

  // The running row of eu-1 still keeps a second tick of it out; us-1 claims as before.
  CHECK(claim(db, 101, t0 + 15s, "replica-a").outcome == ClaimOutcome::overlapping);
  CHECK(claim(db, 102, t0 + 3600s, "replica-a").outcome == ClaimOutcome::won);

  // And `tickd migrate` again changes nothing.
  CHECK(tickd::apply_migrations(s.url).applied.empty());
}

TEST_CASE("a policy out of range is refused by the database, naming its constraint") {
  Schema s;
  const auto id = std::to_string(s.region("eu-1"));
  struct Case {
    const char* set;
    const char* constraint;  // "" when accepted
  };
  const Case cases[] = {
      {"timeout_ms = 0", "region_index_timeout_ms_range"},
      {"timeout_ms = 604800001", "region_index_timeout_ms_range"},
      {"timeout_ms = 604800000", ""},
      {"timeout_ms = NULL", ""},
      {"max_attempts = 0", "region_index_max_attempts_range"},
      {"max_attempts = 101", "region_index_max_attempts_range"},
      {"max_attempts = 100", ""},
      {"retry_backoff_ms = -1", "region_index_retry_backoff_ms_range"},
      {"retry_backoff_ms = 3600001", "region_index_retry_backoff_ms_range"},
      {"retry_backoff_ms = 0", ""},
      {"overlap = 'sometimes'", "region_index_overlap_known"},
      {"overlap = 'ALLOW'", "region_index_overlap_known"},
      {"overlap = 'buffer_one'", ""},
      {"start_window_ms = 0", "region_index_start_window_ms_range"},
      {"start_window_ms = 604800001", "region_index_start_window_ms_range"},
      {"start_window_ms = 1", ""},
      {"jitter_ms = -1", "region_index_jitter_ms_range"},
      {"jitter_ms = 86400001", "region_index_jitter_ms_range"},
      {"jitter_ms = 86400000", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.set);
    const auto error =
        refusal(s, std::string("UPDATE region_index SET ") + c.set + " WHERE id = " + id);
    if (*c.constraint == '\0') {
      CHECK(error == "");
    } else {
      CHECK(error.find(c.constraint) != std::string::npos);
    }
  }
  CHECK(refusal(s,
                "INSERT INTO region_index (code, cron_schedule, max_attempts) VALUES ('x', "
                "'* * * * *', 0)")
            .find("region_index_max_attempts_range") != std::string::npos);

  Database db(s.url, 1);
  const auto run = std::to_string(claim(db, std::stoll(id), t0, "replica-a").run_id);
  CHECK(refusal(s, "UPDATE job_run SET trigger = 'cron' WHERE id = " + run)
            .find("job_run_trigger_known") != std::string::npos);
  CHECK(refusal(s, "UPDATE job_run SET status = 'done', finished_at = now() WHERE id = " + run)
            .find("job_run_status_known") != std::string::npos);
  CHECK(refusal(s,
                "UPDATE job_run SET status = 'cancelled', finished_at = now(), "
                "trigger = 'manual', requested_by = 'ops' WHERE id = " +
                    run) == "");
}

TEST_CASE("the database refuses a second running tick of a region unless its overlap is allow") {
  Schema s;
  const auto skip = s.region("skip");
  const auto buffer = s.region("buffer");
  const auto allow = s.region("allow");
  s.sql("UPDATE region_index SET overlap = 'buffer_one' WHERE id = " + std::to_string(buffer));
  s.sql("UPDATE region_index SET overlap = 'allow' WHERE id = " + std::to_string(allow));
  Database db(s.url, 1);
  for (const auto id : {skip, buffer}) {
    CAPTURE(id);
    REQUIRE(claim(db, id, t0, "replica-a").outcome == ClaimOutcome::won);
    CHECK(claim(db, id, t0 + 1s, "replica-a").outcome == ClaimOutcome::overlapping);
    // Not only the claim statement: any writer is refused, naming the index.
    CHECK(refusal(s, "INSERT INTO job_run (region_id, scheduled_for, replica_id, status) VALUES (" +
                         std::to_string(id) + ", to_timestamp(1790000002), 'x', 'running')")
              .find("job_run_one_running_per_region") != std::string::npos);
  }
  const auto first = claim(db, allow, t0, "replica-a");
  const auto second = claim(db, allow, t0 + 1s, "replica-b");
  CHECK(first.outcome == ClaimOutcome::won);
  CHECK(second.outcome == ClaimOutcome::won);
  CHECK(s.value("SELECT count(*) FROM job_run WHERE status = 'running' AND overlap_allowed AND "
                "region_id = " +
                std::to_string(allow)) == 2);
  // Switched to skip while those two still run: the next claim reads overlap from the row,
  // so its run counts for the rule (it runs beside the two allowed ones), and a further one
  // is refused. The documented edge of sql/004_policies.sql.
  s.sql("UPDATE region_index SET overlap = 'skip' WHERE id = " + std::to_string(allow));
  CHECK(claim(db, allow, t0 + 2s, "replica-a").outcome == ClaimOutcome::won);
  CHECK(claim(db, allow, t0 + 3s, "replica-a").outcome == ClaimOutcome::overlapping);
  CHECK(finish(db, first.run_id, t0, "replica-a", RunStatus::ok, std::nullopt, "{}"));
}

TEST_CASE("a claim records the trigger and the expression and zone it was scheduled under") {
  Schema s;
  const auto id = s.region("eu-1");
  Database db(s.url, 1);
  // The schedule's row differs from the database's (an UPDATE not applied yet): the run
  // records what its instant was computed from.
  const auto won =
      db.claim_batch({{row_of(id, "*/5 * * * * *", "Europe/Paris")}}, t0, "replica-a")[0];
  REQUIRE(won.outcome == ClaimOutcome::won);
  const auto read = [&] {
    return s.sql(
        "SELECT trigger, requested_by IS NULL, cron_schedule, timezone, attempt "
        "FROM job_run WHERE id = " +
        std::to_string(won.run_id))[0];
  };
  auto row = read();
  CHECK(row[0].as<std::string>() == "schedule");
  CHECK(row[1].as<bool>());
  CHECK(row[2].as<std::string>() == "*/5 * * * * *");
  CHECK(row[3].as<std::string>() == "Europe/Paris");
  // A takeover runs it again on the same row: attempt + 1, the rest as claimed.
  tickd::Orphan o;
  o.run_id = won.run_id;
  o.region_id = id;
  o.scheduled_for = t0;
  o.replica_id = "replica-a";
  o.attempt = 1;
  o.cause = tickd::OrphanCause::crashed;
  REQUIRE(db.take_over({o}, "replica-b").size() == 1);
  row = read();
  CHECK(row[0].as<std::string>() == "schedule");
  CHECK(row[2].as<std::string>() == "*/5 * * * * *");
  CHECK(row[3].as<std::string>() == "Europe/Paris");
  CHECK(row[4].as<int>() == 2);
}

TEST_CASE("regions load with their policies and pause; a row from before a rule is refused") {
  Schema s;
  const auto id = s.region("eu-1");
  const auto ids = std::to_string(id);
  s.sql(
      "UPDATE region_index SET timeout_ms = 500, max_attempts = 3, retry_backoff_ms = 2000, "
      "overlap = 'buffer_one', start_window_ms = 1500, jitter_ms = 250, "
      "paused_at = '2026-03-08T10:00:00.123456Z', paused_by = 'ops@host', "
      "paused_reason = 'upgrade' WHERE id = " +
      ids);
  Database db(s.url, 1);
  auto row = loaded(db, id);
  CHECK(row.policy.timeout == ColumnMs(500));
  CHECK(row.policy.max_attempts == 3);
  CHECK(row.policy.retry_backoff == ColumnMs(2000));
  CHECK(row.policy.overlap == Overlap::buffer_one);
  CHECK(row.policy.start_window == ColumnMs(1500));
  CHECK(row.policy.jitter == ColumnMs(250));
  REQUIRE(row.pause);
  CHECK(row.pause->at.time_since_epoch() == std::chrono::microseconds(1'772'964'000'123'456));
  CHECK(row.pause->by == "ops@host");
  CHECK(row.pause->reason == "upgrade");
  s.sql("UPDATE region_index SET paused_by = NULL, paused_reason = NULL WHERE id = " + ids);
  row = loaded(db, id);
  REQUIRE(row.pause);
  CHECK_FALSE(row.pause->by);
  CHECK_FALSE(row.pause->reason);
  s.sql("UPDATE region_index SET paused_at = NULL WHERE id = " + ids);  // resume
  CHECK_FALSE(loaded(db, id).pause);

  // Rows written while a rule was not in force (here: the constraints dropped) load as
  // they are, unclamped, and are refused with the column.
  s.sql(
      "ALTER TABLE region_index DROP CONSTRAINT region_index_max_attempts_range, "
      "DROP CONSTRAINT region_index_overlap_known");
  s.sql("UPDATE region_index SET max_attempts = 0 WHERE id = " + ids);
  const auto handlers = tickd::builtin_handlers();
  row = loaded(db, id);
  CHECK(row.policy.max_attempts == 0);
  CHECK(std::get<std::string>(tickd::validate_region(row, handlers)) ==
        "max_attempts: 0 is out of range 1-100");
  s.sql("UPDATE region_index SET max_attempts = 1, overlap = 'sometimes' WHERE id = " + ids);
  row = loaded(db, id);
  CHECK(row.policy.overlap == Overlap::unknown);
  CHECK(std::get<std::string>(tickd::validate_region(row, handlers)) ==
        "overlap: not one of skip, buffer_one, allow");
}

int main(int argc, char** argv) { return tickd::test::run_db_tests(argc, argv); }
