// The `command` handler's check of a row: argv[0] must name a regular executable file
// directly inside COMMAND_DIR (a temporary directory here, with one file of each kind).

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tickd/handlers/handler.hpp"

namespace {

namespace fs = std::filesystem;

struct CommandDir {
  CommandDir() {
    char tmpl[] = "/tmp/tickd-command-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
    std::ofstream(path / "run.sh") << "#!/bin/sh\n";
    ::chmod((path / "run.sh").c_str(), 0755);
    std::ofstream(path / "plain.txt") << "not a program\n";
    fs::create_directory(path / "sub");
    fs::create_symlink("/bin/true", path / "true-link");
  }
  ~CommandDir() { fs::remove_all(path); }
  fs::path path;
};

std::optional<std::string> check(const std::string& dir,
                                 std::optional<std::vector<std::string>> argv) {
  tickd::Config config;
  config.command_dir = dir;
  tickd::RegionRow row;
  row.handlers = {"command"};
  if (argv) {
    tickd::RegionExtras extras;
    extras.command = std::move(argv);
    row.extras = std::move(extras);
  }
  return tickd::make_command_handler(config)->check(row);
}

}  // namespace

TEST_CASE("a regular executable directly inside COMMAND_DIR runs, with any arguments") {
  const CommandDir d;
  CHECK_FALSE(check(d.path, std::vector<std::string>{"run.sh", "--full", "a/b", ".."}));
}

TEST_CASE("without COMMAND_DIR or a command, the region is refused") {
  const CommandDir d;
  CHECK(check("", std::vector<std::string>{"run.sh"}) == "command: COMMAND_DIR is not set");
  CHECK(check(d.path, std::nullopt) == "command: the region's `command` column is not set");
  CHECK(check(d.path, std::vector<std::string>{""}) == "command: argv[0] is empty");
}

TEST_CASE("argv[0] names a file of COMMAND_DIR itself: no path, no '.' or '..'") {
  const CommandDir d;
  const auto not_a_name = [&](const std::string& name) {
    return "command: '" + name + "' is not an executable file in COMMAND_DIR (" + d.path.string() +
           "): argv[0] must be a file name, without '/'";
  };
  for (const std::string name : {"/bin/true", "../run.sh", "sub/x", "./run.sh", ".", ".."}) {
    CHECK(check(d.path, std::vector<std::string>{name}) == not_a_name(name));
  }
}

TEST_CASE("a symlink, a directory, a plain file or a missing one is refused, saying which") {
  const CommandDir d;
  const auto refused = [&](const std::string& name, const std::string& why) {
    return "command: '" + name + "' is not an executable file in COMMAND_DIR (" + d.path.string() +
           "): " + why;
  };
  CHECK(check(d.path, std::vector<std::string>{"true-link"}) == refused("true-link", "a symlink"));
  CHECK(check(d.path, std::vector<std::string>{"sub"}) == refused("sub", "not a regular file"));
  CHECK(check(d.path, std::vector<std::string>{"missing"}) ==
        refused("missing", "No such file or directory"));
  // Without an x bit: refused even for root, who may execute only what has one.
  CHECK(check(d.path, std::vector<std::string>{"plain.txt"}) ==
        refused("plain.txt", "Permission denied"));
}
