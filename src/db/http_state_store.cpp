#include "tickd/db/http_state_store.hpp"

#include <pqxx/pqxx>

#include "pool.hpp"

namespace tickd {
namespace {

// $1 region id.
constexpr const char* kLoadHttpState =
    "SELECT url, etag, last_modified FROM http_state WHERE region_id = $1";

// $1 region id, $2 url template, $3 etag (NULL: none), $4 last_modified (NULL: none).
// The region may have been deleted since the tick started: then nothing is written (the
// INSERT ... SELECT finds no row) instead of failing on the foreign key.
constexpr const char* kSaveHttpState =
    "INSERT INTO http_state (region_id, url, etag, last_modified, updated_at) "
    "SELECT id, $2, $3, $4, now() FROM region_index WHERE id = $1 "
    "ON CONFLICT (region_id) DO UPDATE SET url = EXCLUDED.url, etag = EXCLUDED.etag,"
    "  last_modified = EXCLUDED.last_modified, updated_at = now()";

}  // namespace

std::optional<HttpState> HttpStateStore::load(std::int64_t region_id) {
  return db::with_connection(db_.pool(), "load http_state",
                             [&](pqxx::connection& c) -> std::optional<HttpState> {
                               pqxx::nontransaction tx(c);
                               const auto r = tx.exec_params(kLoadHttpState, region_id);
                               if (r.empty()) return std::nullopt;
                               HttpState s;
                               s.url = r[0][0].as<std::string>();
                               if (!r[0][1].is_null()) s.etag = r[0][1].as<std::string>();
                               if (!r[0][2].is_null()) s.last_modified = r[0][2].as<std::string>();
                               return s;
                             });
}

void HttpStateStore::save(std::int64_t region_id, const HttpState& state) {
  db::with_connection(db_.pool(), "save http_state", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_params(kSaveHttpState, region_id, state.url, state.etag, state.last_modified);
  });
}

}  // namespace tickd
