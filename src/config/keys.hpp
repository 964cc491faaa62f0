#pragma once
// Internal to src/config: the table of configuration keys (keys.cpp). One entry per key holds
// everything about it: its environment variable and TOML key, how its value is parsed and
// checked, where it goes in Config, its range or accepted values and its one-line meaning.
// The default is Config's member initializer; the entry shows it. load_config, the README's
// configuration table (config_docs.cpp) and the test of config/tickd.example.toml all read
// this table, so adding a key is a field in Config plus one entry here.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "tickd/config/config.hpp"

namespace tickd::config_keys {

// A value before validation: TOML gives typed values, the environment strings.
struct Raw {
  std::variant<std::string, std::int64_t> value;
  std::string where;  // "file:line: key" or "ENV_NAME", the prefix of every error
};

// What a key's value must be in the TOML file; the environment always gives a string.
enum class Type { integer, string };

struct Value;
// Parses and checks `raw` and stores it in `config`; on refusal, says why (without the
// prefix naming the key).
using Apply = std::optional<std::string> (*)(const Value& value, const Raw& raw, Config& config);
// The key's value in `config`, as the docs write it ("300000", "127.0.0.1:9464", "").
using Show = std::string (*)(const Config& config);
// Runs after every key is applied, to fill a default that depends on other keys.
using Fill = void (*)(Config& config);

// How one key is read, checked, stored and shown.
struct Value {
  Type type = Type::string;
  Apply apply = nullptr;
  Show show = nullptr;
  std::int64_t min = 0;  // integers: the inclusive range
  std::int64_t max = 0;
  std::string_view unit = {};      // integers: appended to a range error, " (milliseconds)"
  std::string_view accepted = {};  // strings: the values accepted, markdown
  Fill fill = nullptr;
};

struct Key {
  std::string_view env;      // "CONCURRENCY"
  std::string_view toml;     // "concurrency"
  Value value;               // integer<&Config::concurrency>(1, 1'000'000), ...
  std::string_view meaning;  // one line, markdown
  // The default as the docs state it, when Config{}'s value does not say it
  // ("none; required by `run` and `migrate`"). Empty: shown from Config{}, "none" if empty.
  std::string_view default_doc = {};
};

// Every key, in the order the docs list them.
std::span<const Key> keys();

// Longest TICKD_REPLICA_ID, also the cap of its default.
constexpr std::size_t kMaxReplicaIdLength = 128;

}  // namespace tickd::config_keys
