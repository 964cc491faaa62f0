#include <cstdio>
#include "tickd/cli.hpp"
namespace tickd::cli {
int run_main(Args) { std::fputs("tickd run: not yet built\n", stderr); return 1; }
}
