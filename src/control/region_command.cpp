// `tickd region VERB ...` and `tickd runs ...`: picks the verb; each lives in
// read_commands.cpp (list, show, runs) or action_commands.cpp (the rest).

#include <cstdio>
#include <string_view>

#include "cli_common.hpp"

namespace tickd::cli {
namespace {

constexpr const char* kUsageText =
    "usage:\n"
    "  tickd region list [--json]\n"
    "  tickd region show CODE [--json]                 row, policies, next 5 fires, runs, audit\n"
    "  tickd region pause CODE [--reason TEXT] [--by WHO]\n"
    "  tickd region resume CODE [--by WHO]\n"
    "  tickd region trigger CODE [--wait] [--by WHO]   one run now, exactly once\n"
    "  tickd region backfill CODE --from T --to T [--dry-run] [--by WHO]\n"
    "  tickd region cancel CODE [--by WHO]             stop the running tick\n"
    "  tickd runs [--region CODE] [--status S] [--since T] [--limit N] [--cursor C | --before ID]\n"
    "             [--json]\n"
    "Every command also takes --config FILE (DATABASE_URL from it or the environment).\n"
    "T: RFC 3339 (2026-03-08T10:00:00Z, an offset) or a date (2026-03-08, its UTC midnight).\n"
    "Exit status: 0 done; 1 refused by the region's state (or a run that did not end ok);\n"
    "2 bad usage, an unknown region code or a bad time.\n";

bool wants_help(Args args) {
  for (const auto a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

}  // namespace

int region_main(Args args) {
  if (args.empty() || wants_help(args)) {
    std::fputs(kUsageText, args.empty() ? stderr : stdout);
    return args.empty() ? control::kUsage : control::kOk;
  }
  const std::string_view verb = args.front();
  const Args rest{args.data() + 1, args.size() - 1};
  if (verb == "list") return control::region_list(rest);
  if (verb == "show") return control::region_show(rest);
  if (verb == "pause") return control::region_pause(rest);
  if (verb == "resume") return control::region_resume(rest);
  if (verb == "trigger") return control::region_trigger(rest);
  if (verb == "backfill") return control::region_backfill(rest);
  if (verb == "cancel") return control::region_cancel(rest);
  std::fprintf(stderr, "tickd region: unknown verb '%.*s'\n%s", static_cast<int>(verb.size()),
               verb.data(), kUsageText);
  return control::kUsage;
}

int runs_main(Args args) {
  if (wants_help(args)) {
    std::fputs(kUsageText, stdout);
    return control::kOk;
  }
  return control::runs_command(args);
}

}  // namespace tickd::cli
