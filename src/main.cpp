// tickd: wiring only. Picks the sub-command; each lives with its component.

#include <cstdio>
#include <string_view>
#include <vector>

#include "tickd/cli.hpp"
#include "tickd/version.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage:\n"
    "  tickd run [--config FILE]             run the scheduler service (the default)\n"
    "  tickd migrate [--config FILE]         apply database migrations (idempotent)\n"
    "  tickd cron next EXPR [--from ISO8601] [--tz ZONE] [--count N]\n"
    "  tickd cron check EXPR [--tz ZONE]\n"
    "  tickd region list|show|pause|resume|trigger|backfill|cancel ...   (tickd region --help)\n"
    "  tickd runs [--region CODE] [--status S] [--since T] [--limit N] [--json]\n"
    "  tickd --version | --help\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty()) return tickd::cli::run_main({});
  const std::string_view command = args.front();
  const tickd::cli::Args rest{args.data() + 1, args.size() - 1};
  if (command == "--version" || command == "version") {
    std::printf("tickd %s\n", tickd::kVersion);
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage.data(), stdout);
    return 0;
  }
  if (command == "run") return tickd::cli::run_main(rest);
  if (command == "migrate") return tickd::cli::migrate_main(rest);
  if (command == "cron") return tickd::cli::cron_main(rest);
  if (command == "region") return tickd::cli::region_main(rest);
  if (command == "runs") return tickd::cli::runs_main(rest);
  if (command.starts_with("--config")) return tickd::cli::run_main(args);
  std::fprintf(stderr, "tickd: unknown command '%.*s'\n%s", static_cast<int>(command.size()),
               command.data(), kUsage.data());
  return 2;
}
