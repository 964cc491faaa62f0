#include <cstdio>
#include "tickd/cli.hpp"
namespace tickd::cli {
int cron_main(Args) { std::fputs("tickd cron: not yet built\n", stderr); return 1; }
}
