// `tickd cron next|check`: the command-line face of the cron engine (spec: "Command line").
// Output on stdout only; every error is one line on stderr and exit status 2.

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "calendar.hpp"
#include "text.hpp"
#include "tickd/cli.hpp"
#include "tickd/cron/cron.hpp"
#include "tickd/cron/timestamp.hpp"

namespace tickd::cli {
namespace {

using cron::detail::cat;

constexpr std::string_view kUsage =
    "usage:\n"
    "  tickd cron next EXPR [--from ISO8601] [--tz ZONE] [--count N]\n"
    "  tickd cron check EXPR [--tz ZONE]\n";

constexpr int kDefaultCount = 5;
constexpr int kMaxCount = 100000;

struct Options {
  std::optional<std::string_view> expr;
  std::string_view tz = "UTC";
  std::optional<std::string_view> from;
  std::optional<std::string_view> count;
};

class Command {
 public:
  explicit Command(std::string_view name) : name_(name) {}

  // One line on stderr, prefixed with the command; returns the exit status for input errors.
  int fail(const std::string& what) const {
    std::fprintf(stderr, "tickd cron %.*s: %s\n", static_cast<int>(name_.size()), name_.data(),
                 what.c_str());
    return 2;
  }

  // Fills `out` from args; on error returns the exit status.
  std::optional<int> read(Args args, bool is_next, Options& out) const {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string_view arg = args[i];
      if (arg.size() < 2 || arg[0] != '-') {
        if (out.expr) {
          return fail(
              cat("unexpected argument '", arg, "'; quote the expression, e.g. '*/5 * * * *'"));
        }
        out.expr = arg;
        continue;
      }
      const std::size_t eq = arg.find('=');
      const std::string_view key = arg.substr(0, eq);
      std::optional<std::string_view>* slot = nullptr;
      std::optional<std::string_view> tz;
      if (key == "--tz") {
        slot = &tz;
      } else if (is_next && key == "--from") {
        slot = &out.from;
      } else if (is_next && key == "--count") {
        slot = &out.count;
      } else {
        return fail(cat("unknown option '", key, "' (see tickd cron --help)"));
      }
      if (eq != std::string_view::npos) {
        *slot = arg.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        *slot = args[++i];
      } else {
        return fail(cat("option ", key, " needs a value"));
      }
      if (tz) out.tz = *tz;
    }
    if (!out.expr) return fail("missing EXPR (see tickd cron --help)");
    return std::nullopt;
  }

 private:
  std::string_view name_;
};

int run(std::string_view name, Args args) {
  const Command cmd(name);
  const bool is_next = name == "next";
  Options opt;
  if (auto status = cmd.read(args, is_next, opt)) return *status;

  auto parsed = cron::parse(*opt.expr);
  if (auto* err = std::get_if<cron::ParseError>(&parsed)) {
    return cmd.fail(cat("invalid expression '", *opt.expr, "': ", err->message));
  }
  auto zone = cron::find_zone(opt.tz);
  if (auto* err = std::get_if<cron::ParseError>(&zone)) return cmd.fail(err->message);
  if (!is_next) return 0;

  int count = kDefaultCount;
  if (opt.count) {
    const std::string_view c = *opt.count;
    bool ok = !c.empty() && c.size() <= 6;
    int v = 0;
    for (char ch : c) {
      ok = ok && ch >= '0' && ch <= '9';
      if (ok) v = v * 10 + (ch - '0');
    }
    if (!ok || v < 1 || v > kMaxCount) {
      return cmd.fail(cat("--count: '", c, "' is not a whole number from 1 to ", kMaxCount));
    }
    count = v;
  }

  std::chrono::sys_seconds t =
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  if (opt.from) {
    auto from = cron::parse_rfc3339(*opt.from);
    if (auto* why = std::get_if<std::string>(&from)) {
      return cmd.fail(cat("--from: '", *opt.from,
                          "' is not an RFC 3339 time such as 2026-03-08T06:00:00Z: ", *why));
    }
    t = std::get<std::chrono::sys_seconds>(from);
    if (t.time_since_epoch().count() < cron::detail::kMinSearchSeconds) {
      return cmd.fail(cat("--from: '", *opt.from,
                          "' is before 0000-01-03T00:00:00Z, the earliest instant tickd "
                          "searches from"));
    }
  }

  const cron::Expr& expr = std::get<cron::Expr>(parsed);
  const date::time_zone* tz = std::get<const date::time_zone*>(zone);
  std::string out;
  int printed = 0;
  for (; printed < count; ++printed) {
    const auto next = cron::next_after(expr, tz, t);
    if (!next) break;
    out += cron::format_rfc3339(*next);
    out += '\n';
    t = *next;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) return 1;
  if (printed == 0) {
    std::fprintf(stderr, "tickd cron next: '%s' never fires before the year 10000\n",
                 std::string(*opt.expr).c_str());
  } else if (printed < count) {
    std::fprintf(stderr, "tickd cron next: '%s' fires only %d more times before the year 10000\n",
                 std::string(*opt.expr).c_str(), printed);
  }
  return 0;
}

}  // namespace

int cron_main(Args args) {
  if (args.empty()) {
    std::fputs("tickd cron: missing sub-command: next or check (see tickd cron --help)\n", stderr);
    return 2;
  }
  const std::string_view sub = args.front();
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(kUsage.data(), stdout);
    return 0;
  }
  if (sub == "next" || sub == "check") return run(sub, args.subspan(1));
  std::fprintf(stderr,
               "tickd cron: unknown sub-command '%.*s': next or check (see tickd cron --help)\n",
               static_cast<int>(sub.size()), sub.data());
  return 2;
}

}  // namespace tickd::cli
