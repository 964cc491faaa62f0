#include "tickd/control/api.hpp"
