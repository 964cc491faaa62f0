// `command`: runs the region's argv (its `command` column) from COMMAND_DIR, no shell.

#include <date/date.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>
#include <variant>

#include "child_process.hpp"
#include "tickd/db/database.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/util/json.hpp"

extern char** environ;

namespace tickd {
namespace {

// tickd's own secrets, by name: they configure tickd, never the commands it runs.
constexpr std::string_view kSecretNames[] = {
    "DATABASE_URL",          "DATABASE_LISTEN_URL",
    "STORAGE_ACCESS_KEY_ID", "STORAGE_SECRET_ACCESS_KEY",
    "PUBLISH_SOURCE_TOKEN",  "TICKD_API_TOKEN",
    "NOTIFY_SECRET",         "PGPASSWORD",
};
// Set per run; a value of tickd's own under these names would only be a confusing duplicate.
constexpr std::string_view kRunNames[] = {"TICKD_REGION_ID", "TICKD_REGION_CODE",
                                          "TICKD_SCHEDULED_FOR", "TICKD_RUN_ID", "TICKD_ATTEMPT"};
// The error text quotes this much of the command's stderr at most.
constexpr std::size_t kErrorQuote = 200;

// tickd's environment without its secrets: the named ones, the names HTTP_ENV_ALLOW lists
// (they exist to be sent by `http`, not to every program), and any variable whose value holds
// a secret value under another name.
std::vector<std::string> base_environment(const Config& config) {
  std::set<std::string, std::less<>> drop(std::begin(kSecretNames), std::end(kSecretNames));
  drop.insert(std::begin(kRunNames), std::end(kRunNames));
  for (auto& name : split_config_list(config.http_env_allow)) drop.insert(std::move(name));
  const auto secrets = secret_values(config);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos || drop.contains(entry.substr(0, eq))) continue;
    const auto value = entry.substr(eq + 1);
    if (std::any_of(secrets.begin(), secrets.end(),
                    [&](const std::string& s) { return value.find(s) != std::string_view::npos; }))
      continue;
    env.emplace_back(entry);
  }
  return env;
}

struct Refused {
  std::string why;
};

// The executable the row's argv[0] names directly inside `dir` (COMMAND_DIR), or why there
// is none. A symlink is refused rather than followed: it could lead anywhere, and COMMAND_DIR
// is meant to hold exactly what the operator allows.
std::variant<std::string, Refused> executable_of(const std::string& dir, const RegionRow& row) {
  if (dir.empty()) return Refused{"command: COMMAND_DIR is not set"};
  const auto& argv = row.extras->command;
  if (!argv || argv->empty()) return Refused{"command: the region's `command` column is not set"};
  const auto& name = argv->front();
  if (name.empty()) return Refused{"command: argv[0] is empty"};
  const auto where =
      "command: '" + name + "' is not an executable file in COMMAND_DIR (" + dir + ")";
  if (name.find('/') != std::string::npos || name == "." || name == "..") {
    return Refused{where + ": argv[0] must be a file name, without '/'"};
  }
  const int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return Refused{"command: COMMAND_DIR (" + dir + "): " + std::strerror(errno)};
  struct stat st {};
  int error = 0;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    error = errno;
  } else if (!S_ISREG(st.st_mode)) {
    ::close(dirfd);
    return Refused{where + (S_ISLNK(st.st_mode) ? ": a symlink" : ": not a regular file")};
  } else if (::faccessat(dirfd, name.c_str(), X_OK, AT_EACCESS) != 0) {
    error = errno;
  }
  ::close(dirfd);
  if (error != 0) return Refused{where + ": " + std::strerror(error)};
  return dir.ends_with('/') ? dir + name : dir + "/" + name;
}

// RFC 3339 in UTC, with the fraction only when there is one.
std::string rfc3339(std::chrono::sys_time<std::chrono::microseconds> t) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  return seconds == t ? date::format("%FT%TZ", seconds) : date::format("%FT%TZ", t);
}

// The kept tail as text: a cut through a UTF-8 sequence at its start is dropped rather than
// shown as replacement characters (json::Writer replaces what else is not UTF-8).
std::string_view tail_text(const child::Stream& s) {
  std::string_view text = s.tail;
  if (s.bytes > text.size()) {
    for (int i = 0; i < 3 && !text.empty() && (text.front() & 0xC0) == 0x80; ++i) {
      text.remove_prefix(1);
    }
  }
  return text;
}

// The last non-empty line of stderr (where programs say why they failed), shortened.
std::string last_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (const auto nl = text.rfind('\n'); nl != std::string_view::npos) text.remove_prefix(nl + 1);
  if (text.size() > kErrorQuote) {
    text = text.substr(0, kErrorQuote);
    // Not through a UTF-8 sequence at the cut.
    while (!text.empty() && (text.back() & 0xC0) == 0x80) text.remove_suffix(1);
    if (!text.empty() && (text.back() & 0x80) != 0) text.remove_suffix(1);
    return json::sanitize_utf8(text) + "...";
  }
  return json::sanitize_utf8(text);
}

template <typename T>
std::string json_value(const T& v) {
  json::Writer w;
  w.value(v);
  return std::move(w).str();
}

void note(HandlerNotes& notes, const child::Ended& ended) {
  notes.add("pid", json_value(std::int64_t{ended.pid}));
  notes.add("exit_code",
            ended.exit_code ? json_value(std::int64_t{*ended.exit_code}) : std::string("null"));
  notes.add("signal", ended.signal ? json_value(child::signal_name(*ended.signal)) : "null");
  notes.add("stdout", json_value(tail_text(ended.out)));
  notes.add("stderr", json_value(tail_text(ended.err)));
  notes.add("stdout_bytes", json_value(static_cast<std::int64_t>(ended.out.bytes)));
  notes.add("stderr_bytes", json_value(static_cast<std::int64_t>(ended.err.bytes)));
}

class CommandHandler final : public Handler {
 public:
  explicit CommandHandler(const Config& config)
      : dir_(config.command_dir), base_env_(base_environment(config)) {}

  std::optional<std::string> check(const RegionRow& row) const override {
    const auto resolved = executable_of(dir_, row);
    if (const auto* refused = std::get_if<Refused>(&resolved)) return refused->why;
    return std::nullopt;
  }

  // A request may have reached its peer before a crash: run again only while max_attempts
  // allows another attempt.
  bool repeatable() const override { return false; }

  HandlerCounts run(const TickContext& tick, HandlerNotes& notes) override {
    const auto& row = tick.region;
    // Checked again: COMMAND_DIR's contents may have changed since the region was validated.
    auto resolved = executable_of(dir_, row);
    if (const auto* refused = std::get_if<Refused>(&resolved)) {
      throw HandlerError(refused->why, HandlerError::Retry::never);
    }
    if (tick.should_stop()) throw std::runtime_error("command: not started (the tick is ending)");
    child::Spec spec;
    spec.path = std::move(std::get<std::string>(resolved));
    spec.argv = *row.extras->command;
    spec.env = base_env_;
    spec.env.push_back("TICKD_REGION_ID=" + std::to_string(row.id));
    spec.env.push_back("TICKD_REGION_CODE=" + row.code);
    spec.env.push_back("TICKD_SCHEDULED_FOR=" + rfc3339(tick.scheduled_for));
    if (tick.run != nullptr) {
      spec.env.push_back("TICKD_RUN_ID=" + std::to_string(tick.run->run_id));
      spec.env.push_back("TICKD_ATTEMPT=" + std::to_string(tick.run->attempt));
    }
    child::Ended ended;
    try {
      // The timeout, a cancel and shutdown all end the command the same way: its group gets
      // SIGTERM, then SIGKILL 5 s later.
      ended = child::run(spec, [&] { return tick.cut_short() || tick.stop.stop_requested(); });
    } catch (const std::system_error& e) {
      const int code = e.code().value();
      const bool permanent = code == ENOENT || code == EACCES || code == ENOEXEC ||
                             code == ENOTDIR || code == ELOOP || code == EISDIR;
      throw HandlerError("command: could not start " + spec.path + ": " + std::strerror(code),
                         permanent ? HandlerError::Retry::never : HandlerError::Retry::policy);
    }
    note(notes, ended);
    if (ended.exit_code == 0) return {};
    std::string error = ended.exit_code
                            ? "exit status " + std::to_string(*ended.exit_code)
                            : "killed by signal " + child::signal_name(ended.signal.value_or(0));
    // A timeout or a cancel is named by the tick's error already.
    if (ended.terminated && !tick.cut_short()) error += " (tickd is shutting down)";
    if (const auto line = last_line(ended.err.tail); !line.empty()) error += ": " + line;
    throw HandlerError(error);
  }

 private:
  std::string dir_;
  std::vector<std::string> base_env_;  // computed once: environ is not to be read per run
};

}  // namespace

std::unique_ptr<Handler> make_command_handler(const Config& config) {
  return std::make_unique<CommandHandler>(config);
}

}  // namespace tickd
