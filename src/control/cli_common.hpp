#pragma once
// Internal to src/control: what every control sub-command (`tickd region ...`, `tickd runs`)
// shares: its options, the configuration and store it opens, and how an error becomes a
// line on stderr and an exit status (the contract's: 0 done, 1 refused by the region's
// state, 2 bad usage, an unknown region or a bad time).

#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tickd/cli.hpp"
#include "tickd/config/config.hpp"
#include "tickd/db/control_store.hpp"

namespace tickd::control {

inline constexpr int kOk = 0;
inline constexpr int kRefused = 1;  // also: a run that did not end ok (trigger --wait)
inline constexpr int kUsage = 2;

// One sub-command's command line: positional arguments, and options as given.
struct Parsed {
  std::vector<std::string> positional;
  std::map<std::string, std::string, std::less<>> values;  // --name VALUE / --name=VALUE
  std::set<std::string, std::less<>> flags;                // --name
  bool has(std::string_view flag) const { return flags.contains(flag); }
  std::optional<std::string> value(std::string_view name) const;
};

// Parses `args` against the options the sub-command takes: `with_value` take a value
// (--config is always one of them), `flags` none. Throws ControlError(bad_input) naming
// an unknown option or a missing value.
Parsed parse_args(cli::Args args, std::initializer_list<std::string_view> with_value,
                  std::initializer_list<std::string_view> flags);

// `$USER@hostname` (the default of --by).
std::string default_actor();
// The --by value, checked (non-empty, printable, at most 200 bytes), or default_actor().
std::string actor_of(const Parsed& p);

// The configuration (--config FILE, then the environment) and a store on DATABASE_URL;
// throws ControlError(bad_input) saying what is missing or wrong.
struct Session {
  Config config;
  std::unique_ptr<ControlStore> store;
};
Session open_session(const Parsed& p);

// Runs `body` and maps what it throws to a line on stderr ("tickd <command>: <what>") and
// the exit status. Secrets of DATABASE_URL are scrubbed from database errors.
template <typename Body>
int run_command(std::string_view command, Body&& body);

// Printing helpers: a table with aligned columns (the header first), and a time.
void print_table(const std::vector<std::vector<std::string>>& rows);
std::string ago(Micros t, Micros now);  // "12 s ago", "3 min ago", "in 5 s"
Micros now_micros();

int report(std::string_view command, const std::exception_ptr& error);

template <typename Body>
int run_command(std::string_view command, Body&& body) {
  try {
    return body();
  } catch (...) {
    return report(command, std::current_exception());
  }
}

// The sub-commands (read_commands.cpp, action_commands.cpp); args after the verb.
int region_list(cli::Args args);
int region_show(cli::Args args);
int runs_command(cli::Args args);
int region_pause(cli::Args args);
int region_resume(cli::Args args);
int region_trigger(cli::Args args);
int region_backfill(cli::Args args);
int region_cancel(cli::Args args);

}  // namespace tickd::control
