#pragma once
// The `http` handler's conditional-request state (sql/006_handlers.sql, http_state): per
// region, the last ETag / Last-Modified its URL answered with. The URL kept is the column's
// URL template, never the expanded URL (which may hold an {{env.NAME}} secret): validators
// of another template are not sent. Thread-safe; failures throw DbError
// (tickd/db/database.hpp).

#include <cstdint>
#include <optional>
#include <string>

#include "tickd/db/database.hpp"

namespace tickd {

struct HttpState {
  std::string url;  // the URL template the validators belong to
  std::optional<std::string> etag;
  std::optional<std::string> last_modified;
};

class HttpStateStore final {
 public:
  explicit HttpStateStore(Database& db) : db_(db) {}

  // The region's state, if it has any.
  std::optional<HttpState> load(std::int64_t region_id);
  // Replaces the region's state (an upsert). A region deleted meanwhile is ignored.
  void save(std::int64_t region_id, const HttpState& state);

 private:
  Database& db_;
};

}  // namespace tickd
