#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "service.hpp"
#include "tickd/cli.hpp"
#include "tickd/config/config.hpp"
#include "tickd/config/log.hpp"
#include "tickd/util/storage_url.hpp"

namespace tickd::cli {

int run_main(Args args) {
  auto arg = parse_config_arg(args);
  if (auto* err = std::get_if<ConfigError>(&arg)) {
    std::fprintf(stderr, "tickd run: %s\n", err->message.c_str());
    return 2;
  }
  if (std::get<ConfigArg>(arg).help) {
    std::puts("usage: tickd run [--config FILE]\n(settings: see config/tickd.example.toml)");
    return 0;
  }
  auto loaded = load_config(std::get<ConfigArg>(arg).file, process_environment());
  if (auto* err = std::get_if<ConfigError>(&loaded)) {
    std::fprintf(stderr, "tickd run: %s\n", err->message.c_str());
    return 2;
  }
  auto config = std::get<Config>(std::move(loaded));
  if (config.database_url.empty()) {
    std::fprintf(stderr, "tickd run: DATABASE_URL is not set\n");
    return 2;
  }
  // Found out at start, not at the first upload an hour later.
  const auto storage = storage::parse_storage_url(config.storage_url);
  const auto* location = std::get_if<storage::Location>(&storage);
  if (const auto* file = location ? std::get_if<storage::FileLocation>(location) : nullptr) {
    std::error_code ec;
    if (!std::filesystem::is_directory(file->root, ec)) {
      std::fprintf(stderr, "tickd run: STORAGE_URL: %s is not an existing directory\n",
                   file->root.c_str());
      return 2;
    }
  }
  for (const auto& [key, dir] : {std::pair{"UPLOAD_ROOT", &config.upload_root},
                                 std::pair{"COMMAND_DIR", &config.command_dir}}) {
    if (!dir->empty() && !std::filesystem::is_directory(*dir)) {
      std::fprintf(stderr, "tickd run: %s: %s is not an existing directory\n", key, dir->c_str());
      return 2;
    }
  }
  log::setup(config.log_level, config.log_format, secret_values(config));
  try {
    static const SystemClock clock;
    Service service(std::move(config), clock);
    return service.run();
  } catch (const std::exception& e) {
    spdlog::critical("tickd run: {}", e.what());
    return 1;
  }
}

}  // namespace tickd::cli
