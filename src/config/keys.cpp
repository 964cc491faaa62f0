// The configuration keys: one entry each, and the parsers the entries use. Values are echoed
// in errors except where a parser says otherwise (connection strings and secrets).

#include "keys.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <string>
#include <type_traits>
#include <utility>

#include "tickd/util/json.hpp"
#include "tickd/util/storage_url.hpp"

namespace tickd::config_keys {
namespace {

using Problem = std::optional<std::string>;

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

// ---- integers: counts, sizes and durations in milliseconds ----

std::variant<std::int64_t, std::string> check_range(const Value& value, std::int64_t v) {
  if (v < value.min || v > value.max) {
    return std::to_string(v) + " is out of range " + std::to_string(value.min) + "-" +
           std::to_string(value.max) + std::string(value.unit);
  }
  return v;
}

std::variant<std::int64_t, std::string> integer_of(const Value& value, const Raw& raw) {
  if (const auto* i = std::get_if<std::int64_t>(&raw.value)) return check_range(value, *i);
  const std::string& s = std::get<std::string>(raw.value);
  std::int64_t v = 0;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  // from_chars takes a leading '-', which we pass on so "-5" is reported as out of range.
  const auto [ptr, ec] = std::from_chars(first, last, v);
  if (s.empty() || ec == std::errc::invalid_argument || ptr != last) {
    return "'" + s + "' is not an integer";
  }
  if (ec == std::errc::result_out_of_range) {
    return "'" + s + "' is out of range " + std::to_string(value.min) + "-" +
           std::to_string(value.max);
  }
  return check_range(value, v);
}

template <class C, class T>
T member_type(T C::*);
template <auto Field>
using FieldType = decltype(member_type(Field));

template <auto Field>
Problem apply_integer(const Value& value, const Raw& raw, Config& config) {
  const auto v = integer_of(value, raw);
  if (const auto* e = std::get_if<std::string>(&v)) return *e;
  config.*Field = FieldType<Field>(std::get<std::int64_t>(v));
  return std::nullopt;
}

template <auto Field>
std::string show_integer(const Config& config) {
  if constexpr (std::is_same_v<FieldType<Field>, std::chrono::milliseconds>) {
    return std::to_string((config.*Field).count());
  } else {
    return std::to_string(config.*Field);
  }
}

// An integer key in [min, max]; a std::chrono::milliseconds field takes milliseconds.
template <auto Field>
constexpr Value integer(std::int64_t min, std::int64_t max) {
  const bool millis = std::is_same_v<FieldType<Field>, std::chrono::milliseconds>;
  return Value{.type = Type::integer,
               .apply = &apply_integer<Field>,
               .show = &show_integer<Field>,
               .min = min,
               .max = max,
               .unit = millis ? " (milliseconds)" : ""};
}

// ---- strings ----

// Checks a string value, and may normalise it (LOG_LEVEL's case); says why it is refused.
using Check = Problem (*)(std::string& s);

template <auto Field, Check check>
Problem apply_string(const Value&, const Raw& raw, Config& config) {
  const auto* s = std::get_if<std::string>(&raw.value);
  if (s == nullptr) return "expected a string";
  std::string v = *s;
  if (auto problem = check(v)) return problem;
  config.*Field = std::move(v);
  return std::nullopt;
}

template <auto Field>
std::string show_string(const Config& config) {
  return config.*Field;
}

// A string key checked by `check`; `accepted` says what it takes, for the docs.
template <auto Field, Check check>
constexpr Value text(std::string_view accepted, Fill fill = nullptr) {
  return Value{.type = Type::string,
               .apply = &apply_string<Field, check>,
               .show = &show_string<Field>,
               .accepted = accepted,
               .fill = fill};
}

// Never echoed: a connection string may hold a password.
Problem conninfo(std::string& s) {
  if (has_control_characters(s)) return "contains control characters";
  const bool looks_like_conninfo = s.starts_with("postgres://") || s.starts_with("postgresql://") ||
                                   s.find('=') != std::string::npos;
  if (!s.empty() && !looks_like_conninfo) {
    return "not a libpq connection string: expected postgres://... or key=value pairs";
  }
  return std::nullopt;
}

// Never echoed.
Problem secret(std::string& s) {
  if (has_control_characters(s)) return "contains control characters";
  return std::nullopt;
}

// Echoed: a storage URL holds no credential (those have their own keys).
Problem storage_url(std::string& s) {
  if (has_control_characters(s)) return "contains control characters";
  if (s.empty()) return std::nullopt;
  const auto parsed = storage::parse_storage_url(s);
  if (const auto* e = std::get_if<storage::StorageUrlError>(&parsed)) {
    return "'" + s + "': " + e->message;
  }
  return std::nullopt;
}

Problem http_base_url(std::string& s) {
  if (has_control_characters(s) || s.find(' ') != std::string::npos) {
    return "must not contain spaces or control characters";
  }
  if (!s.empty() && !s.starts_with("http://") && !s.starts_with("https://")) {
    return "'" + s + "' is not an http:// or https:// URL";
  }
  if (s.find_first_of("?#") != std::string::npos) {
    return "'" + s + "' must not have a query or fragment (object keys are appended to it)";
  }
  if (!s.empty() && s.substr(s.find("://") + 3).find_first_not_of('/') == std::string::npos) {
    return "'" + s + "' has no host";
  }
  return std::nullopt;
}

Problem absolute_directory(std::string& s) {
  if (has_control_characters(s)) return "contains control characters";
  if (!s.empty() && s.front() != '/') return "'" + s + "' is not an absolute path";
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return std::nullopt;
}

// Echoed: a webhook URL. Its query may carry a token, but this one is the operator's
// default, set in tickd's own configuration, and refused values are rare and local.
Problem http_url(std::string& s) {
  if (s.empty()) return std::nullopt;
  if (has_control_characters(s) || s.find(' ') != std::string::npos) {
    return "must not contain spaces or control characters";
  }
  if (!s.starts_with("http://") && !s.starts_with("https://")) {
    return "is not an http:// or https:// URL";
  }
  const auto rest = std::string_view(s).substr(s.find("://") + 3);
  if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#') {
    return "has no host";
  }
  return std::nullopt;
}

// A comma-separated list, normalised to "a,b,c" (spaces around items dropped, empty items
// refused); each item must satisfy `item_ok`, described by `what`.
template <bool (*item_ok)(std::string_view)>
Problem list_of(std::string& s, std::string_view what) {
  if (has_control_characters(s)) return "contains control characters";
  std::string out;
  for (const auto& item : split_config_list(s)) {
    if (!item_ok(item)) return "'" + item + "' is not " + std::string(what);
    out += (out.empty() ? "" : ",") + item;
  }
  s = std::move(out);
  return std::nullopt;
}

bool env_name(std::string_view n) {
  if (n.empty() || (n.front() >= '0' && n.front() <= '9')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool host_name(std::string_view n) {
  return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':' || c == '[' || c == ']';
  });
}

Problem env_names(std::string& s) { return list_of<env_name>(s, "an environment variable name"); }
Problem host_names(std::string& s) { return list_of<host_name>(s, "a host name or address"); }
// A host name, or one prefixed "http://": a publish source the token may reach without TLS.
bool source_host(std::string_view n) {
  if (n.starts_with("http://")) n.remove_prefix(7);
  return host_name(n);
}
Problem source_hosts(std::string& s) {
  return list_of<source_host>(s, "a host name or address, or one prefixed http://");
}

Problem replica_name(std::string& s) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxReplicaIdLength) {
    return "longer than " + std::to_string(kMaxReplicaIdLength) + " bytes";
  }
  if (has_control_characters(s) || s.find(' ') != std::string::npos) {
    return "must not contain spaces or control characters";
  }
  // job_run.replica_id is text: the database refuses bytes that are not UTF-8 at every
  // claim, which tickd would otherwise only see as the database failing.
  if (json::sanitize_utf8(s) != s) return "is not valid UTF-8";
  return std::nullopt;
}

Problem log_level(std::string& s) {
  std::string v = lower(s);
  if (v == "warning") v = "warn";  // the word the log lines themselves print
  if (v != "trace" && v != "debug" && v != "info" && v != "warn" && v != "error") {
    return "'" + s + "' is not one of trace, debug, info, warn, error";
  }
  s = v;
  return std::nullopt;
}

// ---- the two keys that are not one string field ----

struct HostPort {
  std::string host;
  std::uint16_t port;
};

// host:port, where host is an IPv4 literal, a bracketed IPv6 literal or "localhost".
std::variant<HostPort, std::string> parse_host_port(std::string_view s) {
  const auto bad = [&](std::string why) {
    // Appends, not operator+ on a literal: GCC 12 at -O3 reports a false -Wrestrict there.
    std::string message = "'";
    message.append(s).append("' is not host:port (").append(why).append(")");
    return message;
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

Problem apply_http_addr(const Value&, const Raw& raw, Config& config) {
  const auto* s = std::get_if<std::string>(&raw.value);
  if (s == nullptr) return "expected a string";
  const auto hp = parse_host_port(*s);
  if (const auto* e = std::get_if<std::string>(&hp)) return *e;
  config.http_host = std::get<HostPort>(hp).host;
  config.http_port = std::get<HostPort>(hp).port;
  return std::nullopt;
}

constexpr Value kHttpAddr{
    .type = Type::string,
    .apply = &apply_http_addr,
    .show = [](const Config& config) { return format_http_addr(config); },
    .accepted = "IPv4 address, `[IPv6]` address or `localhost`, port 1 – 65535"};

Problem apply_log_format(const Value&, const Raw& raw, Config& config) {
  const auto* s = std::get_if<std::string>(&raw.value);
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

constexpr Value kLogFormat{.type = Type::string,
                           .apply = &apply_log_format,
                           .show = [](const Config& config) -> std::string {
                             return config.log_format == LogFormat::json ? "json" : "text";
                           },
                           .accepted = "`text`, `json`"};

Problem apply_api_auth(const Value&, const Raw& raw, Config& config) {
  const auto* s = std::get_if<std::string>(&raw.value);
  if (s == nullptr) return "expected a string";
  const std::string v = lower(*s);
  if (v == "writes") {
    config.api_auth_all = false;
  } else if (v == "all") {
    config.api_auth_all = true;
  } else {
    return "'" + *s + "' is not one of writes, all";
  }
  return std::nullopt;
}

constexpr Value kApiAuth{.type = Type::string,
                         .apply = &apply_api_auth,
                         .show = [](const Config& config) -> std::string {
                           return config.api_auth_all ? "all" : "writes";
                         },
                         .accepted = "`writes`, `all`"};

constexpr std::int64_t kDay = 86'400'000;
constexpr std::string_view kConninfo = "`postgres://…`, `postgresql://…` or `key=value …`";

// The keys, in the order the README and config/tickd.example.toml list them.
constexpr std::array kKeys{
    Key{.env = "DATABASE_URL",
        .toml = "database_url",
        .value = text<&Config::database_url, conninfo>(kConninfo),
        .meaning = "the database: libpq URI or key=value string; its `search_path` selects the "
                   "schema",
        .default_doc = "none; required by `run` and `migrate`"},
    Key{.env = "DATABASE_LISTEN_URL",
        .toml = "database_listen_url",
        .value = text<&Config::database_listen_url, conninfo>("as `DATABASE_URL`",
                                                              [](Config& c) {
                                                                if (c.database_listen_url.empty())
                                                                  c.database_listen_url =
                                                                      c.database_url;
                                                              }),
        .meaning = "a direct connection for change notifications (LISTEN does not work through "
                   "a transaction pooler)",
        .default_doc = "`DATABASE_URL`"},
    Key{.env = "REGION_REFRESH_INTERVAL_MS",
        .toml = "region_refresh_interval_ms",
        .value = integer<&Config::region_refresh_interval>(100, kDay),
        .meaning = "full reconcile period; notifications apply changes sooner"},
    Key{.env = "CONCURRENCY",
        .toml = "concurrency",
        .value = integer<&Config::concurrency>(1, 1'000'000),
        .meaning = "most ticks in flight in one replica"},
    Key{.env = "TICKD_HTTP_ADDR",
        .toml = "http_addr",
        .value = kHttpAddr,
        .meaning = "host:port of /metrics, /healthz, /readyz, /status"},
    Key{.env = "TICKD_REPLICA_ID",
        .toml = "replica_id",
        .value = text<&Config::replica_id, replica_name>(
            "1 – 128 bytes of UTF-8, no spaces or control characters",
            [](Config& c) {
              if (c.replica_id.empty()) c.replica_id = default_replica_id();
            }),
        .meaning = "name written to `job_run.replica_id`; unique among live replicas",
        .default_doc = "`<hostname>-<pid>`"},
    Key{.env = "MISFIRE_GRACE_MS",
        .toml = "misfire_grace_ms",
        .value = integer<&Config::misfire_grace>(1, 7 * kDay),
        .meaning = "how late a tick may still start (capped at one period)"},
    Key{.env = "SHUTDOWN_GRACE_MS",
        .toml = "shutdown_grace_ms",
        .value = integer<&Config::shutdown_grace>(1, 3'600'000),
        .meaning = "how long SIGTERM waits for in-flight ticks"},
    Key{.env = "TICK_LEASE_MS",
        .toml = "tick_lease_ms",
        .value = integer<&Config::tick_lease>(100, kDay),
        .meaning = "after how long a frozen or cut-off replica's running tick is taken over (a "
                   "crashed one's within a second)"},
    Key{.env = "CLAIM_GRACE_MS",
        .toml = "claim_grace_ms",
        .value = integer<&Config::claim_grace>(0, 3'600'000),
        .meaning = "how long a replica waits before claiming a tick that another live replica "
                   "owns (rendezvous hashing), capped at half the tick's start window"},
    // Under a second: a claimed tick runs the row it was claimed with, and hot apply
    // promises instants from commit + 1 s to follow the new row.
    Key{.env = "CLAIM_AHEAD_MS",
        .toml = "claim_ahead_ms",
        .value = integer<&Config::claim_ahead>(0, 900),
        .meaning = "how long before its instant a replica claims a tick it owns (0: at the "
                   "instant); handlers still start on the instant (see [The replica "
                   "set](#the-replica-set))"},
    Key{.env = "DB_POOL_SIZE",
        .toml = "db_pool_size",
        .value = integer<&Config::db_pool_size>(1, 1000),
        .meaning = "database connections for handler work (`tick_sql`, keepalives, the work "
                   "queues); claims, ends and reconcile reads have a pool of 4 of their own, "
                   "heartbeats one connection (see [How it works](#how-it-works))"},
    Key{.env = "TICK_TIMEOUT_MS",
        .toml = "tick_timeout_ms",
        .value = integer<&Config::tick_timeout>(1, 7 * kDay),
        .meaning = "longest one attempt of a tick may run, all handlers together, for a region "
                   "whose `timeout_ms` is NULL; past it the attempt is cancelled and fails"},
    Key{.env = "TICK_SQL_TIMEOUT_MS",
        .toml = "tick_sql_timeout_ms",
        .value = integer<&Config::tick_sql_timeout>(1, kDay),
        .meaning = "statement timeout of a region's `tick_sql`"},
    Key{.env = "LOG_LEVEL",
        .toml = "log_level",
        .value = text<&Config::log_level, log_level>(
            "`trace`, `debug`, `info`, `warn` (or `warning`), `error` (any case)"),
        .meaning = "least severe level logged"},
    Key{.env = "LOG_FORMAT",
        .toml = "log_format",
        .value = kLogFormat,
        .meaning = "log lines on stderr: text, or one JSON object per line (`ts`, `level`, "
                   "`msg`)"},
    Key{.env = "STORAGE_URL",
        .toml = "storage_url",
        .value = text<&Config::storage_url, storage_url>(
            "`file:///abs/dir` or `s3://BUCKET?endpoint=URL&region=R&path_style=…`"),
        .meaning = "object storage of the work handlers (`sync`, `upload`, `publish`); without "
                   "it their ticks fail"},
    Key{.env = "STORAGE_ACCESS_KEY_ID",
        .toml = "storage_access_key_id",
        .value = text<&Config::storage_access_key_id, secret>("string"),
        .meaning = "S3 access key id; never logged"},
    Key{.env = "STORAGE_SECRET_ACCESS_KEY",
        .toml = "storage_secret_access_key",
        .value = text<&Config::storage_secret_access_key, secret>("string"),
        .meaning = "S3 secret access key; never logged"},
    Key{.env = "CDN_BASE_URL",
        .toml = "cdn_base_url",
        .value = text<&Config::cdn_base_url, http_base_url>("`http://` or `https://`, no query"),
        .meaning = "base of the public URLs of uploaded objects",
        .default_doc = "none (the object's storage URL)"},
    Key{.env = "STORAGE_MULTIPART_THRESHOLD_BYTES",
        .toml = "storage_multipart_threshold_bytes",
        .value = integer<&Config::storage_multipart_threshold>(5 * 1024 * 1024,
                                                               5LL * 1024 * 1024 * 1024),
        .meaning = "files above this go up as S3 multipart uploads"},
    Key{.env = "JOB_LEASE_MS",
        .toml = "job_lease_ms",
        .value = integer<&Config::job_lease>(1'000, kDay),
        .meaning = "lease of a claimed upload or publish job, renewed while it runs"},
    Key{.env = "SYNC_MISSING_AFTER_MS",
        .toml = "sync_missing_after_ms",
        .value = integer<&Config::sync_missing_after>(0, 365 * kDay),
        .meaning = "`sync` marks a pending upload missing after this"},
    Key{.env = "UPLOAD_ROOT",
        .toml = "upload_root",
        .value = text<&Config::upload_root, absolute_directory>("absolute path of a directory"),
        .meaning = "the only directory `upload` reads local files from (no `..`, no symlinks); "
                   "without it every upload job fails",
        .default_doc = "none"},
    Key{.env = "PUBLISH_SOURCE_TOKEN",
        .toml = "publish_source_token",
        .value = text<&Config::publish_source_token, secret>("string"),
        .meaning = "bearer token for the http(s) sources of `publish` on "
                   "PUBLISH_SOURCE_HOSTS; never logged"},
    Key{.env = "PUBLISH_SOURCE_HOSTS",
        .toml = "publish_source_hosts",
        .value = text<&Config::publish_source_hosts, source_hosts>("comma-separated host names"),
        .meaning = "the only publish source hosts (`host` or `host:port`) that receive "
                   "PUBLISH_SOURCE_TOKEN, over https; an item prefixed `http://` allows plain "
                   "http to it",
        .default_doc = "none (the token is sent to no host)"},
    Key{.env = "PUBLISH_MAX_PIXELS",
        .toml = "publish_max_pixels",
        .value = integer<&Config::publish_max_pixels>(1, 10'000'000'000),
        .meaning = "larger images are refused before decoding"},
    Key{.env = "PUBLISH_CONCURRENCY",
        .toml = "publish_concurrency",
        .value = integer<&Config::publish_concurrency>(1, 64),
        .meaning = "images in work at once in this replica"},
    Key{.env = "PUBLISH_QUALITY",
        .toml = "publish_quality",
        .value = integer<&Config::publish_quality>(1, 100),
        .meaning = "WebP quality of published variants"},
    Key{.env = "RETENTION_DAYS",
        .toml = "retention_days",
        .value = integer<&Config::retention_days>(1, 3650),
        .meaning = "age after which finished rows are deleted (job_run: whole day partitions)"},
    Key{.env = "COMMAND_DIR",
        .toml = "command_dir",
        .value = text<&Config::command_dir, absolute_directory>("absolute path of a directory"),
        .meaning = "the only directory the `command` handler runs executables from (argv[0] "
                   "names a file directly inside it); without it `command` regions are "
                   "invalid",
        .default_doc = "none"},
    Key{.env = "HTTP_ALLOWED_HOSTS",
        .toml = "http_allowed_hosts",
        .value = text<&Config::http_allowed_hosts, host_names>("comma-separated host names"),
        .meaning = "when set, the only hosts the `http` handler may call (also after a "
                   "redirect)",
        .default_doc = "none (any host)"},
    Key{.env = "HTTP_ENV_ALLOW",
        .toml = "http_env_allow",
        .value = text<&Config::http_env_allow, env_names>("comma-separated variable names"),
        .meaning = "environment variables an `http` region may use as `{{env.NAME}}`; their "
                   "values are secrets: never logged or stored",
        .default_doc = "none"},
    Key{.env = "NOTIFY_URL",
        .toml = "notify_url",
        .value = text<&Config::notify_url, http_url>("`http://` or `https://` URL"),
        .meaning = "where events of regions whose `notify_url` is NULL are POSTed",
        .default_doc = "none (no notifications)"},
    Key{.env = "NOTIFY_SECRET",
        .toml = "notify_secret",
        .value = text<&Config::notify_secret, secret>("string"),
        .meaning = "key of the `X-Tickd-Signature` HMAC-SHA256 of each notification's body; "
                   "never logged",
        .default_doc = "none (unsigned)"},
    Key{.env = "TICKD_API_TOKEN",
        .toml = "api_token",
        .value = text<&Config::api_token, secret>("string"),
        .meaning = "bearer token that `/v1` writes need (and reads, with `TICKD_API_AUTH=all`); "
                   "never logged",
        .default_doc = "none (writes refused)"},
    Key{.env = "TICKD_API_AUTH",
        .toml = "api_auth",
        .value = kApiAuth,
        .meaning = "what needs the token: `writes`, or `all` (also `/v1` reads, `/status` and "
                   "the console; never `/metrics`, `/healthz`, `/readyz`)"},
};

}  // namespace

std::span<const Key> keys() { return kKeys; }

}  // namespace tickd::config_keys
