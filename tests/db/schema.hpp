#pragma once
// For the C++ tests against PostgreSQL (tests/db, tests/handlers): a fresh schema per test case on
// the real PostgreSQL of TICKD_TEST_DATABASE_URL, with the migrations applied; dropped at the end
// of the case.

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>
#include <random>
#include <string>

#include "tickd/db/database.hpp"
#include "tickd/db/migrations.hpp"

namespace tickd::test {

inline std::string base_url() { return std::getenv("TICKD_TEST_DATABASE_URL"); }

struct Schema {
  std::string name;
  std::string url;

  Schema() {
    std::random_device rd;
    name = "db_test_" + std::to_string(rd() % 1'000'000'000);
    pqxx::connection c(base_url());
    pqxx::nontransaction tx(c);
    tx.exec("CREATE SCHEMA " + name);
    const auto base = base_url();
    url = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
          name;
    tickd::apply_migrations(url);
    // Claim locks are advisory locks keyed by (region id, instant), and advisory locks are
    // database-wide: test cases running side by side in one database, each in its own schema
    // with ids from 1 and the same instants, took each other's claim locks (a claim came back
    // `taken`). Each schema's ids start at a random point instead.
    sql("SELECT setval(pg_get_serial_sequence('region_index', 'id'), " +
        std::to_string(rd() % (1U << 30) + 1) + ")");
    // job_run has a partition per day and no default (sql/008): the days of the instants the
    // tests write by hand (t0 = 1'790'000'000 is 2026-09-21T14:13:20Z, history of 1'780'000'000,
    // a backfill of 2026-03-08). tickd's own claims make a missing day themselves.
    sql("SELECT tickd_job_run_add_partitions('2026-09-20', '2026-09-22'), "
        "tickd_job_run_add_partitions('2026-05-28', '2026-05-28'), "
        "tickd_job_run_add_partitions('2026-03-08', '2026-03-08')");
  }
  ~Schema() {
    pqxx::connection c(base_url());
    pqxx::nontransaction tx(c);
    tx.exec("DROP SCHEMA " + name + " CASCADE");
  }
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  pqxx::result sql(const std::string& statement) {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec(statement);
  }

  std::int64_t value(const std::string& statement) {
    return sql(statement)[0][0].as<std::int64_t>();
  }

  // The partitions of job_run a plan reads whole ("Seq Scan on job_run_...") that hold rows,
  // one per line; "" when none. An empty partition (the days ahead, in a test whose history
  // lies elsewhere) is read at no cost, and the planner rightly scans it.
  std::string history_scans(const std::string& plan) {
    std::string found;
    const std::string marker = "Seq Scan on job_run";
    for (auto at = plan.find(marker); at != std::string::npos; at = plan.find(marker, at + 1)) {
      const auto start = at + marker.size() - std::string("job_run").size();
      const auto relation = plan.substr(start, plan.find_first_of(" \n", start) - start);
      if (sql("SELECT EXISTS (SELECT FROM " + relation + ")")[0][0].as<bool>()) {
        found += relation + "\n";
      }
    }
    return found;
  }

  std::int64_t region(const std::string& code) {
    return sql("INSERT INTO region_index (code, cron_schedule) VALUES ('" + code +
               "', '* * * * * *') RETURNING id")[0][0]
        .as<std::int64_t>();
  }
};

// A region's row as the schedule holds it, for a claim (Schema::region's expression and zone
// unless given).
inline RowPtr row_of(std::int64_t region_id, std::string cron = "* * * * * *",
                     std::string timezone = "UTC") {
  RegionRow row;
  row.id = region_id;
  row.code = "r" + std::to_string(region_id);
  row.cron_schedule = std::move(cron);
  row.timezone = std::move(timezone);
  return std::make_shared<const RegionRow>(std::move(row));
}

// One tick's claim, no deadline, as the claim path makes it (claim_batch).
inline Claim claim(Database& db, std::int64_t region_id, std::chrono::sys_seconds instant,
                   const std::string& replica_id) {
  return db.claim_batch({{row_of(region_id)}}, instant, replica_id)[0];
}

// One tick's end as the finisher writes it (finish_batch); false when fenced. `instant`:
// the run's scheduled_for, with the id its key.
inline bool finish(Database& db, std::int64_t run_id, std::chrono::sys_seconds instant,
                   const std::string& replica_id, RunStatus status,
                   const std::optional<std::string>& error, const std::string& details,
                   int attempt = 1) {
  return db.finish_batch({{run_id, instant, status, error, details, attempt}}, replica_id).empty();
}

// main() of a database test: skipped (77) without TICKD_TEST_DATABASE_URL.
inline int run_db_tests(int argc, char** argv) {
  if (std::getenv("TICKD_TEST_DATABASE_URL") == nullptr) {
    std::puts("TICKD_TEST_DATABASE_URL is not set: skipped");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}

}  // namespace tickd::test
