// Configuration: TOML file, then the environment, then Config's defaults. Every value is
// validated here, once, by its entry in the key table (keys.cpp), so the rest of tickd can
// trust a Config.

#include "tickd/config/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "keys.hpp"

namespace tickd {
namespace {

using config_keys::Key;
using config_keys::keys;
using config_keys::Raw;
using config_keys::Type;

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
  for (const Key& key : keys()) {
    const std::size_t d = edit_distance(unknown, key.toml);
    if (d < best_distance) {
      best_distance = d;
      best = key.toml;
    }
  }
  if (best.empty()) return "";
  return " (did you mean '" + std::string(best) + "'?)";
}

// Reads the TOML file into raw values, refusing unknown keys and non-scalar values.
std::optional<ConfigError> read_file(const std::filesystem::path& file,
                                     std::vector<std::optional<Raw>>& raws) {
  const std::string name = file.string();
  // Only a regular file (a symlink to one is fine): a directory or /dev/null would read as
  // empty and start on defaults, a FIFO would block the start forever, /dev/zero never end.
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    const char* what = std::filesystem::is_directory(status) ? "a directory"
                       : std::filesystem::is_fifo(status)    ? "a FIFO"
                                                             : "a device or special file";
    return ConfigError{"config file " + name + ": not a regular file (" + what + ")"};
  }
  constexpr std::uintmax_t kMaxBytes = 1 << 20;
  if (std::filesystem::file_size(file, ec) > kMaxBytes && !ec) {
    return ConfigError{"config file " + name + ": larger than 1 MiB; not a tickd config file?"};
  }
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
    const auto all = keys();
    const auto it =
        std::find_if(all.begin(), all.end(), [&](const Key& key) { return key.toml == key_name; });
    if (it == all.end()) {
      return ConfigError{name + ":" + std::to_string(k.source().begin.line) + ": unknown key '" +
                         key_name + "'" + suggestion(key_name)};
    }
    const bool numeric = it->value.type == Type::integer;
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
    raws[static_cast<std::size_t>(it - all.begin())] = std::move(raw);
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
  if (id.size() > config_keys::kMaxReplicaIdLength) {
    id.erase(0, id.size() - config_keys::kMaxReplicaIdLength);
  }
  return id;
}

std::vector<std::string> split_config_list(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return items;
}

std::string format_http_addr(const Config& config) {
  if (config.http_host.find(':') != std::string::npos) {
    return "[" + config.http_host + "]:" + std::to_string(config.http_port);
  }
  return config.http_host + ":" + std::to_string(config.http_port);
}

std::variant<Config, ConfigError> load_config(const std::optional<std::filesystem::path>& file,
                                              const EnvLookup& env) {
  const auto all = keys();
  std::vector<std::optional<Raw>> raws(all.size());
  if (file) {
    if (auto error = read_file(*file, raws)) return *error;
  }
  // The environment wins over the file. An empty variable counts as unset, as in most
  // container tooling, where "VAR=" is how a value is left out.
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (auto v = env(all[i].env); v && !v->empty()) {
      raws[i] = Raw{*v, std::string(all[i].env)};
    }
  }
  // Keys that are given neither way keep Config's defaults.
  Config config;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (!raws[i]) continue;
    if (auto problem = all[i].value.apply(all[i].value, *raws[i], config)) {
      return ConfigError{raws[i]->where + ": " + *problem};
    }
  }
  for (const Key& key : all) {
    if (key.value.fill != nullptr) key.value.fill(config);
  }
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
