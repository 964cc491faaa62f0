// The migration runner: one transaction, advisory lock first (see tickd/db/migrations.hpp).

#include "tickd/db/migrations.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>

#include "tickd/config/config.hpp"

namespace tickd {
namespace {

// Serialises migrators. Transaction-scoped, so it is released by COMMIT or ROLLBACK and never
// outlives the transaction, also behind a transaction pooler.
const std::string kTakeLock =
    "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")";

// CREATE ... IF NOT EXISTS says NOTICE when the table is there; keep stderr for problems.
constexpr const char* kQuiet = "SET LOCAL client_min_messages = warning";

// NULL when search_path names no existing schema: nothing could be created.
constexpr const char* kCurrentSchema = "SELECT current_schema()";

constexpr const char* kCreateLedger =
    "CREATE TABLE IF NOT EXISTS tickd_schema_migrations ("
    " version int PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

constexpr const char* kAppliedVersions = "SELECT version FROM tickd_schema_migrations";

// $1: version, $2: name
constexpr const char* kRecord =
    "INSERT INTO tickd_schema_migrations (version, name) VALUES ($1, $2)";

std::string label(const Migration& m) {
  std::string v = std::to_string(m.version);
  while (v.size() < 3) v.insert(v.begin(), '0');
  return v + "_" + std::string(m.name);
}

// libpq and server messages end with a newline and may span lines; logs want one line.
std::string one_line(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (!space) {
      out += c;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

MigrationResult apply_migrations(const std::string& database_url) {
  const auto fail = [&](const std::string& step, const std::exception& e) -> MigrationError {
    return MigrationError(scrub_password(step + ": " + one_line(e.what()), database_url));
  };

  std::optional<pqxx::connection> conn;
  try {
    conn.emplace(database_url);
  } catch (const std::exception& e) {
    throw fail("connecting to " + redact_database_url(database_url), e);
  }

  std::string step = "taking the migration lock";
  try {
    pqxx::work tx(*conn, "tickd_migrate");
    tx.exec(kTakeLock);
    tx.exec0(kQuiet);

    step = "selecting the schema";
    const pqxx::row schema = tx.exec1(kCurrentSchema);
    if (schema[0].is_null()) {
      throw MigrationError(
          "selecting the schema: the connection's search_path names no existing schema");
    }
    const std::string schema_name = schema[0].as<std::string>();

    step = "reading tickd_schema_migrations";
    tx.exec0(kCreateLedger);
    std::set<int> recorded;
    for (const pqxx::row& row : tx.exec(kAppliedVersions)) recorded.insert(row[0].as<int>());

    MigrationResult result;
    for (const Migration& m : embedded_migrations()) {
      if (recorded.contains(m.version)) continue;
      step = "applying migration " + label(m);
      spdlog::info("applying migration {} in schema {}", label(m), schema_name);
      tx.exec(std::string(m.sql));
      tx.exec_params0(kRecord, m.version, std::string(m.name));
      recorded.insert(m.version);
      result.applied.push_back(m.version);
    }
    result.schema_version = recorded.empty() ? 0 : *recorded.rbegin();
    const int known = embedded_migrations().empty() ? 0 : embedded_migrations().back().version;
    if (result.schema_version > known) {
      // A newer tickd migrated this database (a rolling upgrade): leave its work alone.
      spdlog::warn("schema {} is at version {}, newer than this tickd knows ({})", schema_name,
                   result.schema_version, known);
    }

    step = "committing";
    tx.commit();
    return result;
  } catch (const MigrationError&) {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    // The connection broke during COMMIT: the migration may or may not be in. Running
    // `tickd migrate` again settles it (it is idempotent), so say so rather than guess.
    throw fail("committing (outcome unknown: run tickd migrate again to settle it)", e);
  } catch (const std::exception& e) {
    throw fail(step, e);
  }
}

}  // namespace tickd
