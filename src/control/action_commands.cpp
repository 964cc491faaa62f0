#include "cli_common.hpp"
namespace tickd::control {
int region_pause(cli::Args) { return kUsage; }
int region_resume(cli::Args) { return kUsage; }
int region_trigger(cli::Args) { return kUsage; }
int region_backfill(cli::Args) { return kUsage; }
int region_cancel(cli::Args) { return kUsage; }
}  // namespace tickd::control
