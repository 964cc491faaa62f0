#include "tickd/handlers/source_token.hpp"

#include "tickd/handlers/http_spec.hpp"

namespace tickd::handlers {

bool source_token_allowed(std::string_view url, const std::vector<std::string>& hosts) {
  using http_handler::host_allowed, http_handler::url_host;
  const auto target = url_host(url);
  if (!target) return false;
  constexpr std::string_view plain = "http://";
  for (std::string_view item : hosts) {
    const bool http_ok = item.starts_with(plain);
    if (http_ok) item.remove_prefix(plain.size());
    if (target->scheme != "https" && !http_ok) continue;
    if (!item.empty() && host_allowed(target->host, target->authority, {std::string(item)})) {
      return true;
    }
  }
  return false;
}

}  // namespace tickd::handlers
