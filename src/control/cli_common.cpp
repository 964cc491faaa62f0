#include "cli_common.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "tickd/db/database.hpp"

namespace tickd::control {

std::optional<std::string> Parsed::value(std::string_view name) const {
  const auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

Parsed parse_args(cli::Args args, std::initializer_list<std::string_view> with_value,
                  std::initializer_list<std::string_view> flags) {
  const auto takes_value = [&](std::string_view name) {
    return name == "--config" ||
           std::find(with_value.begin(), with_value.end(), name) != with_value.end();
  };
  const auto is_flag = [&](std::string_view name) {
    return std::find(flags.begin(), flags.end(), name) != flags.end();
  };
  Parsed p;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (!arg.starts_with("--") || arg == "--") {
      p.positional.emplace_back(arg);
      continue;
    }
    const auto eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    if (takes_value(name)) {
      if (eq != std::string_view::npos) {
        p.values[std::string(name)] = std::string(arg.substr(eq + 1));
      } else if (i + 1 < args.size()) {
        p.values[std::string(name)] = std::string(args[++i]);
      } else {
        throw ControlError(ControlError::Kind::bad_input, std::string(name) + " needs a value");
      }
    } else if (is_flag(name) && eq == std::string_view::npos) {
      p.flags.emplace(name);
    } else {
      throw ControlError(ControlError::Kind::bad_input,
                         "unknown option '" + std::string(arg) + "'");
    }
  }
  return p;
}

std::string default_actor() {
  const char* user = std::getenv("USER");
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(user && *user ? user : "unknown") + "@" + (host[0] ? host : "localhost");
}

std::string actor_of(const Parsed& p) {
  const auto by = p.value("--by");
  if (!by) return default_actor();
  if (by->empty() || by->size() > 200) {
    throw ControlError(ControlError::Kind::bad_input, "--by must be 1 to 200 bytes");
  }
  if (std::any_of(by->begin(), by->end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    throw ControlError(ControlError::Kind::bad_input, "--by must not contain control characters");
  }
  return *by;
}

Session open_session(const Parsed& p) {
  std::optional<std::filesystem::path> file;
  if (const auto f = p.value("--config")) file = *f;
  auto loaded = load_config(file, process_environment());
  if (const auto* e = std::get_if<ConfigError>(&loaded)) {
    throw ControlError(ControlError::Kind::bad_input, e->message);
  }
  Session s{std::move(std::get<Config>(loaded)), nullptr};
  if (s.config.database_url.empty()) {
    throw ControlError(ControlError::Kind::bad_input,
                       "DATABASE_URL is not set (set it in the environment, or database_url in "
                       "the --config file)");
  }
  // An unreachable host should fail in seconds, not hang; an explicit setting wins.
  setenv("PGCONNECT_TIMEOUT", "10", 0);
  s.store =
      std::make_unique<ControlStore>(s.config.database_url, ControlStore::kStatementTimeout, 1);
  return s;
}

int report(std::string_view command, const std::exception_ptr& error) {
  // The URL whose password to scrub, when the environment names one.
  const char* url = std::getenv("DATABASE_URL");
  const auto say = [&](const std::string& what) {
    const std::string line = url ? scrub_password(what, url) : what;
    std::fprintf(stderr, "tickd %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                 line.c_str());
  };
  try {
    std::rethrow_exception(error);
  } catch (const ControlError& e) {
    say(e.what());
    return e.kind() == ControlError::Kind::conflict ? kRefused : kUsage;
  } catch (const DbError& e) {
    say(e.what());
    return kRefused;
  } catch (const std::exception& e) {
    say(e.what());
    return kRefused;
  }
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size());
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

Micros now_micros() {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::string ago(Micros t, Micros now) {
  using namespace std::chrono;
  const auto d = now - t;
  const auto s = duration_cast<seconds>(d >= d.zero() ? d : -d).count();
  std::string amount;
  if (s < 120) {
    amount = std::to_string(s) + " s";
  } else if (s < 7200) {
    amount = std::to_string(s / 60) + " min";
  } else if (s < 2 * 86400) {
    amount = std::to_string(s / 3600) + " h";
  } else {
    amount = std::to_string(s / 86400) + " d";
  }
  return d >= d.zero() ? amount + " ago" : "in " + amount;
}

}  // namespace tickd::control
