#include "api_routes.hpp"
