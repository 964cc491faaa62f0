#include "console_assets.hpp"

namespace tickd::http_detail {

const ConsoleAsset* find_console_asset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const auto& asset : console_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace tickd::http_detail
