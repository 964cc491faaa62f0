#pragma once
// Configuration: one immutable value built from an optional TOML file and the
// environment (the environment wins). Every key has an environment variable and a TOML key
// of the same meaning (spec: "Configuration"). The defaults are the member initializers
// below; everything else about a key (its names, range, parser, documentation) is its one
// entry in src/config/keys.cpp. Adding a key: a field here, an entry there, a block in
// config/tickd.example.toml, then `meson compile -C build config-table` for the README.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tickd {

enum class LogFormat { text, json };

struct Config {
  std::string database_url;         // DATABASE_URL; empty = not set
  std::string database_listen_url;  // DATABASE_LISTEN_URL; defaults to database_url
  std::chrono::milliseconds region_refresh_interval{300'000};  // REGION_REFRESH_INTERVAL_MS
  unsigned concurrency = 4;                                    // CONCURRENCY
  std::string http_host = "127.0.0.1";                         // TICKD_HTTP_ADDR (host part)
  std::uint16_t http_port = 9464;                              // TICKD_HTTP_ADDR (port part)
  std::string replica_id;                              // TICKD_REPLICA_ID; default hostname-pid
  std::chrono::milliseconds misfire_grace{60'000};     // MISFIRE_GRACE_MS
  std::chrono::milliseconds shutdown_grace{30'000};    // SHUTDOWN_GRACE_MS
  std::chrono::milliseconds tick_lease{10'000};        // TICK_LEASE_MS
  unsigned db_pool_size = 8;                           // DB_POOL_SIZE
  std::string log_level = "info";                      // LOG_LEVEL
  LogFormat log_format = LogFormat::text;              // LOG_FORMAT
  std::chrono::milliseconds tick_sql_timeout{30'000};  // TICK_SQL_TIMEOUT_MS
  // TICK_TIMEOUT_MS: the longest one attempt of a tick may run, all handlers together, for
  // a region whose timeout_ms is NULL.
  std::chrono::milliseconds tick_timeout{3'600'000};
  // CLAIM_GRACE_MS: how long a replica waits before claiming a tick that another live
  // replica owns (rendezvous hashing); capped at half the tick's start window.
  std::chrono::milliseconds claim_grace{500};
  // CLAIM_AHEAD_MS: how long before its instant a replica claims a tick it owns, so that
  // a large instant's claims are written by the time it comes; handlers still start at
  // the instant. 0 claims at the instant.
  std::chrono::milliseconds claim_ahead{500};

  // Object storage and the work handlers (sync, upload, publish).
  std::string storage_url;            // STORAGE_URL: file:///dir or s3://bucket?...; empty = none
  std::string storage_access_key_id;  // STORAGE_ACCESS_KEY_ID
  std::string storage_secret_access_key;  // STORAGE_SECRET_ACCESS_KEY (never logged)
  std::string cdn_base_url;               // CDN_BASE_URL; empty = the objects' storage URLs
  std::uint64_t storage_multipart_threshold = 64ull << 20;  // STORAGE_MULTIPART_THRESHOLD_BYTES
  std::chrono::milliseconds job_lease{60'000};              // JOB_LEASE_MS
  std::chrono::milliseconds sync_missing_after{3'600'000};  // SYNC_MISSING_AFTER_MS
  // UPLOAD_ROOT: the only directory `upload` reads local files from; empty: none.
  std::string upload_root;
  std::string publish_source_token;  // PUBLISH_SOURCE_TOKEN (never logged)
  std::string publish_source_hosts;  // PUBLISH_SOURCE_HOSTS: "a,http://b" (normalised)
  std::uint64_t publish_max_pixels = 100'000'000;  // PUBLISH_MAX_PIXELS
  unsigned publish_concurrency = 3;                // PUBLISH_CONCURRENCY
  unsigned publish_quality = 80;                   // PUBLISH_QUALITY (WebP, 1-100)
  unsigned retention_days = 30;                    // RETENTION_DAYS

  // The `command` and `http` handlers, notifications.
  std::string command_dir;  // COMMAND_DIR: where `command` runs executables from; empty: none
  std::string http_allowed_hosts;  // HTTP_ALLOWED_HOSTS: "a,b" (normalised); empty: any host
  std::string http_env_allow;      // HTTP_ENV_ALLOW: "NAME,NAME" usable as {{env.NAME}}
  std::string notify_url;          // NOTIFY_URL: default webhook of notifications; empty: none
  std::string notify_secret;       // NOTIFY_SECRET (never logged): HMAC key of the signature

  // The /v1 API and the console.
  std::string api_token;      // TICKD_API_TOKEN (never logged); empty: every write is refused
  bool api_auth_all = false;  // TICKD_API_AUTH=all: reads need the token too (else `writes`)

  bool operator==(const Config&) const = default;
};

struct ConfigError {
  std::string message;  // names the key (and file/line for TOML), e.g. "CONCURRENCY: 'x' is not a
                        // positive integer"
};

// Looks up an environment variable; injected so tests need not touch the real environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_environment();

// Reads `file` (when given) and then the environment. Never throws for bad input.
std::variant<Config, ConfigError> load_config(const std::optional<std::filesystem::path>& file,
                                              const EnvLookup& env);

// The same URL or key=value connection string with any password replaced by "***",
// for logs and errors.
std::string redact_database_url(std::string_view url);

// `text` with every occurrence of the password(s) of `database_url` (raw and percent-decoded)
// replaced by "***": for error texts from libpq or the server that might echo them.
std::string scrub_password(std::string_view text, std::string_view database_url);

// Every secret value of `config`, for the log to hide by value wherever it turns up (a
// libpq error quoting part of a URL it could not parse, say): the passwords of DATABASE_URL
// and DATABASE_LISTEN_URL (raw, decoded, and each piece of 4 or more bytes between the
// characters a parser might cut them at), the storage secret key, the publish token and
// the API token, the notification secret, and the values of the environment variables
// HTTP_ENV_ALLOW names (read from this process's environment). Longest first; none shorter than 3
// bytes.
std::vector<std::string> secret_values(const Config& config);

// The items of a comma-separated list value (HTTP_ALLOWED_HOSTS, HTTP_ENV_ALLOW), trimmed,
// empty ones dropped.
std::vector<std::string> split_config_list(std::string_view list);

// "host:port" as TICKD_HTTP_ADDR takes it; IPv6 hosts in brackets ("[::1]:9464").
std::string format_http_addr(const Config& config);

// "<hostname>-<pid>", the default of TICKD_REPLICA_ID.
std::string default_replica_id();

// Parses a "--config FILE" / "--config=FILE" option out of a sub-command's arguments, for the
// sub-commands that take only that option. Returns the file (or nullopt when absent), or an
// error message for anything else.
struct ConfigArg {
  std::optional<std::filesystem::path> file;
  bool help = false;
};
std::variant<ConfigArg, ConfigError> parse_config_arg(std::span<const std::string_view> args);

}  // namespace tickd
