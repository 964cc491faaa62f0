#include <cstdio>
#include "tickd/cli.hpp"
namespace tickd::cli {
int migrate_main(Args) { std::fputs("tickd migrate: not yet built\n", stderr); return 1; }
}
