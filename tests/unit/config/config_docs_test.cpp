// The configuration's documentation cannot drift from the key table: the README's table is
// rendered from it, and config/tickd.example.toml documents every key, with its default, in
// the table's order, and nothing else.

#include "tickd/config/config_docs.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tickd/config/config.hpp"

namespace {

using tickd::Config;
using tickd::ConfigKeyDoc;

// A file of the source tree. Meson compiles with source paths relative to the build
// directory, where meson test runs.
std::filesystem::path source_file(const std::string& relative) {
  auto path = std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / relative;
  if (!std::filesystem::exists(path) && path.is_relative()) path = ".." / path;
  REQUIRE_MESSAGE(std::filesystem::exists(path), path.string());
  return path;
}

std::string read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

tickd::EnvLookup env_of(std::map<std::string, std::string, std::less<>> env) {
  return [env = std::move(env)](std::string_view name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

Config load(const std::optional<std::filesystem::path>& file,
            std::map<std::string, std::string, std::less<>> env = {}) {
  const auto r = tickd::load_config(file, env_of(std::move(env)));
  if (const auto* e = std::get_if<tickd::ConfigError>(&r)) FAIL("refused: " << e->message);
  return std::get<Config>(r);
}

std::string without_backticks(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '`'), s.end());
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

// What config/tickd.example.toml says about keys: each block (lines between blank lines)
// documents one key with a "# env: NAME   default: TEXT" line and one or more key lines,
// "key = value" or commented "# key = value".
struct ExampleKey {
  int block = 0;
  int line = 0;
  std::string default_text;  // after "default:", empty when absent
};
struct ExampleLine {
  int block = 0;
  int line = 0;
  std::string key;
  bool commented = false;
};
struct Example {
  std::vector<std::pair<std::string, ExampleKey>> envs;  // in file order
  std::vector<ExampleLine> key_lines;
};

// "name = ..." with a lower-case TOML bare key, or the same behind "# ".
std::optional<ExampleLine> key_line(std::string_view line) {
  ExampleLine out;
  if (line.starts_with("# ")) {
    line.remove_prefix(2);
    out.commented = true;
  }
  const auto eq = line.find(" = ");
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  const auto name = line.substr(0, eq);
  const bool bare = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!bare || !(name[0] >= 'a' && name[0] <= 'z')) return std::nullopt;
  out.key = std::string(name);
  return out;
}

Example parse_example(const std::string& text) {
  Example out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  int block = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) {
      ++block;
      continue;
    }
    if (line.starts_with("# env:")) {
      std::string_view rest = std::string_view(line).substr(6);
      ExampleKey key{block, number, ""};
      if (const auto d = rest.find("default:"); d != std::string_view::npos) {
        key.default_text = trim(rest.substr(d + 8));
        rest = rest.substr(0, d);
      }
      out.envs.emplace_back(trim(rest), key);
    } else if (auto k = key_line(line)) {
      k->block = block;
      k->line = number;
      out.key_lines.push_back(*k);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("every key has distinct names, a meaning and what it accepts") {
  std::set<std::string> envs;
  std::set<std::string> tomls;
  for (const ConfigKeyDoc& key : tickd::config_key_docs()) {
    CAPTURE(key.env);
    CHECK(envs.insert(key.env).second);
    CHECK(tomls.insert(key.toml).second);
    CHECK(!key.meaning.empty());
    CHECK(!key.accepted.empty());
    CHECK(key.meaning.find('|') == std::string::npos);  // would split the README's row
    CHECK(key.accepted.find('|') == std::string::npos);
  }
}

TEST_CASE("the contract's variables are keys, with the contract's defaults") {
  std::map<std::string, std::optional<std::string>> literal;
  for (const ConfigKeyDoc& key : tickd::config_key_docs()) literal[key.env] = key.literal_default;
  // spec: "Configuration"
  const std::map<std::string, std::optional<std::string>> contract{
      {"DATABASE_URL", std::nullopt},
      {"REGION_REFRESH_INTERVAL_MS", "300000"},
      {"CONCURRENCY", "4"},
      {"TICKD_HTTP_ADDR", "127.0.0.1:9464"},
      {"TICKD_REPLICA_ID", std::nullopt},
      {"MISFIRE_GRACE_MS", "60000"},
      {"SHUTDOWN_GRACE_MS", "30000"},
      {"TICK_LEASE_MS", "10000"},
      {"DB_POOL_SIZE", "8"},
      {"DATABASE_LISTEN_URL", std::nullopt},
      {"LOG_LEVEL", "info"},
      {"LOG_FORMAT", "text"},
  };
  for (const auto& [env, value] : contract) {
    CAPTURE(env);
    REQUIRE(literal.contains(env));
    CHECK(literal[env] == value);
  }
}

TEST_CASE("every literal default is a value its key accepts, and reads back as the default") {
  const Config defaults = load(std::nullopt);
  for (const ConfigKeyDoc& key : tickd::config_key_docs()) {
    if (!key.literal_default) continue;
    CAPTURE(key.env);
    CAPTURE(*key.literal_default);
    CHECK(load(std::nullopt, {{key.env, *key.literal_default}}) == defaults);
  }
}

TEST_CASE("the keys without a literal default say what they default to") {
  std::map<std::string, std::string> shown;
  for (const ConfigKeyDoc& key : tickd::config_key_docs()) {
    if (!key.literal_default) shown[key.env] = key.default_value;
  }
  CHECK(shown["DATABASE_URL"] == "none; required by `run` and `migrate`");
  CHECK(shown["DATABASE_LISTEN_URL"] == "`DATABASE_URL`");
  CHECK(shown["TICKD_REPLICA_ID"] == "`<hostname>-<pid>`");
  CHECK(shown["STORAGE_URL"] == "none");
  CHECK(shown["STORAGE_SECRET_ACCESS_KEY"] == "none");
}

TEST_CASE("the README's configuration table is the key table") {
  const std::string readme = read(source_file("README.md"));
  const auto rendered = tickd::with_config_table(readme);
  REQUIRE_MESSAGE(rendered.has_value(), "README.md has no '| environment variable | TOML key |'");
  const bool current = *rendered == readme;  // not CHECK(a == b): that prints the README twice
  CHECK_MESSAGE(current,
                "README.md's configuration table is stale; `meson compile -C build config-table` "
                "rewrites it as:\n"
                    << tickd::config_markdown_table());
}

TEST_CASE("the example file documents every key once, in table order, with its default") {
  const std::string text = read(source_file("config/tickd.example.toml"));
  const Example example = parse_example(text);
  const auto docs = tickd::config_key_docs();

  std::map<std::string, const ConfigKeyDoc*> by_env;
  std::map<std::string, const ConfigKeyDoc*> by_toml;
  for (const ConfigKeyDoc& key : docs) {
    by_env[key.env] = &key;
    by_toml[key.toml] = &key;
  }

  // No stale names: every "# env:" line and every key line names a key of the table.
  std::vector<std::string> order;
  std::map<std::string, ExampleKey> env_lines;
  for (const auto& [env, where] : example.envs) {
    CAPTURE(where.line);
    CHECK_MESSAGE(by_env.contains(env), "config/tickd.example.toml:"
                                            << where.line << ": unknown variable '" << env << "'");
    CHECK_MESSAGE(env_lines.emplace(env, where).second,
                  "config/tickd.example.toml:" << where.line << ": " << env << " again");
    order.push_back(env);
  }
  for (const ExampleLine& k : example.key_lines) {
    CHECK_MESSAGE(by_toml.contains(k.key),
                  "config/tickd.example.toml:" << k.line << ": unknown key '" << k.key << "'");
  }

  // Every key: its "# env:" line, its default, and its key line in the same block.
  std::vector<std::string> expected_order;
  for (const ConfigKeyDoc& key : docs) {
    CAPTURE(key.env);
    const auto it = env_lines.find(key.env);
    if (it == env_lines.end()) {
      FAIL_CHECK("config/tickd.example.toml has no '# env: " << key.env << "' block");
      continue;
    }
    expected_order.push_back(key.env);
    const ExampleKey& where = it->second;
    const std::string plain = key.literal_default.value_or(without_backticks(key.default_value));
    CHECK_MESSAGE((where.default_text == plain || where.default_text.starts_with(plain + " (")),
                  "config/tickd.example.toml:" << where.line << ": " << key.env
                                               << " says default: '" << where.default_text
                                               << "', the table '" << plain << "'");
    const bool has_line = std::any_of(
        example.key_lines.begin(), example.key_lines.end(),
        [&](const ExampleLine& k) { return k.key == key.toml && k.block == where.block; });
    CHECK_MESSAGE(has_line, "config/tickd.example.toml:" << where.line << ": no '" << key.toml
                                                         << " = ...' line next to '# env: "
                                                         << key.env << "'");
    // A key with a literal default shows it set; the others show commented examples.
    for (const ExampleLine& k : example.key_lines) {
      if (k.key == key.toml && k.block == where.block) {
        CHECK_MESSAGE(k.commented != key.literal_default.has_value(),
                      "config/tickd.example.toml:"
                          << k.line << ": " << key.toml
                          << (k.commented ? " is commented out" : " is set, to no default"));
      }
    }
  }
  CHECK(order == expected_order);
}

TEST_CASE("the example file sets exactly the defaults") {
  CHECK(load(source_file("config/tickd.example.toml")) == load(std::nullopt));
}
