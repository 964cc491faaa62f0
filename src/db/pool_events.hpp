#pragma once
// What Database's two pools report: waits and connections in use to Metrics (when given),
// and, for the handler pool, a warning when a handler waited long for a connection, at most
// once a minute, naming the setting to raise (DB_POOL_SIZE).

#include "basic_pool.hpp"
#include "tickd/metrics/metrics.hpp"

namespace tickd::db {

PoolEvents pool_events(Metrics* metrics, DbPool pool, unsigned size);

}  // namespace tickd::db
