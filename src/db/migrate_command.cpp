// `tickd migrate [--config FILE]`: apply the embedded migrations to DATABASE_URL.

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tickd/cli.hpp"
#include "tickd/config/config.hpp"
#include "tickd/config/log.hpp"
#include "tickd/db/migrations.hpp"

namespace tickd::cli {
namespace {

constexpr const char* kUsage =
    "usage: tickd migrate [--config FILE]\n"
    "  Applies the migrations built into tickd to the database of DATABASE_URL (or\n"
    "  database_url in FILE), in the schema its search_path selects. Idempotent and safe to\n"
    "  run from several processes at once. Exit status: 0 done, 1 failed, 2 bad usage or\n"
    "  configuration.\n";

// Exit statuses (tickd/cli.hpp).
constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsageError = 2;

}  // namespace

int migrate_main(Args args) {
  const auto arg = parse_config_arg(args);
  if (const auto* e = std::get_if<ConfigError>(&arg)) {
    std::fprintf(stderr, "tickd migrate: %s\n%s", e->message.c_str(), kUsage);
    return kUsageError;
  }
  if (std::get<ConfigArg>(arg).help) {
    std::fputs(kUsage, stdout);
    return kOk;
  }
  const auto loaded = load_config(std::get<ConfigArg>(arg).file, process_environment());
  if (const auto* e = std::get_if<ConfigError>(&loaded)) {
    std::fprintf(stderr, "tickd migrate: %s\n", e->message.c_str());
    return kUsageError;
  }
  const Config& config = std::get<Config>(loaded);
  if (config.database_url.empty()) {
    std::fprintf(stderr,
                 "tickd migrate: DATABASE_URL is not set (set it in the environment, or "
                 "database_url in the --config file)\n");
    return kUsageError;
  }
  log::setup(config.log_level, config.log_format, secret_values(config));
  // An unreachable host should fail in seconds, not hang; an explicit setting wins.
  setenv("PGCONNECT_TIMEOUT", "10", 0);

  spdlog::info("migrating {}", redact_database_url(config.database_url));
  try {
    const MigrationResult r = apply_migrations(config.database_url);
    if (r.applied.empty()) {
      spdlog::info("schema is up to date at version {}", r.schema_version);
    } else {
      spdlog::info("applied {} migration(s); schema is at version {}", r.applied.size(),
                   r.schema_version);
    }
    return kOk;
  } catch (const MigrationError& e) {
    spdlog::error("tickd migrate failed: {}", e.what());
  } catch (const std::exception& e) {
    spdlog::error("tickd migrate failed: {}", scrub_password(e.what(), config.database_url));
  }
  return kFailed;
}

}  // namespace tickd::cli
