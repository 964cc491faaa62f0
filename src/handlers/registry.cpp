#include <algorithm>

#include "tickd/handlers/handler.hpp"
#include "work_shared.hpp"

namespace tickd {

std::chrono::milliseconds TickContext::remaining() const {
  if (deadline == std::chrono::steady_clock::time_point::max()) return std::chrono::hours(24 * 365);
  const auto left = deadline - std::chrono::steady_clock::now();
  return std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(left));
}

void HandlerRegistry::add(std::string name, std::unique_ptr<Handler> handler) {
  handlers_[std::move(name)] = std::move(handler);
}

Handler* HandlerRegistry::find(std::string_view name) const {
  const auto it = handlers_.find(name);
  return it == handlers_.end() ? nullptr : it->second.get();
}

std::optional<std::string> HandlerRegistry::check(const RegionRow& row) const {
  const auto& names = row.handlers.names();
  if (names.empty()) return "handlers: the list is empty";
  for (const auto& name : names) {
    // The database layer reads a NULL element as an empty name (pg_array.hpp).
    if (name.empty()) return "handlers: an element is NULL or empty";
    if (find(name) == nullptr) {
      std::string known;
      for (const auto& [k, v] : handlers_) known += (known.empty() ? "" : ", ") + k;
      return "handlers: unknown handler '" + name + "' (known: " + known + ")";
    }
  }
  for (const auto& name : names) {
    if (auto error = find(name)->check(row)) return error;
  }
  return std::nullopt;
}

bool HandlerRegistry::repeatable(const RegionRow& row) const {
  for (const auto& name : row.handlers) {
    const auto* handler = find(name);
    if (handler != nullptr && !handler->repeatable()) return false;
  }
  return true;
}

HandlerRegistry builtin_handlers(const Config& config, Metrics* metrics) {
  HandlerRegistry registry;
  registry.add("region", make_region_handler());
  registry.add("http", make_http_handler(config));
  registry.add("command", make_command_handler(config));
  auto shared = std::make_shared<work::WorkShared>(config, metrics);
  registry.add("sync", work::make_sync_handler(shared));
  registry.add("upload", work::make_upload_handler(shared));
  registry.add("publish", work::make_publish_handler(shared));
  registry.add("housekeeping", work::make_housekeeping_handler(shared));
  return registry;
}

}  // namespace tickd
