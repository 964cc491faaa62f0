#include "tickd/database.hpp"

#include <date/date.h>

#include <map>
#include <pqxx/pqxx>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "hold_times.hpp"
#include "pool.hpp"
#include "pool_events.hpp"
#include "sql.hpp"
#include "tickd/claim_key.hpp"

namespace tickd {
namespace {

std::string timestamp(std::chrono::sys_seconds t) { return date::format("%FT%TZ", t); }

std::vector<std::string> parse_text_array(const pqxx::field& f) {
  std::vector<std::string> out;
  auto parser = f.as_array();
  for (auto [junction, value] = parser.get_next(); junction != pqxx::array_parser::done;
       std::tie(junction, value) = parser.get_next()) {
    if (junction == pqxx::array_parser::string_value) out.push_back(std::move(value));
  }
  return out;
}

std::vector<RegionRow> to_regions(const pqxx::result& r) {
  std::vector<RegionRow> rows;
  rows.reserve(r.size());
  // Rows with the same handlers column share one list (almost all of them: '{region}').
  std::map<std::string, HandlerList, std::less<>> lists;
  for (const auto& row : r) {
    RegionRow region;
    region.id = row[0].as<std::int64_t>();
    region.code = row[1].as<std::string>();
    region.cron_schedule = row[2].as<std::string>();
    region.timezone = row[3].as<std::string>();
    const std::string_view text(row[4].c_str(), row[4].size());
    auto list = lists.find(text);
    if (list == lists.end()) list = lists.emplace(text, parse_text_array(row[4])).first;
    region.handlers = list->second;
    if (!row[5].is_null()) region.tick_sql = row[5].as<std::string>();
    rows.push_back(std::move(region));
  }
  return rows;
}

// A PostgreSQL array literal of text elements; nullopt elements are NULL.
std::string text_array(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    if (!items[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (const char c : *items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string id_array(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) out += ',';
    out += std::to_string(ids[i]);
  }
  out += '}';
  return out;
}

}  // namespace

struct Database::Impl {
  Impl(const std::string& conninfo, unsigned handler_size, unsigned bookkeeping_size,
       Metrics* metrics)
      : bookkeeping(db::connect_to(conninfo), bookkeeping_size,
                    db::pool_events(metrics, DbPool::bookkeeping, bookkeeping_size)),
        handlers(db::connect_to(conninfo), handler_size,
                 db::pool_events(metrics, DbPool::handlers, handler_size)) {}
  db::Pool bookkeeping;
  db::Pool handlers;
  db::HoldTimes tick_sql_holds;  // per region id

  // Bookkeeping: claims, ends, heartbeats, takeovers, region loads.
  template <typename Work>
  auto with_connection(const char* what, Work&& work) {
    return db::with_connection(bookkeeping, what, std::forward<Work>(work));
  }

  // Handler work, expected to hold the connection for `expected`.
  template <typename Work>
  auto with_handler_connection(const char* what, std::chrono::milliseconds expected, Work&& work) {
    return db::with_connection(handlers, what, expected, std::forward<Work>(work));
  }
};

Database::Database(std::string database_url, unsigned handler_pool_size, Metrics* metrics,
                   unsigned bookkeeping_pool_size)
    : impl_(std::make_unique<Impl>(with_connection_defaults(database_url), handler_pool_size,
                                   bookkeeping_pool_size, metrics)) {}

Database::~Database() = default;

db::Pool& Database::pool() { return impl_->handlers; }

std::vector<RegionRow> Database::load_active_regions() {
  return impl_->with_connection("loading regions", [](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return to_regions(tx.exec(sql::kLoadActiveRegions));
  });
}

std::vector<RegionRow> Database::load_active_regions(const std::vector<std::int64_t>& ids) {
  return impl_->with_connection("loading regions", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return to_regions(tx.exec_params(sql::kLoadActiveRegionsById, id_array(ids)));
  });
}

Claim Database::claim(std::int64_t region_id, std::chrono::sys_seconds scheduled_for,
                      const std::string& replica_id) {
  return claim_batch({region_id}, scheduled_for, replica_id, {Deadline::max()})[0];
}

std::vector<Claim> Database::claim_batch(const std::vector<std::int64_t>& region_ids,
                                         std::chrono::sys_seconds scheduled_for,
                                         const std::string& replica_id,
                                         const std::vector<Deadline>& deadlines) {
  std::vector<std::int64_t> keys;
  std::vector<std::optional<std::string>> deadline_texts;
  keys.reserve(region_ids.size());
  for (std::size_t i = 0; i < region_ids.size(); ++i) {
    keys.push_back(claim_lock_key(region_ids[i], scheduled_for));
    deadline_texts.emplace_back(deadlines[i] == Deadline::max()
                                    ? std::string("infinity")
                                    : date::format("%FT%TZ", deadlines[i]));
  }
  auto claims = impl_->with_connection(
      "claiming ticks", [&](pqxx::connection& c) -> std::optional<std::vector<Claim>> {
        pqxx::result r;
        try {
          pqxx::nontransaction tx(c);
          r = tx.exec_params(sql::kClaimBatch, id_array(region_ids), id_array(keys),
                             timestamp(scheduled_for), replica_id, text_array(deadline_texts));
        } catch (const pqxx::foreign_key_violation&) {
          return std::nullopt;
        }
        std::unordered_map<std::int64_t, Claim> by_region;
        by_region.reserve(r.size());
        std::vector<std::int64_t> unsettled;
        for (const auto& row : r) {
          const auto id = row[0].as<std::int64_t>();
          Claim claim{ClaimOutcome::taken, 0};
          if (!row[1].is_null()) {
            claim = {ClaimOutcome::won, row[1].as<std::int64_t>()};
          } else if (!row[4].as<bool>()) {
            claim.outcome = ClaimOutcome::gone;
          } else if (row[2].as<bool>() && row[5].as<bool>()) {
            claim.outcome = ClaimOutcome::expired;
          } else if (row[2].as<bool>() && !row[3].as<bool>()) {
            // Got the lock, inserted nothing, and no row for this tick in our snapshot: either
            // the region has a running tick, or another replica's claim committed while ours ran.
            claim.outcome = ClaimOutcome::overlapping;
            unsettled.push_back(id);
          }
          by_region[id] = claim;
        }
        if (!unsettled.empty()) {
          pqxx::nontransaction tx(c);
          for (const auto& row : tx.exec_params(sql::kAlreadyClaimed, id_array(unsettled),
                                                timestamp(scheduled_for))) {
            by_region[row[0].as<std::int64_t>()].outcome = ClaimOutcome::taken;
          }
        }
        std::vector<Claim> out;
        out.reserve(region_ids.size());
        for (const auto id : region_ids) {
          const auto it = by_region.find(id);
          out.push_back(it == by_region.end() ? Claim{ClaimOutcome::taken, 0} : it->second);
        }
        return out;
      });
  if (claims) return std::move(*claims);
  // A region was deleted between the join and the insert: claim one by one, each on a
  // connection of its own (not while this one is held: a full pool would wait forever).
  if (region_ids.size() == 1) return {{ClaimOutcome::gone, 0}};
  std::vector<Claim> out;
  for (std::size_t i = 0; i < region_ids.size(); ++i) {
    out.push_back(claim_batch({region_ids[i]}, scheduled_for, replica_id, {deadlines[i]})[0]);
  }
  return out;
}

std::vector<std::int64_t> Database::already_claimed(const std::vector<std::int64_t>& region_ids,
                                                    std::chrono::sys_seconds scheduled_for) {
  return impl_->with_connection("checking claims", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<std::int64_t> out;
    for (const auto& row :
         tx.exec_params(sql::kAlreadyClaimed, id_array(region_ids), timestamp(scheduled_for))) {
      out.push_back(row[0].as<std::int64_t>());
    }
    return out;
  });
}

std::vector<std::int64_t> Database::finish_batch(const std::vector<Finish>& finishes,
                                                 const std::string& replica_id) {
  std::vector<std::int64_t> ids;
  std::vector<std::optional<std::string>> statuses, errors, details;
  for (const auto& f : finishes) {
    ids.push_back(f.run_id);
    statuses.emplace_back(f.status == RunStatus::ok ? "ok" : "failed");
    errors.push_back(f.error.empty() ? std::nullopt : std::optional<std::string>(f.error));
    details.emplace_back(f.details);
  }
  return impl_->with_connection("recording finished ticks", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const auto r = tx.exec_params(sql::kFinishBatch, id_array(ids), text_array(statuses),
                                  text_array(errors), text_array(details), replica_id);
    std::unordered_set<std::int64_t> written;
    for (const auto& row : r) written.insert(row[0].as<std::int64_t>());
    std::vector<std::int64_t> fenced;
    for (const auto id : ids) {
      if (!written.contains(id)) fenced.push_back(id);
    }
    return fenced;
  });
}

Database::Peers Database::live_replicas(const std::string& replica_id,
                                        std::chrono::milliseconds fresh) {
  return impl_->with_connection("listing live replicas", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    Peers peers;
    peers.sent = std::chrono::steady_clock::now();
    const auto row = tx.exec_params1(sql::kLiveReplicas,
                                     std::chrono::duration<double>(fresh).count(), replica_id);
    peers.received = std::chrono::steady_clock::now();
    peers.live = parse_text_array(row[0]);
    const auto micros = static_cast<std::int64_t>(row[1].as<double>() * 1e6);
    peers.db_clock = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::microseconds(micros)));
    return peers;
  });
}

bool Database::finish(std::int64_t run_id, const std::string& replica_id, RunStatus status,
                      const std::string& error, const std::string& details_json) {
  return impl_->with_connection("recording a finished tick", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const char* status_text = status == RunStatus::ok ? "ok" : "failed";
    const char* error_text = error.empty() ? nullptr : error.c_str();
    const auto r =
        tx.exec_params(sql::kFinish, run_id, replica_id, status_text, error_text, details_json);
    return r.affected_rows() == 1;
  });
}

void Database::keepalive() {
  impl_->with_handler_connection("keepalive", {}, [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec(sql::kKeepalive);
  });
}

void Database::run_tick_sql(const std::string& statement, std::int64_t region_id,
                            std::chrono::sys_seconds scheduled_for,
                            std::chrono::milliseconds timeout) {
  auto& holds = impl_->tick_sql_holds;
  impl_->with_handler_connection("tick_sql", holds.expected(region_id), [&](pqxx::connection& c) {
    // Failed or timed out, the run held the connection all the same.
    const auto timing = holds.time(region_id);
    // PREPARE with declared parameter types lets the statement use $1 and $2 with their
    // contract types, or neither, and refuses more than one statement.
    try {
      pqxx::work tx(c);
      tx.exec("SET LOCAL statement_timeout = " + std::to_string(timeout.count()));
      // exec_params uses the extended protocol, which refuses a second statement
      // ("SELECT 1; DROP ...") instead of running it.
      tx.exec_params("PREPARE tickd_tick_sql (bigint, timestamptz) AS " + statement);
      tx.exec("EXECUTE tickd_tick_sql (" + std::to_string(region_id) + ", " +
              tx.quote(timestamp(scheduled_for)) + ")");
      tx.exec("DEALLOCATE tickd_tick_sql");
      tx.commit();
    } catch (const pqxx::sql_error&) {
      // A prepared statement outlives the rolled-back transaction that made it.
      try {
        pqxx::nontransaction cleanup(c);
        cleanup.exec("DEALLOCATE tickd_tick_sql");
      } catch (const pqxx::sql_error&) {
      }
      throw;
    }
  });
}

void Database::heartbeat(const std::string& replica_id) {
  impl_->with_connection("heartbeat", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_params(sql::kHeartbeat, replica_id);
  });
}

std::size_t Database::abandon_expired(std::chrono::milliseconds lease) {
  return impl_->with_connection("marking abandoned ticks", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const double seconds = std::chrono::duration<double>(lease).count();
    return static_cast<std::size_t>(tx.exec_params(sql::kAbandonExpired, seconds).affected_rows());
  });
}

std::size_t Database::abandon_own(const std::string& replica_id) {
  return impl_->with_connection("marking an earlier run's ticks abandoned",
                                [&](pqxx::connection& c) {
                                  pqxx::nontransaction tx(c);
                                  return static_cast<std::size_t>(
                                      tx.exec_params(sql::kAbandonOwn, replica_id).affected_rows());
                                });
}

std::size_t Database::fail_own_running(const std::string& replica_id, const std::string& reason) {
  return impl_->with_connection("failing unfinished ticks", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return static_cast<std::size_t>(
        tx.exec_params(sql::kFailOwnRunning, replica_id, reason).affected_rows());
  });
}

void Database::retire(const std::string& replica_id) {
  impl_->with_connection("retiring the replica", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_params(sql::kRetire, replica_id);
  });
}

}  // namespace tickd
