#include "control_internal.hpp"
