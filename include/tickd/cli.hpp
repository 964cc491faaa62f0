#pragma once
// Sub-commands of the tickd executable. Each gets the arguments after its own name and
// returns the process exit status (0 ok, 2 usage or input error, 1 runtime failure).

#include <span>
#include <string_view>

namespace tickd::cli {

using Args = std::span<const std::string_view>;

int cron_main(Args args);     // tickd cron next|check ...      (src/cron/cron_command.cpp)
int migrate_main(Args args);  // tickd migrate [--config FILE]  (src/db/migrate_command.cpp)
int run_main(Args args);      // tickd run [--config FILE]      (src/service/run_command.cpp)
int region_main(Args args);   // tickd region VERB ...          (src/control/region_command.cpp)
int runs_main(Args args);     // tickd runs [...]               (src/control/region_command.cpp)

}  // namespace tickd::cli
