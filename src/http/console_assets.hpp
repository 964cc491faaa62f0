#pragma once
// Internal to src/http: the console's files (src/http/console/), compiled into the binary by
// embed_console.py, so a replica serves its page with no files beside it and no other origin.

#include <span>
#include <string_view>

namespace tickd::http_detail {

struct ConsoleAsset {
  std::string_view path;  // "/index.html", "/console.js", ...
  std::string_view content_type;
  std::string_view body;
};

// Every embedded file (generated: console_assets_data.cpp).
std::span<const ConsoleAsset> console_assets();

// The file served at `path` (without its query): "/" is /index.html. nullptr for any other path.
const ConsoleAsset* find_console_asset(std::string_view path);

// The console's own rules for the browser: its scripts, styles and API calls come from this
// origin only; no inline script or style, no event-handler attributes, no framing, no forms.
inline constexpr std::string_view kConsoleContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

}  // namespace tickd::http_detail
