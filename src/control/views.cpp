#include "views.hpp"
