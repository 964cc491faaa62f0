// `meson compile -C build config-table`: rewrites the configuration table of the README named
// by the argument from the key table (src/config/keys.cpp). config_docs_test fails until the
// README is current.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tickd/config/config_docs.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fputs("usage: write_config_table README.md\n", stderr);
    return 2;
  }
  const std::filesystem::path path(argv[1]);
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "%s: cannot open\n", path.c_str());
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const auto rendered = tickd::with_config_table(readme);
  if (!rendered) {
    std::fprintf(stderr, "%s: no table whose header starts '| environment variable | TOML key |'\n",
                 path.c_str());
    return 1;
  }
  if (*rendered == readme) {
    std::printf("%s: the configuration table is current\n", path.c_str());
    return 0;
  }
  const std::filesystem::path temp = path.string() + ".tmp";
  std::ofstream(temp) << *rendered;
  std::filesystem::rename(temp, path);
  std::printf("%s: configuration table rewritten\n", path.c_str());
  return 0;
}
