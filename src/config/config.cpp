// Configuration: TOML file, then the environment. Every value is validated here, once, so
// the rest of tickd can trust a Config.

#include "tickd/config.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "tickd/storage_url.hpp"

namespace tickd {
namespace {

enum class Kind { url, millis, count, addr, replica, level, format, storage, secret, http_url };

// One configuration key: its TOML name, its environment variable, how it is checked.
struct Key {
  std::string_view toml;
  std::string_view env;
  Kind kind;
  std::int64_t min = 0;  // inclusive bounds, for millis and count
  std::int64_t max = 0;
};

constexpr std::int64_t kDay = 86'400'000;

// Keep in step with config/tickd.example.toml and the README's configuration table.
constexpr std::array kKeys{
    Key{"database_url", "DATABASE_URL", Kind::url},
    Key{"database_listen_url", "DATABASE_LISTEN_URL", Kind::url},
    Key{"region_refresh_interval_ms", "REGION_REFRESH_INTERVAL_MS", Kind::millis, 100, kDay},
    Key{"concurrency", "CONCURRENCY", Kind::count, 1, 1'000'000},
    Key{"http_addr", "TICKD_HTTP_ADDR", Kind::addr},
    Key{"replica_id", "TICKD_REPLICA_ID", Kind::replica},
    Key{"misfire_grace_ms", "MISFIRE_GRACE_MS", Kind::millis, 1, 7 * kDay},
    Key{"shutdown_grace_ms", "SHUTDOWN_GRACE_MS", Kind::millis, 1, 3'600'000},
    Key{"tick_lease_ms", "TICK_LEASE_MS", Kind::millis, 100, kDay},
    Key{"db_pool_size", "DB_POOL_SIZE", Kind::count, 1, 1000},
    Key{"log_level", "LOG_LEVEL", Kind::level},
    Key{"log_format", "LOG_FORMAT", Kind::format},
    Key{"tick_sql_timeout_ms", "TICK_SQL_TIMEOUT_MS", Kind::millis, 1, kDay},
    Key{"claim_grace_ms", "CLAIM_GRACE_MS", Kind::millis, 0, 3'600'000},
    // Under a second: a claimed tick runs the row it was claimed with, and hot apply
    // promises instants from commit + 1 s to follow the new row.
    Key{"claim_ahead_ms", "CLAIM_AHEAD_MS", Kind::millis, 0, 900},
    Key{"storage_url", "STORAGE_URL", Kind::storage},
    Key{"storage_access_key_id", "STORAGE_ACCESS_KEY_ID", Kind::secret},
    Key{"storage_secret_access_key", "STORAGE_SECRET_ACCESS_KEY", Kind::secret},
    Key{"cdn_base_url", "CDN_BASE_URL", Kind::http_url},
    Key{"storage_multipart_threshold_bytes", "STORAGE_MULTIPART_THRESHOLD_BYTES", Kind::count,
        5 * 1024 * 1024, 5LL * 1024 * 1024 * 1024},
    Key{"job_lease_ms", "JOB_LEASE_MS", Kind::millis, 1'000, kDay},
    Key{"sync_missing_after_ms", "SYNC_MISSING_AFTER_MS", Kind::millis, 0, 365 * kDay},
    Key{"publish_source_token", "PUBLISH_SOURCE_TOKEN", Kind::secret},
    Key{"publish_max_pixels", "PUBLISH_MAX_PIXELS", Kind::count, 1, 10'000'000'000},
    Key{"publish_concurrency", "PUBLISH_CONCURRENCY", Kind::count, 1, 64},
    Key{"publish_quality", "PUBLISH_QUALITY", Kind::count, 1, 100},
    Key{"retention_days", "RETENTION_DAYS", Kind::count, 1, 3650},
};

constexpr std::size_t kMaxReplicaIdLength = 128;

// A raw value before validation: TOML gives typed values, the environment strings.
struct Raw {
  std::variant<std::string, std::int64_t> value;
  std::string where;  // "file:line: key" or "ENV_NAME", the prefix of every error
};

struct Invalid {
  std::string message;
};

std::string describe_toml_type(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "nothing";
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view unknown) {
  std::string_view best;
  std::size_t best_distance = 4;  // further than 3 edits is not a typo
  for (const Key& key : kKeys) {
    const std::size_t d = edit_distance(unknown, key.toml);
    if (d < best_distance) {
      best_distance = d;
      best = key.toml;
    }
  }
  if (best.empty()) return "";
  return " (did you mean '" + std::string(best) + "'?)";
}

bool has_control_characters(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// Checks an integer value against a key's range. Values are echoed: none of them is secret.
std::variant<std::int64_t, Invalid> check_range(const Key& key, std::int64_t v) {
  if (v < key.min || v > key.max) {
    const std::string unit = key.kind == Kind::millis ? " (milliseconds)" : "";
    return Invalid{std::to_string(v) + " is out of range " + std::to_string(key.min) + "-" +
                   std::to_string(key.max) + unit};
  }
  return v;
}

std::variant<std::int64_t, Invalid> integer_of(const Key& key, const Raw& raw) {
  if (const auto* i = std::get_if<std::int64_t>(&raw.value)) return check_range(key, *i);
  const std::string& s = std::get<std::string>(raw.value);
  std::int64_t v = 0;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  // from_chars takes a leading '-', which we pass on so "-5" is reported as out of range.
  const auto [ptr, ec] = std::from_chars(first, last, v);
  if (s.empty() || ec == std::errc::invalid_argument || ptr != last) {
    return Invalid{"'" + s + "' is not an integer"};
  }
  if (ec == std::errc::result_out_of_range) {
    return Invalid{"'" + s + "' is out of range " + std::to_string(key.min) + "-" +
                   std::to_string(key.max)};
  }
  return check_range(key, v);
}

struct HostPort {
  std::string host;
  std::uint16_t port;
};

// host:port, where host is an IPv4 literal, a bracketed IPv6 literal or "localhost".
std::variant<HostPort, Invalid> parse_host_port(std::string_view s) {
  const auto bad = [&](std::string why) {
    // Appends, not operator+ on a literal: GCC 12 at -O3 reports a false -Wrestrict there.
    std::string message = "'";
    message.append(s).append("' is not host:port (").append(why).append(")");
    return Invalid{std::move(message)};
  };
  std::string host;
  std::string_view port_text;
  if (s.starts_with('[')) {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after the IPv6 address");
    host = std::string(s.substr(1, close - 1));
    if (close + 1 >= s.size() || s[close + 1] != ':') return bad("missing ':port'");
    port_text = s.substr(close + 2);
    in6_addr addr{};
    if (inet_pton(AF_INET6, host.c_str(), &addr) != 1) {
      return bad("'" + host + "' is not an IPv6 address");
    }
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return bad("missing ':port'");
    host = std::string(s.substr(0, colon));
    port_text = s.substr(colon + 1);
    if (host.empty()) return bad("empty host");
    if (host.find(':') != std::string::npos)
      return bad("an IPv6 address needs brackets, [::1]:9464");
    in_addr addr{};
    if (host == "localhost") {
      host = "127.0.0.1";
    } else if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
      return bad("'" + host + "' is not an IPv4 address, [IPv6] address or localhost");
    }
  }
  unsigned port = 0;
  const auto [ptr, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() ||
      port < 1 || port > 65535) {
    return bad("port must be 1-65535");
  }
  return HostPort{host, static_cast<std::uint16_t>(port)};
}

bool looks_like_conninfo(std::string_view url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://") ||
         url.find('=') != std::string_view::npos;
}

// Applies one validated value to `config`; returns a message on failure. Values of the URL
// keys are never echoed (they may hold a password).
std::optional<std::string> apply(const Key& key, const Raw& raw, Config& config,
                                 bool& listen_url_set) {
  const auto expect_string = [&]() -> const std::string* {
    return std::get_if<std::string>(&raw.value);
  };
  switch (key.kind) {
    case Kind::url: {
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      if (has_control_characters(*s)) return "contains control characters";
      if (!s->empty() && !looks_like_conninfo(*s)) {
        return "not a libpq connection string: expected postgres://... or key=value pairs";
      }
      if (key.toml == "database_url") {
        config.database_url = *s;
      } else {
        config.database_listen_url = *s;
        listen_url_set = !s->empty();
      }
      return std::nullopt;
    }
    case Kind::millis:
    case Kind::count: {
      const auto v = integer_of(key, raw);
      if (const auto* e = std::get_if<Invalid>(&v)) return e->message;
      const std::int64_t n = std::get<std::int64_t>(v);
      const std::chrono::milliseconds ms{n};
      if (key.toml == "region_refresh_interval_ms") config.region_refresh_interval = ms;
      if (key.toml == "misfire_grace_ms") config.misfire_grace = ms;
      if (key.toml == "shutdown_grace_ms") config.shutdown_grace = ms;
      if (key.toml == "tick_lease_ms") config.tick_lease = ms;
      if (key.toml == "tick_sql_timeout_ms") config.tick_sql_timeout = ms;
      if (key.toml == "claim_grace_ms") config.claim_grace = ms;
      if (key.toml == "claim_ahead_ms") config.claim_ahead = ms;
      if (key.toml == "concurrency") config.concurrency = static_cast<unsigned>(n);
      if (key.toml == "db_pool_size") config.db_pool_size = static_cast<unsigned>(n);
      if (key.toml == "job_lease_ms") config.job_lease = ms;
      if (key.toml == "sync_missing_after_ms") config.sync_missing_after = ms;
      if (key.toml == "storage_multipart_threshold_bytes") {
        config.storage_multipart_threshold = static_cast<std::uint64_t>(n);
      }
      if (key.toml == "publish_max_pixels")
        config.publish_max_pixels = static_cast<std::uint64_t>(n);
      if (key.toml == "publish_concurrency") config.publish_concurrency = static_cast<unsigned>(n);
      if (key.toml == "publish_quality") config.publish_quality = static_cast<unsigned>(n);
      if (key.toml == "retention_days") config.retention_days = static_cast<unsigned>(n);
      return std::nullopt;
    }
    case Kind::addr: {
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      const auto hp = parse_host_port(*s);
      if (const auto* e = std::get_if<Invalid>(&hp)) return e->message;
      config.http_host = std::get<HostPort>(hp).host;
      config.http_port = std::get<HostPort>(hp).port;
      return std::nullopt;
    }
    case Kind::replica: {
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      if (s->empty()) return "must not be empty";
      if (s->size() > kMaxReplicaIdLength) {
        return "longer than " + std::to_string(kMaxReplicaIdLength) + " bytes";
      }
      if (has_control_characters(*s) || s->find(' ') != std::string::npos) {
        return "must not contain spaces or control characters";
      }
      config.replica_id = *s;
      return std::nullopt;
    }
    case Kind::level: {
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      const std::string v = lower(*s);
      if (v != "trace" && v != "debug" && v != "info" && v != "warn" && v != "error") {
        return "'" + *s + "' is not one of trace, debug, info, warn, error";
      }
      config.log_level = v;
      return std::nullopt;
    }
    case Kind::storage: {
      // Echoed: a storage URL holds no credential (those have their own keys).
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      if (has_control_characters(*s)) return "contains control characters";
      if (!s->empty()) {
        const auto parsed = storage::parse_storage_url(*s);
        if (const auto* e = std::get_if<storage::StorageUrlError>(&parsed)) {
          return "'" + *s + "': " + e->message;
        }
      }
      config.storage_url = *s;
      return std::nullopt;
    }
    case Kind::secret: {
      // Never echoed.
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      if (has_control_characters(*s)) return "contains control characters";
      if (key.toml == "storage_access_key_id") config.storage_access_key_id = *s;
      if (key.toml == "storage_secret_access_key") config.storage_secret_access_key = *s;
      if (key.toml == "publish_source_token") config.publish_source_token = *s;
      return std::nullopt;
    }
    case Kind::http_url: {
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      if (has_control_characters(*s) || s->find(' ') != std::string::npos) {
        return "must not contain spaces or control characters";
      }
      if (!s->empty() && !s->starts_with("http://") && !s->starts_with("https://")) {
        return "'" + *s + "' is not an http:// or https:// URL";
      }
      if (s->find_first_of("?#") != std::string::npos) {
        return "'" + *s + "' must not have a query or fragment (object keys are appended to it)";
      }
      config.cdn_base_url = *s;
      return std::nullopt;
    }
    case Kind::format: {
      const std::string* s = expect_string();
      if (s == nullptr) return "expected a string";
      const std::string v = lower(*s);
      if (v == "text") {
        config.log_format = LogFormat::text;
      } else if (v == "json") {
        config.log_format = LogFormat::json;
      } else {
        return "'" + *s + "' is not one of text, json";
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// Reads the TOML file into raw values, refusing unknown keys and non-scalar values.
std::optional<ConfigError> read_file(const std::filesystem::path& file,
                                     std::vector<std::optional<Raw>>& raws) {
  const std::string name = file.string();
  {
    std::ifstream probe(file);
    if (!probe) {
      return ConfigError{"config file " + name + ": cannot open: " + std::strerror(errno)};
    }
  }
  toml::table table;
  try {
    table = toml::parse_file(name);
  } catch (const toml::parse_error& e) {
    return ConfigError{name + ":" + std::to_string(e.source().begin.line) + ":" +
                       std::to_string(e.source().begin.column) +
                       ": invalid TOML: " + std::string(e.description())};
  }
  for (const auto& [k, node] : table) {
    const std::string key_name(k.str());
    const std::string where =
        name + ":" + std::to_string(node.source().begin.line) + ": " + key_name;
    const auto it = std::find_if(kKeys.begin(), kKeys.end(),
                                 [&](const Key& key) { return key.toml == key_name; });
    if (it == kKeys.end()) {
      return ConfigError{name + ":" + std::to_string(k.source().begin.line) + ": unknown key '" +
                         key_name + "'" + suggestion(key_name)};
    }
    const bool numeric = it->kind == Kind::millis || it->kind == Kind::count;
    Raw raw{std::string{}, where};
    if (const auto* i = node.as_integer()) {
      if (!numeric) return ConfigError{where + ": expected a string, got an integer"};
      raw.value = i->get();
    } else if (const auto* s = node.as_string()) {
      if (numeric) return ConfigError{where + ": expected an integer, got a string"};
      raw.value = s->get();
    } else {
      return ConfigError{where + ": expected " + (numeric ? "an integer" : "a string") + ", got " +
                         describe_toml_type(node)};
    }
    raws[static_cast<std::size_t>(it - kKeys.begin())] = std::move(raw);
  }
  return std::nullopt;
}

}  // namespace

EnvLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string default_replica_id() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0 || host[0] == '\0') {
    std::strcpy(host.data(), "tickd");
  }
  std::string id(host.data());
  std::replace_if(
      id.begin(), id.end(),
      [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }, '_');
  id.append("-").append(std::to_string(getpid()));  // not "-" + ...: GCC 12 -O3 -Wrestrict
  if (id.size() > kMaxReplicaIdLength) id.erase(0, id.size() - kMaxReplicaIdLength);
  return id;
}

std::string format_http_addr(const Config& config) {
  if (config.http_host.find(':') != std::string::npos) {
    return "[" + config.http_host + "]:" + std::to_string(config.http_port);
  }
  return config.http_host + ":" + std::to_string(config.http_port);
}

std::variant<Config, ConfigError> load_config(const std::optional<std::filesystem::path>& file,
                                              const EnvLookup& env) {
  std::vector<std::optional<Raw>> raws(kKeys.size());
  if (file) {
    if (auto error = read_file(*file, raws)) return *error;
  }
  // The environment wins over the file. An empty variable counts as unset, as in most
  // container tooling, where "VAR=" is how a value is left out.
  for (std::size_t i = 0; i < kKeys.size(); ++i) {
    if (auto v = env(kKeys[i].env); v && !v->empty()) {
      raws[i] = Raw{*v, std::string(kKeys[i].env)};
    }
  }
  Config config;
  bool listen_url_set = false;
  for (std::size_t i = 0; i < kKeys.size(); ++i) {
    if (!raws[i]) continue;
    if (auto problem = apply(kKeys[i], *raws[i], config, listen_url_set)) {
      return ConfigError{raws[i]->where + ": " + *problem};
    }
  }
  if (!listen_url_set) config.database_listen_url = config.database_url;
  if (config.replica_id.empty()) config.replica_id = default_replica_id();
  return config;
}

std::variant<ConfigArg, ConfigError> parse_config_arg(std::span<const std::string_view> args) {
  ConfigArg out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      out.help = true;
    } else if (a == "--config") {
      if (i + 1 >= args.size() || args[i + 1].empty()) {
        return ConfigError{"--config needs a file name"};
      }
      out.file = std::filesystem::path(args[++i]);
    } else if (a.starts_with("--config=")) {
      const std::string_view f = a.substr(9);
      if (f.empty()) return ConfigError{"--config needs a file name"};
      out.file = std::filesystem::path(f);
    } else {
      return ConfigError{"unexpected argument '" + std::string(a) + "'"};
    }
  }
  return out;
}

}  // namespace tickd
