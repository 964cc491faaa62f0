// ControlStore's views: regions, runs, the audit trail and the replicas, read in one
// transaction each (statements in control_read_sql.hpp).

#include <algorithm>
#include <array>
#include <charconv>
#include <concepts>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "columns.hpp"
#include "control_internal.hpp"
#include "control_read_sql.hpp"
#include "pg_array.hpp"

namespace tickd {
namespace {

using control_db::micros;
using control_db::opt_int;
using control_db::opt_micros;
using control_db::opt_text;
using db::Columns;

constexpr int kRegionColumns = 18;  // TICKD_REGION_VIEW_COLUMNS
constexpr int kMaxLimit = 1000;
constexpr std::array<std::string_view, 5> kRunStatuses = {"running", "ok", "failed", "abandoned",
                                                          "cancelled"};

// A row of TICKD_REGIONS_FROM: the region, its pending count, its newest run (NULLs: none).
RegionView read_region(const pqxx::row& row) {
  RegionView v;
  v.id = row[0].as<std::int64_t>();
  v.code = row[1].as<std::string>();
  v.name = row[2].as<std::string>();
  v.cron_schedule = row[3].as<std::string>();
  v.timezone = row[4].as<std::string>();
  v.active = row[5].as<bool>();
  v.handlers = db::parse_text_array(row[6]);
  v.tick_sql = opt_text(row[7]);
  v.updated_at = micros(row[8]);
  v.timeout_ms = opt_int(row[9]);
  v.max_attempts = row[10].as<int>();
  v.retry_backoff_ms = row[11].as<int>();
  v.overlap = row[12].as<std::string>();
  v.start_window_ms = opt_int(row[13]);
  v.jitter_ms = row[14].as<int>();
  v.paused_at = opt_micros(row[15]);
  v.paused_by = opt_text(row[16]);
  v.paused_reason = opt_text(row[17]);
  v.pending_requests = row[kRegionColumns].as<std::int64_t>();
  if (!row[kRegionColumns + 1].is_null()) {
    v.last_run = control_db::read_run(row, kRegionColumns + 1);
  }
  if (const int ended = kRegionColumns + 1 + control_db::kRunColumns; !row[ended].is_null()) {
    v.last_ended = EndedRun{row[ended].as<std::string>(), micros(row[ended + 1]),
                            opt_micros(row[ended + 2]), opt_text(row[ended + 3])};
  }
  return v;
}

// A row of kControlRegionKeys: only the fields pick_regions promises its picker.
RegionView read_region_key(const pqxx::row& row) {
  Columns c(row);
  RegionView v;
  v.id = c.integer<std::int64_t>();
  v.code = c.as<std::string>();
  v.cron_schedule = c.as<std::string>();
  v.timezone = c.as<std::string>();
  v.active = c.as<bool>();
  v.updated_at = Micros(std::chrono::microseconds(c.integer<std::int64_t>()));
  v.timeout_ms = c.opt_integer<int>();
  v.max_attempts = c.integer<int>();
  v.retry_backoff_ms = c.integer<int>();
  v.overlap = c.as<std::string>();
  v.start_window_ms = c.opt_integer<int>();
  v.jitter_ms = c.integer<int>();
  v.paused_at = c.opt_micros();
  const auto scheduled_for = c.opt_micros();
  if (auto status = c.opt_text()) {
    v.last_run.emplace();
    v.last_run->region_id = v.id;
    v.last_run->scheduled_for = scheduled_for.value_or(Micros{});
    v.last_run->status = std::move(*status);
  }
  if (auto ended = c.opt_text()) v.last_ended = EndedRun{std::move(*ended), {}, {}, {}};
  return v;
}

void check_limit(int limit, const char* what) {
  if (limit < 1 || limit > kMaxLimit) {
    throw ControlError(
        ControlError::Kind::bad_input,
        std::string(what) + ": " + std::to_string(limit) + " is out of range 1-1000");
  }
}

void check_status(const std::string& status) {
  if (std::find(kRunStatuses.begin(), kRunStatuses.end(), status) == kRunStatuses.end()) {
    throw ControlError(
        ControlError::Kind::bad_input,
        "status: '" + status + "' is not one of running, ok, failed, abandoned, cancelled");
  }
}

}  // namespace

std::vector<RegionView> ControlStore::regions() {
  return impl_->transact("list regions", [&](pqxx::work& tx) {
    std::vector<RegionView> out;
    const auto r = tx.exec(sql::kControlRegions);
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(read_region(row));
    return out;
  });
}

std::vector<RegionView> ControlStore::pick_regions(const RegionPicker& pick) {
  return impl_->transact("list a page of regions", [&](pqxx::work& tx) {
    // One snapshot for both reads, so that the page's views are the rows it was picked by.
    tx.exec0("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
    // The keys of 10,000 regions cost enough for the planner to compile them (JIT): that
    // compile alone took longer than the probes it was meant to speed up.
    tx.exec0("SET LOCAL jit = off");
    std::vector<RegionView> keys;
    const auto r = tx.exec(sql::kControlRegionKeys);
    keys.reserve(r.size());
    for (const auto& row : r) keys.push_back(read_region_key(row));
    const auto ids = pick(keys);
    std::vector<RegionView> out;
    if (ids.empty()) return out;
    std::unordered_map<std::int64_t, RegionView> by_id;
    for (const auto& row : tx.exec_params(sql::kControlRegionsByIds, db::id_array(ids))) {
      auto v = read_region(row);
      by_id.emplace(v.id, std::move(v));
    }
    out.reserve(ids.size());
    for (const auto id : ids) {
      if (const auto it = by_id.find(id); it != by_id.end()) out.push_back(std::move(it->second));
    }
    return out;
  });
}

std::optional<RegionView> ControlStore::region(const std::string& code) {
  return impl_->transact("read region", [&](pqxx::work& tx) -> std::optional<RegionView> {
    const auto r = tx.exec_params(sql::kControlRegion, code);
    if (r.empty()) return std::nullopt;
    return read_region(r[0]);
  });
}

std::vector<RunView> ControlStore::runs(const RunFilter& filter) {
  // Refused before any connection is taken: a bad request costs the database nothing.
  check_limit(filter.limit, "limit");
  if (filter.status) check_status(*filter.status);
  if (filter.before && filter.cursor) {
    throw ControlError(ControlError::Kind::bad_input,
                       "before and cursor both say where the page starts: give one");
  }
  std::optional<std::string> since, cursor_at;
  std::optional<std::int64_t> cursor_id;
  if (filter.since) since = format_time(*filter.since);
  if (filter.cursor) {
    cursor_at = format_time(filter.cursor->scheduled_for);
    cursor_id = filter.cursor->id;
  }
  return impl_->transact("list runs", [&](pqxx::work& tx) {
    std::optional<std::int64_t> region_id;
    if (filter.code) {
      const auto id = tx.exec_params(sql::kControlRegionId, *filter.code);
      if (id.empty()) {
        throw ControlError(ControlError::Kind::not_found,
                           "no region with code '" + *filter.code + "'");
      }
      region_id = id[0][0].as<std::int64_t>();
    }
    const auto r = tx.exec_params(sql::kControlRunsPage, region_id, filter.status, since, cursor_at,
                                  cursor_id, filter.before, filter.limit);
    std::vector<RunView> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(control_db::read_run(row));
    return out;
  });
}

std::optional<RunView> ControlStore::run(std::int64_t id) {
  return impl_->transact("read run", [&](pqxx::work& tx) -> std::optional<RunView> {
    const auto r = tx.exec_params(sql::kControlRun, id);
    if (r.empty()) return std::nullopt;
    return control_db::read_run(r[0]);
  });
}

std::vector<AuditView> ControlStore::audit(std::int64_t region_id, int limit) {
  check_limit(limit, "audit limit");
  return impl_->transact("read audit", [&](pqxx::work& tx) {
    std::vector<AuditView> out;
    const auto r = tx.exec_params(sql::kControlAudit, region_id, limit);
    out.reserve(r.size());
    for (const auto& row : r) {
      AuditView a;
      a.id = row[0].as<std::int64_t>();
      a.region_id = row[1].as<std::int64_t>();
      a.code = row[2].as<std::string>();
      a.op = row[3].as<std::string>();
      a.at = micros(row[4]);
      a.actor = row[5].as<std::string>();
      a.old_values = opt_text(row[6]);
      a.new_values = opt_text(row[7]);
      out.push_back(std::move(a));
    }
    return out;
  });
}

std::vector<ReplicaView> ControlStore::replicas(std::chrono::milliseconds fresh) {
  return impl_->transact("list replicas", [&](pqxx::work& tx) {
    std::vector<ReplicaView> out;
    const auto r = tx.exec_params(sql::kControlReplicas, static_cast<std::int64_t>(fresh.count()));
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back(
          {row[0].as<std::string>(), micros(row[1]), opt_text(row[2]), row[3].as<std::int64_t>()});
    }
    return out;
  });
}

}  // namespace tickd
