// `tickd region list`, `tickd region show`, `tickd runs` (to be written).
#include "cli_common.hpp"

namespace tickd::control {
int region_list(cli::Args) { throw ControlError(ControlError::Kind::bad_input, "not yet"); }
int region_show(cli::Args) { throw ControlError(ControlError::Kind::bad_input, "not yet"); }
int runs_command(cli::Args) { throw ControlError(ControlError::Kind::bad_input, "not yet"); }
}  // namespace tickd::control
