// ControlStore's actions: pause, resume, trigger, backfill, cancel. Each is one
// transaction that first locks the region's row (so actions on one region queue up
// behind each other), checks its state, writes, and leaves its audit row: the change
// itself names its actor through tickd.actor and tickd.op (sql/005_control.sql's trigger),
// and actions that change no region_index column write their audit row here.

#include <date/date.h>

#include "control_internal.hpp"
#include "tickd/cron/cron.hpp"
#include "tickd/util/json.hpp"

namespace tickd {
namespace {

using control_db::lock_region;
using Kind = ControlError::Kind;

// $1 who, $2 the action: read by the audit trigger, for this transaction only.
constexpr const char* kNameActor =
    "SELECT set_config('tickd.actor', $1, true), set_config('tickd.op', $2, true)";

// $1 region id, $2 reason, $3 who.
constexpr const char* kPause =
    "UPDATE region_index SET paused_at = now(), paused_by = $3, paused_reason = $2 WHERE id = $1";
// $1 region id.
constexpr const char* kResume =
    "UPDATE region_index SET paused_at = NULL, paused_by = NULL, paused_reason = NULL "
    "WHERE id = $1";
// $1 region id: its running rows (id, started_at) oldest first.
constexpr const char* kRunning =
    "SELECT id, " TICKD_US("scheduled_for") " FROM job_run WHERE region_id = $1 "
    "AND status = 'running' ORDER BY id";
// $1 region id, $2 who. A manual run's instant is the request's time, moved off a whole
// second (which only an instant of the schedule or a backfill may hold).
constexpr const char* kRequestManual =
    "INSERT INTO run_request (region_id, trigger, scheduled_for, requested_by) "
    "SELECT $1, 'manual', CASE WHEN date_trunc('second', t) = t "
    "  THEN t + interval '1 microsecond' ELSE t END, $2 FROM clock_timestamp() AS t "
    "RETURNING id, " TICKD_US("scheduled_for");
// $1 region id, $2 timestamptz[] instants: those with a job_run row or a request already.
constexpr const char* kInstantsTaken =
    "SELECT " TICKD_US("t") " FROM unnest($2::timestamptz[]) AS t WHERE "
    "EXISTS (SELECT FROM job_run j WHERE j.region_id = $1 AND j.scheduled_for = t) OR "
    "EXISTS (SELECT FROM run_request q WHERE q.region_id = $1 AND q.scheduled_for = t)";
// $1 region id, $2 timestamptz[] instants, $3 who.
constexpr const char* kRequestBackfill =
    "INSERT INTO run_request (region_id, trigger, scheduled_for, requested_by) "
    "SELECT $1, 'backfill', t, $3 FROM unnest($2::timestamptz[]) AS t ON CONFLICT DO NOTHING";
// $1 region id, $2 who: asks for the cancel of its running rows (the first ask stands), and
// notifies the replicas running them. Rows: the run ids.
constexpr const char* kCancel =
    "WITH c AS (UPDATE job_run SET cancel_requested_at = coalesce(cancel_requested_at, now()), "
    "  cancel_requested_by = coalesce(cancel_requested_by, $2) "
    "  WHERE region_id = $1 AND status = 'running' RETURNING id) "
    "SELECT id, pg_notify('tickd_control', 'cancel:' || id) FROM c ORDER BY id";
// $1 region id, $2 code, $3 action, $4 who, $5 what (JSON).
constexpr const char* kAudit =
    "INSERT INTO region_audit (region_id, code, op, actor, new) VALUES ($1, $2, $3, $4, $5::jsonb)";
// $1 region id: its row, for a backfill's expression and zone.
constexpr const char* kScheduleOf =
    "SELECT cron_schedule, timezone FROM region_index WHERE id = $1";
// $1 request id: (state, run id, error).
constexpr const char* kRequest = "SELECT state, run_id, error FROM run_request WHERE id = $1";

std::string pg_time(Micros t) { return format_time(t); }

std::string pg_array(const std::vector<Micros>& ts) {
  std::string out = "{";
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (i) out += ',';
    out += pg_time(ts[i]);
  }
  return out + "}";
}

ActionResult result_of(std::int64_t region_id, const std::string& code, std::string message) {
  ActionResult r;
  r.region_id = region_id;
  r.code = code;
  r.message = std::move(message);
  return r;
}

void name_actor(pqxx::work& tx, const std::string& by, std::string_view op) {
  tx.exec_params(kNameActor, by, std::string(op));
}

}  // namespace

ActionResult ControlStore::pause(const std::string& code, const std::optional<std::string>& reason,
                                 const std::string& by) {
  return impl_->transact("pausing a region", [&](pqxx::work& tx) {
    const auto region = lock_region(tx, code);
    if (region.paused) {
      throw ControlError(Kind::conflict, "region " + code + " is paused already");
    }
    name_actor(tx, by, "pause");
    tx.exec_params0(kPause, region.id, reason, by);
    return result_of(region.id, code,
                     "region " + code + " paused" + (reason ? ": " + *reason : std::string()));
  });
}

ActionResult ControlStore::resume(const std::string& code, const std::string& by) {
  return impl_->transact("resuming a region", [&](pqxx::work& tx) {
    const auto region = lock_region(tx, code);
    if (!region.paused) throw ControlError(Kind::conflict, "region " + code + " is not paused");
    name_actor(tx, by, "resume");
    tx.exec_params0(kResume, region.id);
    return result_of(region.id, code, "region " + code + " resumed");
  });
}

ActionResult ControlStore::trigger(const std::string& code, const std::string& by) {
  return impl_->transact("triggering a run", [&](pqxx::work& tx) {
    const auto region = lock_region(tx, code);
    if (region.overlap == "skip") {
      const auto running = tx.exec_params(kRunning, region.id);
      if (!running.empty()) {
        throw ControlError(
            Kind::conflict,
            "region " + code + ": run " + running[0][0].as<std::string>() + " (" +
                format_time(control_db::micros(running[0][1])) +
                ") is still running and its overlap is skip: cancel it, or wait for it to end");
      }
    }
    const auto row = tx.exec_params1(kRequestManual, region.id, by);
    const auto request_id = row[0].as<std::int64_t>();
    json::Writer what;
    what.begin_object().key("request_id").value(request_id);
    what.key("scheduled_for").value(format_time(control_db::micros(row[1]))).end_object();
    tx.exec_params0(kAudit, region.id, code, "trigger", by, what.str());
    auto result = result_of(
        region.id, code,
        "region " + code + ": run requested (request " + std::to_string(request_id) + ")");
    result.request_id = request_id;
    return result;
  });
}

ActionResult ControlStore::backfill(const std::string& code, Micros from, Micros to, bool dry_run,
                                    const std::string& by) {
  if (from >= to) {
    throw ControlError(Kind::bad_input, "region " + code + ": the range is empty: from (" +
                                            format_time(from) + ") must be before to (" +
                                            format_time(to) + ")");
  }
  return impl_->transact("backfilling a region", [&](pqxx::work& tx) {
    const auto region = lock_region(tx, code);
    const auto schedule = tx.exec_params1(kScheduleOf, region.id);
    const auto expr = cron::parse(schedule[0].as<std::string>());
    const auto zone = cron::find_zone(schedule[1].as<std::string>());
    if (const auto* e = std::get_if<cron::ParseError>(&expr)) {
      throw ControlError(
          Kind::conflict,
          "region " + code + " cannot be backfilled: its cron_schedule: " + e->message);
    }
    if (const auto* e = std::get_if<cron::ParseError>(&zone)) {
      throw ControlError(Kind::conflict,
                         "region " + code + " cannot be backfilled: its timezone: " + e->message);
    }
    // Backfill fills the past: an instant still to come is the schedule's to run.
    const auto now =
        std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
    if (to > now) {
      throw ControlError(Kind::bad_input, "region " + code + ": to (" + format_time(to) +
                                              ") is in the future; backfill covers the past");
    }
    std::vector<Micros> instants;
    auto t = std::chrono::ceil<std::chrono::seconds>(from) - std::chrono::seconds(1);
    while (auto next = cron::next_after(std::get<cron::Expr>(expr),
                                        std::get<const date::time_zone*>(zone), t)) {
      if (Micros(*next) >= to) break;
      if (instants.size() == kMaxBackfill) {
        throw ControlError(Kind::bad_input,
                           "region " + code + ": [" + format_time(from) + ", " + format_time(to) +
                               ") holds more than " + std::to_string(kMaxBackfill) +
                               " instants of its schedule; backfill a shorter range");
      }
      instants.push_back(Micros(*next));
      t = *next;
    }
    std::vector<Micros> taken;
    for (const auto& row : tx.exec_params(kInstantsTaken, region.id, pg_array(instants))) {
      taken.push_back(control_db::micros(row[0]));
    }
    std::erase_if(instants, [&](Micros i) {
      return std::find(taken.begin(), taken.end(), i) != taken.end();
    });
    auto result = result_of(region.id, code, "");
    result.already_run = taken.size();
    result.message = "region " + code + ": " + std::to_string(instants.size()) + " instant(s) " +
                     (dry_run ? "would run" : "requested") + ", " + std::to_string(taken.size()) +
                     " left alone (run or requested already)";
    if (!dry_run && !instants.empty()) {
      tx.exec_params0(kRequestBackfill, region.id, pg_array(instants), by);
      json::Writer what;
      what.begin_object().key("from").value(format_time(from)).key("to").value(format_time(to));
      what.key("instants").value(static_cast<std::int64_t>(instants.size()));
      what.key("already_run").value(static_cast<std::int64_t>(taken.size())).end_object();
      tx.exec_params0(kAudit, region.id, code, "backfill", by, what.str());
    }
    result.instants = std::move(instants);
    return result;
  });
}

ActionResult ControlStore::cancel(const std::string& code, const std::string& by) {
  return impl_->transact("cancelling a run", [&](pqxx::work& tx) {
    const auto region = lock_region(tx, code);
    const auto rows = tx.exec_params(kCancel, region.id, by);
    if (rows.empty()) throw ControlError(Kind::conflict, "region " + code + " has no running tick");
    json::Writer what;
    what.begin_object().key("run_ids").begin_array();
    std::string ids;
    for (const auto& row : rows) {
      what.value(row[0].as<std::int64_t>());
      ids += (ids.empty() ? "" : ", ") + row[0].as<std::string>();
    }
    what.end_array().end_object();
    tx.exec_params0(kAudit, region.id, code, "cancel", by, what.str());
    auto result = result_of(
        region.id, code, "region " + code + ": run " + ids + " asked to stop (it ends cancelled)");
    result.run_id = rows[0][0].as<std::int64_t>();
    return result;
  });
}

std::optional<RunView> ControlStore::request_run(std::int64_t request_id) {
  const auto state = impl_->transact("reading a run request", [&](pqxx::work& tx) {
    const auto r = tx.exec_params(kRequest, request_id);
    if (r.empty()) {
      throw ControlError(Kind::not_found, "no run request " + std::to_string(request_id));
    }
    return std::tuple{r[0][0].as<std::string>(), r[0][1].is_null() ? 0 : r[0][1].as<std::int64_t>(),
                      r[0][2].is_null() ? std::string() : r[0][2].as<std::string>()};
  });
  const auto& [status, run_id, error] = state;
  if (status == "skipped") {
    throw ControlError(Kind::conflict,
                       "run request " + std::to_string(request_id) + " was not run: " + error);
  }
  if (status != "started" || run_id == 0) return std::nullopt;
  return run(run_id);
}

}  // namespace tickd
