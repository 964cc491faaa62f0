#include "tickd/db/database.hpp"

#include <date/date.h>
#include <spdlog/spdlog.h>

#include <map>
#include <pqxx/pqxx>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "columns.hpp"
#include "hold_times.hpp"
#include "pg_array.hpp"
#include "pool.hpp"
#include "pool_events.hpp"
#include "reply_size.hpp"
#include "sql.hpp"
#include "tickd/db/claim_key.hpp"
#include "tickd/util/cancellation.hpp"

namespace tickd {
namespace {

using db::bool_array;
using db::id_array;
using db::parse_text_array;
using db::text_array;

std::string timestamp(std::chrono::sys_seconds t) { return date::format("%FT%TZ", t); }

std::string timestamp(std::chrono::sys_time<std::chrono::microseconds> t) {
  return date::format("%FT%TZ", t);  // with the fraction: 2026-03-08T10:00:00.250000Z
}

// After an insert into job_run failed with `e`: when it failed for want of a partition for
// the UTC day of `at` (sql/008: partitions are made ahead, this is the net under that), makes
// that day's partition and says so; false for any other failure (the caller rethrows it).
bool add_history_partition(pqxx::connection& c, std::chrono::sys_seconds at,
                           const pqxx::check_violation& e) {
  if (std::string_view(e.what()).find("no partition of relation") == std::string_view::npos) {
    return false;
  }
  const auto day = date::format("%F", std::chrono::floor<date::days>(at));
  spdlog::warn("job_run has no partition for {}: making it now", day);
  pqxx::work tx(c);
  tx.exec0(sql::kHistoryLockWait);
  tx.exec_params(sql::kAddHistoryDay, day);
  tx.commit();
  return true;
}

// Resets a handler connection once a region's tick_sql is done with it, however it ended.
// Tried twice: a cancel that arrives late may hit the first. A connection that cannot be
// reset is closed, so the pool drops it rather than lend it out changed; so is one that
// received a large reply (reply_size.hpp), to free the memory libpq keeps for it.
class SessionReset final {
 public:
  SessionReset(pqxx::connection& c, const db::ReplySize& reply) : c_(c), reply_(reply) {}
  ~SessionReset() {
    for (int attempt = 0; attempt < 2 && !reply_.large(); ++attempt) {
      try {
        pqxx::nontransaction tx(c_);
        tx.exec0(sql::kResetSession);
        return;
      } catch (const std::exception&) {
      }
    }
    try {
      c_.disconnect();  // is_open() false: the pool drops it (basic_pool.hpp)
    } catch (const std::exception&) {
    }
  }
  SessionReset(const SessionReset&) = delete;
  SessionReset& operator=(const SessionReset&) = delete;

 private:
  pqxx::connection& c_;
  const db::ReplySize& reply_;
};

// Rows with the same handlers column share one list (almost all of them: '{region}').
using HandlerLists = std::map<std::string, HandlerList, std::less<>>;

void append_regions(const pqxx::result& r, std::vector<RegionRow>& rows, HandlerLists& lists) {
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
    // The policies as stored, unclamped: validate_region refuses what is out of range.
    auto& p = region.policy;
    if (!row[6].is_null()) p.timeout = ColumnMs(row[6].as<std::int32_t>());
    p.max_attempts = row[7].as<std::int32_t>();
    p.retry_backoff = ColumnMs(row[8].as<std::int32_t>());
    p.overlap = parse_overlap(std::string_view(row[9].c_str(), row[9].size()));
    if (!row[10].is_null()) p.start_window = ColumnMs(row[10].as<std::int32_t>());
    p.jitter = ColumnMs(row[11].as<std::int32_t>());
    if (!row[12].is_null()) {
      Pause pause{std::chrono::sys_time<std::chrono::microseconds>(
                      std::chrono::microseconds(row[12].as<std::int64_t>())),
                  {},
                  {}};
      if (!row[13].is_null()) pause.by = row[13].as<std::string>();
      if (!row[14].is_null()) pause.reason = row[14].as<std::string>();
      region.pause = std::move(pause);
    }
    if (!(row[15].is_null() && row[16].is_null() && row[17].is_null() && row[18].is_null() &&
          row[19].is_null())) {
      RegionExtras extras;
      if (!row[15].is_null()) extras.http = row[15].as<std::string>();
      if (!row[16].is_null()) extras.command = parse_text_array(row[16]);
      if (!row[17].is_null()) extras.notify_url = row[17].as<std::string>();
      if (!row[18].is_null()) extras.notify_on = parse_text_array(row[18]);
      if (!row[19].is_null()) extras.ping_url = row[19].as<std::string>();
      region.extras = std::move(extras);
    }
    region.version = db::Columns::parse<std::uint32_t>(row[20]);
    rows.push_back(std::move(region));
  }
}

std::vector<RegionRow> to_regions(const pqxx::result& r) {
  std::vector<RegionRow> rows;
  rows.reserve(r.size());
  HandlerLists lists;
  append_regions(r, rows, lists);
  return rows;
}

}  // namespace

struct Database::Impl {
  Impl(const std::string& conninfo, unsigned handler_size, unsigned bookkeeping_size,
       Metrics* metrics)
      : bookkeeping(db::connect_to(conninfo), bookkeeping_size,
                    db::pool_events(metrics, DbPool::bookkeeping, bookkeeping_size)),
        handlers(db::connect_to(conninfo), handler_size,
                 db::pool_events(metrics, DbPool::handlers, handler_size)),
        liveness(db::connect_to(conninfo), 1) {}
  db::Pool bookkeeping;
  db::Pool handlers;
  // The liveness rounds and takeovers, one at a time: a heartbeat never waits for a
  // connection behind claims, ends or a long reconcile read (a late heartbeat gets a live
  // replica judged dead).
  db::Pool liveness;
  db::HoldTimes tick_sql_holds;  // per region id

  // Bookkeeping: claims, ends, heartbeats, takeovers, region loads.
  template <typename Work>
  auto with_connection(const char* what, Work&& work) {
    return db::with_connection(bookkeeping, what, std::forward<Work>(work));
  }

  template <typename Work>
  auto with_liveness_connection(const char* what, Work&& work) {
    return db::with_connection(liveness, what, std::forward<Work>(work));
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
    // Through a cursor, a chunk at a time (one snapshot all the same): a million rows in one
    // result would keep libpq's copy of them all, some 400 MB, next to the rows made of it.
    tx.exec(sql::kDeclareActiveRegions);
    std::vector<RegionRow> rows;
    HandlerLists lists;
    for (;;) {
      const auto chunk = tx.exec(sql::kFetchActiveRegions);
      append_regions(chunk, rows, lists);
      if (chunk.size() < sql::kActiveRegionsChunk) break;
    }
    return rows;
  });
}

std::vector<RegionVersion> Database::load_active_versions() {
  return impl_->with_connection("loading region versions", [](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    const auto r = tx.exec(sql::kLoadActiveVersions);
    std::vector<RegionVersion> versions;
    versions.reserve(r.size());
    for (const auto& row : r) {
      db::Columns c(row);
      const auto id = c.integer<std::int64_t>();
      versions.push_back({id, c.integer<std::uint32_t>()});
    }
    return versions;
  });
}

std::vector<RegionRow> Database::load_active_regions(const std::vector<std::int64_t>& ids) {
  return impl_->with_connection("loading regions", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return to_regions(tx.exec_params(sql::kLoadActiveRegionsById, id_array(ids)));
  });
}

std::vector<Claim> Database::claim_batch(const std::vector<ClaimRequest>& ticks,
                                         std::chrono::sys_seconds scheduled_for,
                                         const std::string& replica_id) {
  std::vector<std::int64_t> region_ids, keys;
  std::vector<std::optional<std::string>> deadline_texts;
  region_ids.reserve(ticks.size());
  keys.reserve(ticks.size());
  deadline_texts.reserve(ticks.size());
  for (const auto& t : ticks) {
    region_ids.push_back(t.row->id);
    keys.push_back(claim_lock_key(t.row->id, scheduled_for));
    deadline_texts.emplace_back(t.deadline == Deadline::max() ? std::string("infinity")
                                                              : date::format("%FT%TZ", t.deadline));
  }
  // What each tick was scheduled under, recorded on its run.
  const auto crons = text_array(
      ticks, [](const ClaimRequest& t) -> const std::string& { return t.row->cron_schedule; });
  const auto zones = text_array(
      ticks, [](const ClaimRequest& t) -> const std::string& { return t.row->timezone; });
  auto claims = impl_->with_connection(
      "claiming ticks", [&](pqxx::connection& c) -> std::optional<std::vector<Claim>> {
        pqxx::result r;
        const auto claim = [&] {
          pqxx::nontransaction tx(c);
          return tx.exec_params(sql::kClaimBatch, id_array(region_ids), id_array(keys),
                                timestamp(scheduled_for), replica_id, text_array(deadline_texts),
                                crons, zones);
        };
        try {
          try {
            r = claim();
          } catch (const pqxx::check_violation& e) {
            // No partition for the instant's day (no replica ran for days): make it, once.
            if (!add_history_partition(c, scheduled_for, e)) throw;
            r = claim();
          }
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
  if (ticks.size() == 1) return {{ClaimOutcome::gone, 0}};
  std::vector<Claim> out;
  for (const auto& t : ticks) out.push_back(claim_batch({t}, scheduled_for, replica_id)[0]);
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
  std::vector<std::int64_t> ids, attempts;
  std::vector<std::optional<std::string>> instants, statuses, errors, details, notify_urls;
  std::vector<bool> notify_status, notify_recovered;
  for (const auto& f : finishes) {
    ids.push_back(f.run_id);
    instants.push_back(timestamp(f.scheduled_for));
    attempts.push_back(f.attempt);
    statuses.emplace_back(to_string(f.status));
    errors.push_back(f.error);
    details.emplace_back(f.details);
    notify_urls.push_back(f.notify_url);
    notify_status.push_back(f.notify_status);
    notify_recovered.push_back(f.notify_recovered);
  }
  return impl_->with_connection("recording finished ticks", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const auto r = tx.exec_params(sql::kFinishBatch, id_array(ids), text_array(instants),
                                  text_array(statuses), text_array(errors), text_array(details),
                                  replica_id, id_array(attempts), text_array(notify_urls),
                                  bool_array(notify_status), bool_array(notify_recovered));
    std::vector<std::int64_t> fenced;
    for (const auto& row : r) {
      if (!row[1].as<bool>() && !row[2].as<bool>()) fenced.push_back(row[0].as<std::int64_t>());
    }
    return fenced;
  });
}

bool Database::record_attempt(const Finish& failed, const std::string& replica_id) {
  return impl_->with_connection("recording a failed attempt", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return !tx.exec_params(sql::kRecordAttempt, failed.run_id, replica_id, failed.attempt,
                           failed.error.value_or(""), failed.details)
                .empty();
  });
}

namespace {

std::chrono::system_clock::time_point from_epoch(double seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6))));
}

std::string timestamp_us(std::chrono::system_clock::time_point t) {
  return date::format("%FT%TZ", std::chrono::floor<std::chrono::microseconds>(t));
}

double seconds(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

// The orphans' identities as the takeover statements take them.
struct OrphanArrays {
  std::string ids, replicas, attempts;
  explicit OrphanArrays(const std::vector<Orphan>& orphans) {
    std::vector<std::int64_t> id, attempt;
    std::vector<std::optional<std::string>> replica;
    for (const auto& o : orphans) {
      id.push_back(o.run_id);
      attempt.push_back(o.attempt);
      replica.emplace_back(o.replica_id);
    }
    ids = id_array(id);
    replicas = text_array(replica);
    attempts = id_array(attempt);
  }
};

OrphanCause orphan_cause(std::string_view kind, const std::map<std::string, OrphanCause>& dead,
                         const std::string& replica_id) {
  if (kind == "dead") return dead.at(replica_id);
  if (kind == "earlier_run") return OrphanCause::earlier_run;
  if (kind == "in_doubt") return OrphanCause::in_doubt;
  return OrphanCause::lease;  // a replica with no heartbeat row at all
}

}  // namespace

Database::LivenessResult Database::liveness_round(const LivenessRound& round) {
  return impl_->with_liveness_connection("liveness round", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    LivenessResult out;
    auto& peers = out.peers;
    const auto since =
        round.witnessed_since ? std::optional(timestamp_us(*round.witnessed_since)) : std::nullopt;
    const char* since_text = since ? since->c_str() : nullptr;
    peers.sent = std::chrono::steady_clock::now();
    peers.db_clock = from_epoch(tx.exec1(sql::kClock)[0].as<double>());
    peers.received = std::chrono::steady_clock::now();
    const auto judged =
        tx.exec_params(sql::kJudgeReplicas, round.replica_id, seconds(round.crash_silence),
                       seconds(round.lease), since_text);
    std::map<std::string, OrphanCause> dead;
    // The verdict's instant, as the server wrote it (text: exact to the microsecond).
    const auto verdict_at = judged.at(0)[3].as<std::string>();
    peers.live.push_back(round.replica_id);
    for (const auto& row : judged) {
      if (row[0].is_null()) continue;
      auto id = row[0].as<std::string>();
      if (!row[1].is_null()) {
        dead.emplace(std::move(id), row[1].as<std::string>() == "crashed" ? OrphanCause::crashed
                                                                          : OrphanCause::lease);
      } else if (row[2].as<bool>()) {
        peers.live.push_back(std::move(id));
      }
    }
    std::sort(peers.live.begin(), peers.live.end());
    if (dead.empty() && !round.incarnation && round.in_doubt.empty() && !round.check_unregistered) {
      return out;
    }
    std::vector<std::optional<std::string>> dead_ids, doubt_instants;
    for (const auto& entry : dead) dead_ids.emplace_back(entry.first);
    std::vector<std::int64_t> doubt_regions;
    for (const auto& [region, instant] : round.in_doubt) {
      doubt_regions.push_back(region);
      doubt_instants.emplace_back(timestamp(instant));
    }
    const auto incarnation =
        round.incarnation ? std::optional(timestamp_us(*round.incarnation)) : std::nullopt;
    const auto lease = std::to_string(seconds(round.lease));
    const auto rows =
        tx.exec_params(sql::kFindOrphans, text_array(dead_ids), round.replica_id,
                       incarnation ? incarnation->c_str() : nullptr, id_array(doubt_regions),
                       text_array(doubt_instants),
                       round.check_unregistered ? lease.c_str() : nullptr, since_text, verdict_at);
    for (const auto& row : rows) {
      Orphan o;
      o.run_id = row[0].as<std::int64_t>();
      o.region_id = row[1].as<std::int64_t>();
      o.scheduled_for = std::chrono::sys_seconds(std::chrono::seconds(row[2].as<std::int64_t>()));
      o.replica_id = row[3].as<std::string>();
      o.attempt = row[4].as<int>();
      o.cause = orphan_cause(row[5].c_str(), dead, o.replica_id);
      o.requested = std::string_view(row[6].c_str()) != "schedule";
      o.fraction = std::chrono::microseconds(row[7].as<std::int64_t>());
      out.orphans.push_back(std::move(o));
    }
    return out;
  });
}

std::vector<RunRef> Database::take_over(const std::vector<Orphan>& orphans,
                                        const std::string& replica_id) {
  if (orphans.empty()) return {};
  const OrphanArrays a(orphans);
  return impl_->with_liveness_connection("taking over ticks", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<RunRef> taken;
    std::vector<std::optional<std::string>> causes;
    for (const auto& o : orphans) causes.emplace_back(std::string(to_string(o.cause)));
    for (const auto& row : tx.exec_params(sql::kTakeOver, a.ids, a.replicas, a.attempts, replica_id,
                                          text_array(causes))) {
      taken.push_back({row[0].as<std::int64_t>(), row[1].as<int>(), replica_id});
    }
    return taken;
  });
}

std::size_t Database::abandon(const std::vector<Orphan>& orphans,
                              const std::vector<std::string>& errors) {
  if (orphans.empty()) return 0;
  const OrphanArrays a(orphans);
  std::vector<std::optional<std::string>> texts(errors.begin(), errors.end());
  return impl_->with_liveness_connection("marking ticks abandoned", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return static_cast<std::size_t>(tx.exec_params(sql::kAbandon, a.ids, a.replicas, a.attempts,
                                                   text_array(texts), default_notify_url_)
                                        .size());
  });
}

std::chrono::system_clock::time_point Database::begin_incarnation() {
  return impl_->with_connection("reading the database's clock", [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return from_epoch(tx.exec1(sql::kNow)[0].as<double>());
  });
}

void Database::keepalive() {
  impl_->with_handler_connection("keepalive", {}, [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec(sql::kKeepalive);
  });
}

bool Database::run_tick_sql(const std::string& statement, std::int64_t region_id,
                            std::chrono::sys_time<std::chrono::microseconds> scheduled_for,
                            std::chrono::milliseconds timeout, const RunRef* run,
                            Cancellation* cancellation) {
  auto& holds = impl_->tick_sql_holds;
  try {
    return impl_->with_handler_connection(
        "tick_sql", holds.expected(region_id), [&](pqxx::connection& c) {
          // Failed or timed out, the run held the connection all the same.
          const auto timing = holds.time(region_id);
          // PREPARE with declared parameter types lets the statement use $1 and $2 with their
          // contract types, or neither, and refuses more than one statement.
          {
            pqxx::nontransaction gate(c);
            const std::int64_t run_id = run != nullptr ? run->run_id : 0;
            if (gate.exec_params1(sql::kTickSqlGate, run_id, timestamp(scheduled_for))[0]
                    .as<bool>()) {
              return false;  // an earlier attempt's SQL committed with its mark
            }
          }
          // Counts the plan, an error and every notice; outlives `reset`, which asks it.
          db::ReplySize reply(c);
          // Whatever the SQL did to its session (SET, set_config(..., false), SET ROLE, temporary
          // tables, LISTEN) must not reach the next user of this pooled connection.
          const SessionReset reset(c, reply);
          // PQcancel, from the cancelling thread: safe while this thread waits on `c`.
          const Cancellation::Interrupt interrupt(cancellation, [&c] { c.cancel_query(); });
          try {
            pqxx::work tx(c);
            tx.exec("SET LOCAL statement_timeout = " + std::to_string(timeout.count()));
            // exec_params uses the extended protocol, which refuses a second statement
            // ("SELECT 1; DROP ...") instead of running it.
            try {
              tx.exec_params("PREPARE tickd_tick_sql (bigint, timestamptz) AS " + statement);
            } catch (const pqxx::syntax_error& e) {
              // "syntax error at or near COPY" alone sends the author looking in the wrong
              // place: say what PREPARE takes. Nothing was prepared, nothing to clean up.
              throw DbError(db::one_line("tick_sql: not one statement PREPARE accepts (SELECT, "
                                         "INSERT, UPDATE, DELETE, MERGE or VALUES; $1 is the "
                                         "region id, $2 the instant)",
                                         e.what()),
                            DbError::Kind::give_up);
            }
            // Its rows never reach tickd (sql.hpp): memory stays bounded whatever it returns.
            const auto plan =
                tx.exec(std::string(sql::kRunTickSql) + "(" + std::to_string(region_id) + ", " +
                        tx.quote(timestamp(scheduled_for)) + ")");
            reply.add(plan);
            // One round trip: simple query protocol, two statements.
            tx.exec(run != nullptr
                        ? std::string("DEALLOCATE tickd_tick_sql; ") + sql::kRestoreSearchPath
                        : std::string("DEALLOCATE tickd_tick_sql"));
            if (run != nullptr &&
                tx.exec_params(sql::kMarkTickSql, run->run_id, run->replica_id, run->attempt)
                        .affected_rows() == 0) {
              tx.abort();
              throw DbError("tick_sql: rolled back: the tick was taken over by another replica",
                            DbError::Kind::give_up);
            }
            tx.commit();
            return true;
          } catch (const pqxx::sql_error& e) {
            reply.add(e.what());
            // A prepared statement outlives the rolled-back transaction that made it.
            try {
              pqxx::nontransaction cleanup(c);
              cleanup.exec("DEALLOCATE tickd_tick_sql");
            } catch (const pqxx::sql_error&) {
            }
            throw;
          }
        });
  } catch (const DbError& e) {
    if (e.kind() != DbError::Kind::in_doubt || run == nullptr) throw;
    // The commit's answer was lost: its mark on the row says whether it happened.
    const bool committed =
        impl_->with_connection("tick_sql: checking a commit in doubt", [&](pqxx::connection& c) {
          pqxx::nontransaction tx(c);
          return tx.exec_params1(sql::kTickSqlDone, run->run_id)[0].as<bool>();
        });
    if (!committed) throw;
    return true;
  }
}

std::vector<Database::RequestedRun> Database::start_requests(const std::string& replica_id,
                                                             std::size_t limit) {
  return impl_->with_connection("starting run requests", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    std::vector<RequestedRun> runs;
    std::vector<std::int64_t> region_ids;
    for (const auto& q : tx.exec_params(sql::kPickRequests, static_cast<std::int64_t>(limit))) {
      const auto request_id = q[0].as<std::int64_t>();
      // A backfill may name a day long gone: its partition first (a catalog look when there).
      tx.exec_params(sql::kRequestPartition, request_id);
      const auto started = tx.exec_params(sql::kStartRequest, request_id, replica_id);
      if (started.empty()) {
        tx.exec_params0(sql::kRequestNotStarted, request_id);
        continue;
      }
      const auto run_id = started[0][0].as<std::int64_t>();
      tx.exec_params0(sql::kRequestStarted, request_id, run_id);
      RequestedRun run;
      run.run_id = run_id;
      run.row = nullptr;
      run.scheduled_for = std::chrono::sys_time<std::chrono::microseconds>(
          std::chrono::microseconds(q[3].as<std::int64_t>()));
      run.trigger = q[2].as<std::string>();
      run.requested_by = q[4].as<std::string>();
      region_ids.push_back(q[1].as<std::int64_t>());
      runs.push_back(std::move(run));
    }
    if (!runs.empty()) {
      auto rows = to_regions(tx.exec_params(sql::kLoadRegionsById, id_array(region_ids)));
      for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto it = std::find_if(rows.begin(), rows.end(),
                                     [&](const RegionRow& r) { return r.id == region_ids[i]; });
        if (it != rows.end()) runs[i].row = std::make_shared<const RegionRow>(*it);
      }
    }
    tx.commit();
    return runs;
  });
}

std::vector<RegionRow> Database::load_regions(const std::vector<std::int64_t>& ids) {
  return impl_->with_connection("loading regions", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return to_regions(tx.exec_params(sql::kLoadRegionsById, id_array(ids)));
  });
}

bool Database::requests_pending() {
  return impl_->with_connection("looking for run requests", [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec1(sql::kRequestsPending)[0].as<bool>();
  });
}

std::vector<std::pair<std::int64_t, std::string>> Database::cancels_requested(
    const std::vector<std::int64_t>& run_ids) {
  if (run_ids.empty()) return {};
  return impl_->with_connection("looking for cancels", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<std::pair<std::int64_t, std::string>> out;
    for (const auto& row : tx.exec_params(sql::kCancelsRequested, id_array(run_ids))) {
      out.emplace_back(row[0].as<std::int64_t>(), row[1].as<std::string>());
    }
    return out;
  });
}

void Database::record_missed(const std::vector<Missed>& missed, const std::string& replica_id) {
  if (missed.empty()) return;
  std::vector<std::int64_t> ids, counts;
  std::vector<std::optional<std::string>> instants;
  for (const auto& m : missed) {
    ids.push_back(m.region_id);
    instants.emplace_back(date::format("%FT%TZ", m.first));
    counts.push_back(m.count);
  }
  impl_->with_connection("recording missed ticks' notifications", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_params(sql::kRecordMissed, id_array(ids), text_array(instants), id_array(counts),
                   default_notify_url_, replica_id);
  });
}

std::size_t Database::fail_own_running(const std::string& replica_id, const std::string& reason) {
  return impl_->with_connection("failing unfinished ticks", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return static_cast<std::size_t>(
        tx.exec_params1(sql::kFailOwnRunning, replica_id, reason, default_notify_url_)[0]
            .as<std::int64_t>());
  });
}

void Database::retire(const std::string& replica_id) {
  impl_->with_connection("retiring the replica", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec_params(sql::kRetire, replica_id);
  });
}

}  // namespace tickd
