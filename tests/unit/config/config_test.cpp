// Configuration: TOML file + environment -> Config, and every way a value is refused.

#include "tickd/config/config.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace {

using tickd::Config;
using tickd::ConfigError;
using Env = std::map<std::string, std::string, std::less<>>;

tickd::EnvLookup env_of(Env env) {
  return [env = std::move(env)](std::string_view name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

// A TOML file in a fresh temporary directory, removed when the test ends.
class TomlFile final {
 public:
  explicit TomlFile(const std::string& text) {
    char dir[] = "/tmp/tickd-config-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ / "tickd.toml";
    std::ofstream(path_) << text;
  }
  ~TomlFile() { std::filesystem::remove_all(dir_); }
  TomlFile(const TomlFile&) = delete;
  TomlFile& operator=(const TomlFile&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
};

Config ok(const std::variant<Config, ConfigError>& r) {
  if (const auto* e = std::get_if<ConfigError>(&r)) FAIL("unexpected error: " << e->message);
  return std::get<Config>(r);
}

std::string error(const std::variant<Config, ConfigError>& r) {
  if (std::holds_alternative<Config>(r)) {
    FAIL("expected a ConfigError");
    return "";
  }
  return std::get<ConfigError>(r).message;
}

}  // namespace

TEST_CASE("with no file and no environment every value is the contract's default") {
  const Config c = ok(tickd::load_config(std::nullopt, env_of({})));
  CHECK(c.database_url.empty());
  CHECK(c.database_listen_url.empty());
  CHECK(c.region_refresh_interval == std::chrono::milliseconds(300'000));
  CHECK(c.concurrency == 4);
  CHECK(c.http_host == "127.0.0.1");
  CHECK(c.http_port == 9464);
  CHECK(c.misfire_grace == std::chrono::milliseconds(60'000));
  CHECK(c.shutdown_grace == std::chrono::milliseconds(30'000));
  CHECK(c.tick_lease == std::chrono::milliseconds(10'000));
  CHECK(c.db_pool_size == 8);
  CHECK(c.log_level == "info");
  CHECK(c.log_format == tickd::LogFormat::text);
  CHECK(c.tick_sql_timeout == std::chrono::milliseconds(30'000));
  CHECK(c.replica_id == tickd::default_replica_id());
}

TEST_CASE("the default replica id is hostname-pid") {
  const std::string id = tickd::default_replica_id();
  const std::string suffix = "-" + std::to_string(getpid());
  REQUIRE(id.size() > suffix.size());
  CHECK(id.ends_with(suffix));
}

TEST_CASE("every environment variable sets its value") {
  const Config c = ok(
      tickd::load_config(std::nullopt, env_of({{"DATABASE_URL", "postgres://u@db/tickd"},
                                               {"DATABASE_LISTEN_URL", "host=direct dbname=tickd"},
                                               {"REGION_REFRESH_INTERVAL_MS", "1000"},
                                               {"CONCURRENCY", "16"},
                                               {"TICKD_HTTP_ADDR", "0.0.0.0:8080"},
                                               {"TICKD_REPLICA_ID", "replica-a"},
                                               {"MISFIRE_GRACE_MS", "5000"},
                                               {"SHUTDOWN_GRACE_MS", "2000"},
                                               {"TICK_LEASE_MS", "3000"},
                                               {"DB_POOL_SIZE", "2"},
                                               {"LOG_LEVEL", "Warning"},
                                               {"LOG_FORMAT", "json"},
                                               {"TICK_SQL_TIMEOUT_MS", "1500"}})));
  CHECK(c.database_url == "postgres://u@db/tickd");
  CHECK(c.database_listen_url == "host=direct dbname=tickd");
  CHECK(c.region_refresh_interval == std::chrono::milliseconds(1000));
  CHECK(c.concurrency == 16);
  CHECK(c.http_host == "0.0.0.0");
  CHECK(c.http_port == 8080);
  CHECK(c.replica_id == "replica-a");
  CHECK(c.misfire_grace == std::chrono::milliseconds(5000));
  CHECK(c.shutdown_grace == std::chrono::milliseconds(2000));
  CHECK(c.tick_lease == std::chrono::milliseconds(3000));
  CHECK(c.db_pool_size == 2);
  CHECK(c.log_level == "warn");  // "warning", the word the log lines print, is "warn"
  CHECK(c.log_format == tickd::LogFormat::json);
  CHECK(c.tick_sql_timeout == std::chrono::milliseconds(1500));
}

TEST_CASE("every TOML key sets its value") {
  const TomlFile f(R"(# a comment
database_url = "postgres://u@db/tickd"
database_listen_url = "postgres://u@direct/tickd"
region_refresh_interval_ms = 60_000
concurrency = 2
http_addr = "[::1]:9000"
replica_id = "r1"
misfire_grace_ms = 1000
shutdown_grace_ms = 1000
tick_lease_ms = 500
db_pool_size = 3
log_level = "warn"
log_format = "text"
tick_sql_timeout_ms = 250
)");
  const Config c = ok(tickd::load_config(f.path(), env_of({})));
  CHECK(c.database_url == "postgres://u@db/tickd");
  CHECK(c.database_listen_url == "postgres://u@direct/tickd");
  CHECK(c.region_refresh_interval == std::chrono::milliseconds(60'000));
  CHECK(c.concurrency == 2);
  CHECK(c.http_host == "::1");
  CHECK(c.http_port == 9000);
  CHECK(tickd::format_http_addr(c) == "[::1]:9000");
  CHECK(c.replica_id == "r1");
  CHECK(c.misfire_grace == std::chrono::milliseconds(1000));
  CHECK(c.shutdown_grace == std::chrono::milliseconds(1000));
  CHECK(c.tick_lease == std::chrono::milliseconds(500));
  CHECK(c.db_pool_size == 3);
  CHECK(c.log_level == "warn");
  CHECK(c.log_format == tickd::LogFormat::text);
  CHECK(c.tick_sql_timeout == std::chrono::milliseconds(250));
}

TEST_CASE("the environment overrides the file, key by key") {
  const TomlFile f("concurrency = 2\ndb_pool_size = 3\ndatabase_url = \"postgres://file/db\"\n");
  const Config c = ok(tickd::load_config(
      f.path(), env_of({{"CONCURRENCY", "9"}, {"DATABASE_URL", "postgres://env/db"}})));
  CHECK(c.concurrency == 9);
  CHECK(c.db_pool_size == 3);
  CHECK(c.database_url == "postgres://env/db");
}

TEST_CASE("an empty environment variable counts as unset") {
  const TomlFile f("concurrency = 2\n");
  const Config c = ok(tickd::load_config(f.path(), env_of({{"CONCURRENCY", ""}})));
  CHECK(c.concurrency == 2);
}

TEST_CASE("DATABASE_LISTEN_URL defaults to DATABASE_URL, from either source") {
  CHECK(ok(tickd::load_config(std::nullopt, env_of({{"DATABASE_URL", "postgres://a/b"}})))
            .database_listen_url == "postgres://a/b");
  const TomlFile f("database_url = \"postgres://file/db\"\n");
  CHECK(ok(tickd::load_config(f.path(), env_of({}))).database_listen_url == "postgres://file/db");
  CHECK(ok(tickd::load_config(f.path(), env_of({{"DATABASE_LISTEN_URL", "postgres://l/db"}})))
            .database_listen_url == "postgres://l/db");
}

TEST_CASE("host:port forms that TICKD_HTTP_ADDR accepts") {
  struct Row {
    std::string addr, host;
    std::uint16_t port;
  };
  for (const Row& r : {Row{"127.0.0.1:9464", "127.0.0.1", 9464},
                       Row{"0.0.0.0:9464", "0.0.0.0", 9464}, Row{"[::1]:9464", "::1", 9464},
                       Row{"[::]:1", "::", 1}, Row{"localhost:65535", "127.0.0.1", 65535}}) {
    CAPTURE(r.addr);
    const Config c = ok(tickd::load_config(std::nullopt, env_of({{"TICKD_HTTP_ADDR", r.addr}})));
    CHECK(c.http_host == r.host);
    CHECK(c.http_port == r.port);
  }
}

TEST_CASE("an invalid environment value is refused with a message naming the variable") {
  struct Row {
    std::string name, value, message;
  };
  for (const Row& r : {
           Row{"CONCURRENCY", "0", "CONCURRENCY: 0 is out of range 1-1000000"},
           Row{"CONCURRENCY", "-3", "CONCURRENCY: -3 is out of range 1-1000000"},
           Row{"CONCURRENCY", "abc", "CONCURRENCY: 'abc' is not an integer"},
           Row{"CONCURRENCY", "4 ", "CONCURRENCY: '4 ' is not an integer"},
           Row{"CONCURRENCY", "1e3", "CONCURRENCY: '1e3' is not an integer"},
           Row{"CONCURRENCY", "100000000000000000000",
               "CONCURRENCY: '100000000000000000000' is out of range"},
           Row{"DB_POOL_SIZE", "1001", "DB_POOL_SIZE: 1001 is out of range 1-1000"},
           Row{"REGION_REFRESH_INTERVAL_MS", "0",
               "REGION_REFRESH_INTERVAL_MS: 0 is out of range 100-86400000 (milliseconds)"},
           Row{"MISFIRE_GRACE_MS", "0", "MISFIRE_GRACE_MS: 0 is out of range"},
           Row{"MISFIRE_GRACE_MS", "604800001", "MISFIRE_GRACE_MS: 604800001 is out of range"},
           Row{"SHUTDOWN_GRACE_MS", "-1", "SHUTDOWN_GRACE_MS: -1 is out of range"},
           Row{"SHUTDOWN_GRACE_MS", "3600001", "SHUTDOWN_GRACE_MS: 3600001 is out of range"},
           Row{"TICK_LEASE_MS", "99", "TICK_LEASE_MS: 99 is out of range 100-86400000"},
           Row{"TICK_SQL_TIMEOUT_MS", "0", "TICK_SQL_TIMEOUT_MS: 0 is out of range"},
           Row{"TICKD_HTTP_ADDR", "9464",
               "TICKD_HTTP_ADDR: '9464' is not host:port (missing ':port')"},
           Row{"TICKD_HTTP_ADDR", ":9464",
               "TICKD_HTTP_ADDR: ':9464' is not host:port (empty host)"},
           Row{"TICKD_HTTP_ADDR", "127.0.0.1:",
               "TICKD_HTTP_ADDR: '127.0.0.1:' is not host:port (port must be 1-65535)"},
           Row{"TICKD_HTTP_ADDR", "127.0.0.1:0", "port must be 1-65535"},
           Row{"TICKD_HTTP_ADDR", "127.0.0.1:65536", "port must be 1-65535"},
           Row{"TICKD_HTTP_ADDR", "127.0.0.1:http", "port must be 1-65535"},
           Row{"TICKD_HTTP_ADDR", "256.0.0.1:80", "'256.0.0.1' is not an IPv4 address"},
           Row{"TICKD_HTTP_ADDR", "example.com:80", "'example.com' is not an IPv4 address"},
           Row{"TICKD_HTTP_ADDR", "::1:9464", "an IPv6 address needs brackets"},
           Row{"TICKD_HTTP_ADDR", "[::1:9464", "missing ']'"},
           Row{"TICKD_HTTP_ADDR", "[::1]9464", "missing ':port'"},
           Row{"TICKD_HTTP_ADDR", "[::g]:9464", "'::g' is not an IPv6 address"},
           Row{"TICKD_REPLICA_ID", "has space", "TICKD_REPLICA_ID: must not contain spaces"},
           Row{"TICKD_REPLICA_ID", std::string(129, 'r'),
               "TICKD_REPLICA_ID: longer than 128 bytes"},
           Row{"LOG_LEVEL", "verbose",
               "LOG_LEVEL: 'verbose' is not one of trace, debug, info, warn, error"},
           Row{"TICKD_REPLICA_ID",
               "r\xff"
               "1",
               "TICKD_REPLICA_ID: is not valid UTF-8"},
           Row{"LOG_FORMAT", "xml", "LOG_FORMAT: 'xml' is not one of text, json"},
           Row{"DATABASE_URL", "mydb", "DATABASE_URL: not a libpq connection string"},
           Row{"DATABASE_URL", "postgres://a/b\nx", "DATABASE_URL: contains control characters"},
           Row{"DATABASE_LISTEN_URL", "nope", "DATABASE_LISTEN_URL: not a libpq connection string"},
       }) {
    CAPTURE(r.name);
    CAPTURE(r.value);
    const std::string message =
        error(tickd::load_config(std::nullopt, env_of({{r.name, r.value}})));
    CHECK_MESSAGE(message.starts_with(r.name + ": "), message);
    CHECK_MESSAGE(message.find(r.message) != std::string::npos, message);
  }
}

TEST_CASE("an invalid TOML value is refused with the file, the line and the key") {
  struct Row {
    std::string toml, message;
  };
  for (const Row& r : {
           Row{"concurrency = \"4\"", ":2: concurrency: expected an integer, got a string"},
           Row{"concurrency = 4.0",
               ":2: concurrency: expected an integer, got a floating-point number"},
           Row{"concurrency = true", ":2: concurrency: expected an integer, got a boolean"},
           Row{"concurrency = 0", ":2: concurrency: 0 is out of range 1-1000000"},
           Row{"concurrency = -1", ":2: concurrency: -1 is out of range 1-1000000"},
           Row{"concurrency = 9_999_999_999",
               ":2: concurrency: 9999999999 is out of range 1-1000000"},
           Row{"tick_lease_ms = 0",
               ":2: tick_lease_ms: 0 is out of range 100-86400000 (milliseconds)"},
           Row{"misfire_grace_ms = [1]", ":2: misfire_grace_ms: expected an integer, got an array"},
           Row{"database_url = 5", ":2: database_url: expected a string, got an integer"},
           Row{"database_url = \"mydb\"", ":2: database_url: not a libpq connection string"},
           Row{"http_addr = 9464", ":2: http_addr: expected a string, got an integer"},
           Row{"http_addr = \"localhost\"", ":2: http_addr: 'localhost' is not host:port"},
           Row{"replica_id = \"\"", ":2: replica_id: must not be empty"},
           Row{"log_level = \"loud\"", ":2: log_level: 'loud' is not one of"},
           Row{"log_format = \"yaml\"", ":2: log_format: 'yaml' is not one of text, json"},
           Row{"log_format = { a = 1 }", ":2: log_format: expected a string, got a table"},
           Row{"concurency = 4", ":2: unknown key 'concurency' (did you mean 'concurrency'?)"},
           Row{"[service]\nconcurrency = 4", ":2: unknown key 'service'"},
           Row{"bogus = 1", ":2: unknown key 'bogus'"},
           Row{"concurrency = ", ":2:"},
           Row{"concurrency = 1\nconcurrency = 2", ":3:"},
       }) {
    CAPTURE(r.toml);
    const TomlFile f("# line 1\n" + r.toml + "\n");
    const std::string message = error(tickd::load_config(f.path(), env_of({})));
    CHECK_MESSAGE(message.starts_with(f.path().string() + ":"), message);
    CHECK_MESSAGE(message.find(r.message) != std::string::npos, message);
  }
}

TEST_CASE("a TOML syntax error names the file, line and column") {
  const TomlFile f("concurrency = 4\nthis is not toml\n");
  const std::string message = error(tickd::load_config(f.path(), env_of({})));
  CHECK_MESSAGE(message.starts_with(f.path().string() + ":2:"), message);
  CHECK_MESSAGE(message.find("invalid TOML") != std::string::npos, message);
}

TEST_CASE("a missing config file is an error naming the file") {
  const std::string message =
      error(tickd::load_config(std::filesystem::path("/nonexistent/tickd.toml"), env_of({})));
  CHECK(message == "config file /nonexistent/tickd.toml: cannot open: No such file or directory");
}

TEST_CASE("a config path that is not a regular file is refused, never read as empty") {
  const TomlFile f("concurrency = 4\n");
  const auto dir = f.path().parent_path();
  CHECK(error(tickd::load_config(dir, env_of({}))) ==
        "config file " + dir.string() + ": not a regular file (a directory)");
  CHECK(error(tickd::load_config(std::filesystem::path("/dev/null"), env_of({}))) ==
        "config file /dev/null: not a regular file (a device or special file)");
  // A FIFO would block the start forever if it were opened.
  const auto fifo = dir / "fifo.toml";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(error(tickd::load_config(fifo, env_of({}))) ==
        "config file " + fifo.string() + ": not a regular file (a FIFO)");
}

TEST_CASE("a bad value in the file is reported even when the environment is fine") {
  const TomlFile f("db_pool_size = 0\n");
  CHECK(error(tickd::load_config(f.path(), env_of({{"CONCURRENCY", "3"}})))
            .find("db_pool_size: 0 is out of range") != std::string::npos);
}

TEST_CASE("the environment replaces a bad file value before it is checked") {
  const TomlFile f("db_pool_size = 0\n");
  CHECK(ok(tickd::load_config(f.path(), env_of({{"DB_POOL_SIZE", "3"}}))).db_pool_size == 3);
}

TEST_CASE("a URL key's error never echoes the value, which may hold a password") {
  const std::string message =
      error(tickd::load_config(std::nullopt, env_of({{"DATABASE_URL", "s3cret-password"}})));
  CHECK(message.find("s3cret") == std::string::npos);
}

TEST_CASE("the example configuration file is valid and sets the defaults") {
  // Meson compiles with source paths relative to the build directory, where meson test runs.
  auto path = std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "config" /
              "tickd.example.toml";
  if (!std::filesystem::exists(path) && path.is_relative()) path = ".." / path;
  REQUIRE_MESSAGE(std::filesystem::exists(path), path.string());
  const Config c = ok(tickd::load_config(path, env_of({})));
  CHECK(c.concurrency == 4);
  CHECK(c.http_port == 9464);
  CHECK(c.storage_multipart_threshold == 64u << 20);
  CHECK(c.job_lease == std::chrono::milliseconds(60'000));
  CHECK(c.retention_days == 30);
}

TEST_CASE("--config arguments") {
  using A = std::vector<std::string_view>;
  const auto parse = [](const A& a) { return tickd::parse_config_arg(a); };
  CHECK(std::get<tickd::ConfigArg>(parse({})).file == std::nullopt);
  CHECK(std::get<tickd::ConfigArg>(parse({"--config", "x.toml"})).file == "x.toml");
  CHECK(std::get<tickd::ConfigArg>(parse({"--config=y.toml"})).file == "y.toml");
  CHECK(std::get<tickd::ConfigArg>(parse({"--help"})).help);
  CHECK(std::get<tickd::ConfigError>(parse({"--config"})).message == "--config needs a file name");
  CHECK(std::get<tickd::ConfigError>(parse({"--config="})).message == "--config needs a file name");
  CHECK(std::get<tickd::ConfigError>(parse({"extra"})).message == "unexpected argument 'extra'");
}

TEST_CASE("the work handlers' keys: defaults, environment values and what is refused") {
  const Config d = ok(tickd::load_config(std::nullopt, env_of({})));
  CHECK(d.storage_url.empty());
  CHECK(d.storage_multipart_threshold == 64u << 20);
  CHECK(d.job_lease == std::chrono::milliseconds(60'000));
  CHECK(d.sync_missing_after == std::chrono::milliseconds(3'600'000));
  CHECK(d.publish_max_pixels == 100'000'000);
  CHECK(d.publish_concurrency == 3);
  CHECK(d.publish_quality == 80);
  CHECK(d.retention_days == 30);

  const Config c = ok(tickd::load_config(
      std::nullopt,
      env_of({{"STORAGE_URL", "s3://media?endpoint=http://127.0.0.1:9000&region=auto"},
              {"STORAGE_ACCESS_KEY_ID", "AK"},
              {"STORAGE_SECRET_ACCESS_KEY", "SK"},
              {"CDN_BASE_URL", "https://cdn.example.com/m"},
              {"STORAGE_MULTIPART_THRESHOLD_BYTES", "5242880"},
              {"JOB_LEASE_MS", "2000"},
              {"SYNC_MISSING_AFTER_MS", "0"},
              {"PUBLISH_SOURCE_TOKEN", "tok"},
              {"PUBLISH_MAX_PIXELS", "1000"},
              {"PUBLISH_CONCURRENCY", "8"},
              {"PUBLISH_QUALITY", "90"},
              {"RETENTION_DAYS", "7"}})));
  CHECK(c.storage_url == "s3://media?endpoint=http://127.0.0.1:9000&region=auto");
  CHECK(c.storage_secret_access_key == "SK");
  CHECK(c.cdn_base_url == "https://cdn.example.com/m");
  CHECK(c.storage_multipart_threshold == 5u << 20);
  CHECK(c.job_lease == std::chrono::milliseconds(2000));
  CHECK(c.publish_source_token == "tok");
  CHECK(c.publish_concurrency == 8);
  CHECK(c.retention_days == 7);

  struct Row {
    std::string name, value, message;
  };
  for (const Row& r : {
           Row{"STORAGE_URL", "file://relative",
               "STORAGE_URL: 'file://relative': file:// needs an absolute directory"},
           Row{"STORAGE_URL", "ftp://x",
               "STORAGE_URL: 'ftp://x': expected file:///abs/dir or s3://"},
           Row{"STORAGE_URL", "s3://b?path_style=yes",
               "STORAGE_URL: 's3://b?path_style=yes': path_style must be true or false"},
           Row{"CDN_BASE_URL", "cdn.example.com",
               "CDN_BASE_URL: 'cdn.example.com' is not an http:// or https:// URL"},
           Row{"CDN_BASE_URL", "https://", "CDN_BASE_URL: 'https://' has no host"},
           Row{"CDN_BASE_URL", "https://c/?x=1",
               "CDN_BASE_URL: 'https://c/?x=1' must not have a query"},
           Row{"STORAGE_MULTIPART_THRESHOLD_BYTES", "1000",
               "STORAGE_MULTIPART_THRESHOLD_BYTES: 1000 is out of range 5242880-5368709120"},
           Row{"JOB_LEASE_MS", "10",
               "JOB_LEASE_MS: 10 is out of range 1000-86400000 (milliseconds)"},
           Row{"PUBLISH_QUALITY", "101", "PUBLISH_QUALITY: 101 is out of range 1-100"},
           Row{"PUBLISH_CONCURRENCY", "0", "PUBLISH_CONCURRENCY: 0 is out of range 1-64"},
           Row{"RETENTION_DAYS", "x", "RETENTION_DAYS: 'x' is not an integer"},
       }) {
    CAPTURE(r.name);
    CAPTURE(r.value);
    const std::string message =
        error(tickd::load_config(std::nullopt, env_of({{r.name, r.value}})));
    CHECK(message.find(r.message) == 0);
  }
  // Secrets are never echoed, not even when refused.
  const std::string message = error(
      tickd::load_config(std::nullopt, env_of({{"STORAGE_SECRET_ACCESS_KEY", "hunter2\x01"}})));
  CHECK(message == "STORAGE_SECRET_ACCESS_KEY: contains control characters");
}

TEST_CASE("the keys added with the work handlers and the claim timings are refused the same way") {
  struct Row {
    std::string name, value, message;
  };
  for (const Row& r : {
           Row{"CLAIM_AHEAD_MS", "901", "CLAIM_AHEAD_MS: 901 is out of range 0-900 (milliseconds)"},
           Row{"CLAIM_AHEAD_MS", "-1", "CLAIM_AHEAD_MS: -1 is out of range 0-900 (milliseconds)"},
           Row{"CLAIM_GRACE_MS", "3600001",
               "CLAIM_GRACE_MS: 3600001 is out of range 0-3600000 (milliseconds)"},
           Row{"SYNC_MISSING_AFTER_MS", "31536000001",
               "SYNC_MISSING_AFTER_MS: 31536000001 is out of range 0-31536000000 (milliseconds)"},
           Row{"PUBLISH_MAX_PIXELS", "0", "PUBLISH_MAX_PIXELS: 0 is out of range 1-10000000000"},
           Row{"RETENTION_DAYS", "3651", "RETENTION_DAYS: 3651 is out of range 1-3650"},
           Row{"STORAGE_URL", "file:///a\tb", "STORAGE_URL: contains control characters"},
           Row{"STORAGE_URL", "s3://",
               "STORAGE_URL: 's3://': s3:// needs a bucket name: "
               "s3://BUCKET?endpoint=URL&region=R"},
           Row{"CDN_BASE_URL", "https://c/a b",
               "CDN_BASE_URL: must not contain spaces or control characters"},
           Row{"PUBLISH_SOURCE_TOKEN", "t\n", "PUBLISH_SOURCE_TOKEN: contains control characters"},
       }) {
    CAPTURE(r.name);
    CAPTURE(r.value);
    CHECK(error(tickd::load_config(std::nullopt, env_of({{r.name, r.value}}))) == r.message);
  }
}

TEST_CASE("the work handlers' TOML keys: typed, checked, and named with the file and line") {
  struct Row {
    std::string toml, message;
  };
  for (const Row& r : {
           Row{"storage_url = 5", ":2: storage_url: expected a string, got an integer"},
           Row{"storage_url = \"ftp://x\"",
               ":2: storage_url: 'ftp://x': expected file:///abs/dir or s3://"},
           Row{"publish_quality = \"80\"",
               ":2: publish_quality: expected an integer, got a string"},
           Row{"publish_quality = 0", ":2: publish_quality: 0 is out of range 1-100"},
           Row{"job_lease_ms = 999",
               ":2: job_lease_ms: 999 is out of range 1000-86400000 (milliseconds)"},
           Row{"cdn_base_url = \"https://c/#f\"", ":2: cdn_base_url: 'https://c/#f' must not have"},
           Row{"retention_day = 7",
               ":2: unknown key 'retention_day' (did you mean 'retention_days'?)"},
           Row{"STORAGE_URL = \"file:///x\"", ":2: unknown key 'STORAGE_URL'"},
       }) {
    CAPTURE(r.toml);
    const TomlFile f("# line 1\n" + r.toml + "\n");
    const std::string message = error(tickd::load_config(f.path(), env_of({})));
    CHECK_MESSAGE(message.starts_with(f.path().string() + r.message), message);
  }
}

TEST_CASE("every work handler key is read from the file, and its variable wins") {
  const TomlFile f(R"(storage_url = "file:///srv/objects"
storage_access_key_id = "AK"
storage_secret_access_key = "SK"
cdn_base_url = "https://cdn.example.com"
storage_multipart_threshold_bytes = 10_485_760
job_lease_ms = 5_000
sync_missing_after_ms = 0
publish_source_token = "tok"
publish_max_pixels = 4_000_000
publish_concurrency = 2
publish_quality = 70
retention_days = 90
claim_grace_ms = 0
claim_ahead_ms = 900
)");
  const Config c = ok(tickd::load_config(f.path(), env_of({})));
  CHECK(c.storage_url == "file:///srv/objects");
  CHECK(c.storage_access_key_id == "AK");
  CHECK(c.storage_secret_access_key == "SK");
  CHECK(c.cdn_base_url == "https://cdn.example.com");
  CHECK(c.storage_multipart_threshold == 10u << 20);
  CHECK(c.job_lease == std::chrono::milliseconds(5'000));
  CHECK(c.sync_missing_after == std::chrono::milliseconds(0));
  CHECK(c.publish_source_token == "tok");
  CHECK(c.publish_max_pixels == 4'000'000);
  CHECK(c.publish_concurrency == 2);
  CHECK(c.publish_quality == 70);
  CHECK(c.retention_days == 90);
  CHECK(c.claim_grace == std::chrono::milliseconds(0));
  CHECK(c.claim_ahead == std::chrono::milliseconds(900));

  const Config e = ok(
      tickd::load_config(f.path(), env_of({{"PUBLISH_QUALITY", "95"}, {"STORAGE_URL", "s3://b"}})));
  CHECK(e.publish_quality == 95);
  CHECK(e.storage_url == "s3://b");
  CHECK(e.retention_days == 90);
}

TEST_CASE("an empty database_listen_url in the file still means DATABASE_URL") {
  const TomlFile f("database_url = \"postgres://a/b\"\ndatabase_listen_url = \"\"\n");
  CHECK(ok(tickd::load_config(f.path(), env_of({}))).database_listen_url == "postgres://a/b");
}
