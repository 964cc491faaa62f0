#include "tickd/dispatch/tick_runner.hpp"

#include <date/date.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <unordered_set>

#include "tickd/cron/cron.hpp"
#include "tickd/db/database.hpp"
#include "tickd/dispatch/tick_store.hpp"
#include "tickd/schedule/notify.hpp"
#include "tickd/util/json.hpp"

namespace tickd {
namespace {

std::string iso(std::chrono::sys_seconds t) { return date::format("%FT%TZ", t); }

TickReport report(TickOutcome outcome) { return {.outcome = outcome}; }

// Calls `then` on the timer's executor once `clock` reads `at` or later, or at once when
// `cancellation` is requested (whoever cancels it also cancels the timer). Checked again on
// every wake: the clock may have been re-anchored to the database's meanwhile, and a handler
// must never start before its instant.
void wait_until(std::shared_ptr<boost::asio::steady_timer> timer, const Clock& clock, Millis at,
                std::function<void()> then,
                std::shared_ptr<const Cancellation> cancellation = nullptr) {
  const auto wait = at - clock.wall();
  if (wait <= std::chrono::steady_clock::duration::zero() ||
      (cancellation && cancellation->requested())) {
    then();
    return;
  }
  timer->expires_after(wait);
  timer->async_wait([timer, &clock, at, then = std::move(then),
                     cancellation = std::move(cancellation)](boost::system::error_code) mutable {
    wait_until(timer, clock, at, std::move(then), std::move(cancellation));
  });
}

std::string cancelled_error(const Cancellation& c) {
  return "cancelled by " + c.by().value_or("an operator");
}

}  // namespace

TickRunner::TickRunner(TickStore& store, Database& db, const HandlerRegistry& handlers,
                       Metrics& metrics, const Clock& clock, const Config& config,
                       boost::asio::thread_pool& workers, std::size_t worker_threads)
    : store_(store),
      db_(db),
      handlers_(handlers),
      metrics_(metrics),
      clock_(clock),
      config_(config),
      workers_(workers),
      worker_threads_(std::max<std::size_t>(worker_threads, 1)),
      finisher_(store, config.replica_id, config.tick_lease, clock) {}

std::chrono::system_clock::time_point TickRunner::begin_incarnation() {
  std::lock_guard lock(incarnation_mutex_);
  if (!incarnation_) incarnation_ = store_.begin_incarnation();
  return *incarnation_;
}

std::vector<TickRunner::TickKey> TickRunner::take_in_doubt() {
  std::lock_guard lock(in_doubt_mutex_);
  return std::exchange(in_doubt_, {});
}

void TickRunner::restore_in_doubt(std::vector<TickKey> ticks) {
  std::lock_guard lock(in_doubt_mutex_);
  in_doubt_.insert(in_doubt_.end(), ticks.begin(), ticks.end());
}

std::shared_ptr<Cancellation> TickRunner::in_flight(std::int64_t run_id) {
  std::lock_guard lock(in_flight_mutex_);
  auto& entry = in_flight_[run_id];
  if (!entry.cancellation) entry.cancellation = std::make_shared<Cancellation>();
  return entry.cancellation;
}

void TickRunner::retire(std::int64_t run_id) {
  std::lock_guard lock(in_flight_mutex_);
  in_flight_.erase(run_id);
}

void TickRunner::set_retry_wait(std::int64_t run_id,
                                std::weak_ptr<boost::asio::steady_timer> timer) {
  std::lock_guard lock(in_flight_mutex_);
  if (const auto it = in_flight_.find(run_id); it != in_flight_.end()) {
    it->second.retry_wait = std::move(timer);
  }
}

bool TickRunner::cancel(std::int64_t run_id, const std::string& by) {
  std::shared_ptr<Cancellation> cancellation;
  std::shared_ptr<boost::asio::steady_timer> retry_wait;
  {
    std::lock_guard lock(in_flight_mutex_);
    const auto it = in_flight_.find(run_id);
    if (it == in_flight_.end()) return false;
    cancellation = it->second.cancellation;
    retry_wait = it->second.retry_wait.lock();
  }
  if (cancellation->requested()) return false;  // asked already
  cancellation->cancel(by);
  // Its handler runs on the timer's executor and sees the cancel.
  if (retry_wait)
    boost::asio::post(retry_wait->get_executor(), [retry_wait] { retry_wait->cancel(); });
  return true;
}

std::vector<std::int64_t> TickRunner::running_ids() const {
  std::lock_guard lock(in_flight_mutex_);
  std::vector<std::int64_t> ids;
  ids.reserve(in_flight_.size());
  for (const auto& [id, entry] : in_flight_) ids.push_back(id);
  return ids;
}

void TickRunner::heartbeat_renewed(std::chrono::steady_clock::time_point mono) {
  renewed_ = mono.time_since_epoch().count();
}

void TickRunner::set_claims_stale_after(std::chrono::milliseconds stale_after) {
  stale_after_ = stale_after;
}

void TickRunner::run_group(std::vector<DueTick> ticks, std::stop_token stop, Done done) {
  if (ticks.empty()) return;
  // Taken over from a dead replica: claimed already.
  std::vector<Won> taken;
  std::erase_if(ticks, [&](DueTick& t) {
    if (t.run_id == 0) return false;
    const auto run_id = t.run_id;
    taken.push_back({std::move(t), run_id});
    return true;
  });
  if (!taken.empty()) start_at_instant(std::move(taken), clock_.mono(), stop, done);
  if (!ticks.empty()) claim_and_start(std::move(ticks), stop, done);
}

void TickRunner::claim_and_start(std::vector<DueTick> ticks, std::stop_token stop,
                                 const Done& done) {
  const auto instant = ticks.front().instant;
  // A group that waited for a claim thread past its ticks' start deadlines could only come
  // back expired. Dropped here, without a round trip: otherwise a backlog feeds itself, each
  // stale claim costing as much as a fresh one while the fresh ones wait behind it, and a
  // replica that fell behind once (a checkpoint, a busy host) never catches up.
  const auto now = clock_.wall();
  std::size_t late = 0;
  std::erase_if(ticks, [&](const DueTick& t) {
    if (now <= t.deadline) return false;
    ++late;
    metrics_.count_tick(TickOutcome::skipped);
    done(t, report(TickOutcome::skipped));
    return true;
  });
  if (late > 0) {
    spdlog::warn(
        "{} tick(s) at {} skipped: their start deadline passed before a claim could be sent", late,
        iso(instant));
  }
  if (ticks.empty()) return;
  const auto renewed = renewed_.load();
  if (renewed != 0) {
    const auto since = clock_.mono() - std::chrono::steady_clock::time_point(
                                           std::chrono::steady_clock::duration(renewed));
    if (since > stale_after_) {
      spdlog::warn(
          "{} tick(s) at {} not claimed: this replica's heartbeat is {:.1f} s old (it stalled); "
          "the others may be taking its ticks over",
          ticks.size(), iso(instant), std::chrono::duration<double>(since).count());
      for (const auto& t : ticks) {
        metrics_.count_tick(TickOutcome::skipped);
        done(t, report(TickOutcome::skipped));
      }
      return;
    }
  }
  try {
    begin_incarnation();
    // Ticks another replica (their owner) has already claimed need no claim attempt.
    std::vector<std::int64_t> prechecked;
    for (const auto& t : ticks) {
      if (t.precheck) prechecked.push_back(t.region->row->id);
    }
    if (!prechecked.empty()) {
      const auto claimed = store_.already_claimed(prechecked, instant);
      const std::unordered_set<std::int64_t> taken(claimed.begin(), claimed.end());
      std::erase_if(ticks, [&](const DueTick& t) {
        if (!t.precheck || !taken.contains(t.region->row->id)) return false;
        metrics_.count_tick(TickOutcome::lost);
        done(t, report(TickOutcome::lost));
        return true;
      });
      if (ticks.empty()) return;
    }
    std::vector<Database::ClaimRequest> requests;
    requests.reserve(ticks.size());
    for (const auto& t : ticks) requests.push_back({t.region->row, t.deadline});
    for (std::size_t i = 0; i < ticks.size(); ++i) metrics_.count_claim_attempt();
    const bool ahead = clock_.wall() < Millis(instant);
    const auto claims = store_.claim_batch(requests, instant, config_.replica_id);
    const auto claimed_at = clock_.mono();
    std::vector<Won> won;
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      auto& tick = ticks[i];
      switch (claims[i].outcome) {
        case ClaimOutcome::won:
          won.push_back({std::move(tick), claims[i].run_id});
          break;
        case ClaimOutcome::overlapping: {
          if (ahead) {
            // The previous tick may well end before this one's instant.
            done(tick, {.outcome = TickOutcome::skipped, .claim_again_at = Millis(instant)});
            break;
          }
          const auto again =
              Millis(std::chrono::floor<std::chrono::milliseconds>(clock_.wall())) + kBufferedRetry;
          const bool buffered = tick.region->row->policy.overlap == Overlap::buffer_one;
          if (buffered && again <= tick.deadline) {
            tick.buffered = true;
            done(tick, {.outcome = TickOutcome::skipped, .claim_again_at = again});
            break;
          }
          spdlog::info("region {}: tick {} skipped: the previous tick is still running{}",
                       tick.region->row->code, iso(instant),
                       buffered ? " at its start deadline (overlap buffer_one)" : "");
          metrics_.count_tick(TickOutcome::skipped);
          done(tick, report(TickOutcome::skipped));
          break;
        }
        case ClaimOutcome::taken:
          metrics_.count_tick(TickOutcome::lost);
          done(tick, report(TickOutcome::lost));
          break;
        case ClaimOutcome::gone:
          metrics_.count_tick(TickOutcome::skipped);
          done(tick, report(TickOutcome::skipped));
          break;
        case ClaimOutcome::expired:
          spdlog::warn(
              "region {}: tick {} skipped: its claim reached the database after the "
              "start deadline",
              tick.region->row->code, iso(instant));
          metrics_.count_tick(TickOutcome::skipped);
          done(tick, report(TickOutcome::skipped));
          break;
      }
    }
    start_at_instant(std::move(won), claimed_at, stop, done);
  } catch (const DbError& e) {
    spdlog::warn("{} tick(s) at {} not claimed: {}", ticks.size(), iso(instant), e.what());
    if (e.unavailable()) {
      // The claim may have committed before the connection went: the liveness round
      // looks for these rows and takes over any it finds.
      std::lock_guard lock(in_doubt_mutex_);
      for (const auto& t : ticks) in_doubt_.emplace_back(t.region->row->id, instant);
    }
    for (const auto& t : ticks) {
      metrics_.count_tick(TickOutcome::skipped);
      done(t, {.outcome = TickOutcome::skipped, .db_unavailable = e.unavailable()});
    }
  }
}

void TickRunner::start_at_instant(std::vector<Won> won,
                                  std::chrono::steady_clock::time_point claimed_at,
                                  std::stop_token stop, const Done& done) {
  if (won.empty()) return;
  // The ticks run on at most one task per worker thread, each task taking the next tick
  // in turn: one post (a thread wake-up) per task, not per tick, which is what an
  // instant of thousands of quick ticks spends most of its time on otherwise.
  struct Batch {
    std::vector<Won> won;
    std::atomic<std::size_t> next{0};
  };
  auto batch = std::make_shared<Batch>();
  batch->won = std::move(won);
  const auto tasks = std::min(batch->won.size(), worker_threads_);
  auto start = [this, batch, tasks, claimed_at, stop, done] {
    for (std::size_t t = 0; t < tasks; ++t) {
      boost::asio::post(workers_, [this, batch, claimed_at, stop, done] {
        for (auto i = batch->next++; i < batch->won.size(); i = batch->next++) {
          auto& w = batch->won[i];
          execute(std::move(w.tick), w.run_id, claimed_at, stop, done);
        }
      });
    }
  };
  // Jittered ticks were claimed at their start already; a taken-over one may still wait.
  auto at = Millis(batch->won.front().tick.instant);
  for (const auto& w : batch->won) at = std::max(at, w.tick.start());
  wait_until(std::make_shared<boost::asio::steady_timer>(workers_), clock_, at, std::move(start));
}

TickRunner::Attempt TickRunner::run_handlers(const TickContext& context, double lateness) {
  const auto& row = context.region;
  const auto timeout = attempt_timeout(row.policy, config_.tick_timeout);
  // details: {"<handler>": {"seconds": s, "ok": b, <counts>...}, ..., "lateness_seconds": l}
  json::Writer details;
  details.begin_object();
  Attempt attempt;
  for (const auto& name : row.handlers) {
    if (attempt.error) break;
    if (context.cancelled()) {
      attempt.cancelled = true;
      attempt.error = cancelled_error(*context.cancellation) + " (before handler " + name + ")";
      break;
    }
    if (context.timed_out()) {
      attempt.timed_out = true;
      attempt.error = "timed out after " + std::to_string(timeout.count()) +
                      " ms (before handler " + name + ")";
      break;
    }
    const auto t0 = clock_.mono();
    HandlerCounts counts;
    HandlerNotes notes;
    try {
      counts = handlers_.find(name)->run(context, notes);
    } catch (const HandlerError& e) {
      attempt.error = "handler " + name + ": " + e.what();
      attempt.permanent = e.retry() == HandlerError::Retry::never;
      attempt.retry_after = e.retry_after();
    } catch (const std::exception& e) {
      attempt.error = "handler " + name + ": " + e.what();
    }
    if (context.cancelled()) {
      attempt.cancelled = true;
      attempt.error = cancelled_error(*context.cancellation) + " (" +
                      attempt.error.value_or("in handler " + name) + ")";
    } else if (context.timed_out()) {
      // Cut short (a statement cancelled by the server, work handed back) or simply past
      // the timeout: the attempt failed either way.
      attempt.timed_out = true;
      attempt.error = "timed out after " + std::to_string(timeout.count()) + " ms (" +
                      attempt.error.value_or("in handler " + name) + ")";
    }
    const double seconds = std::chrono::duration<double>(clock_.mono() - t0).count();
    metrics_.observe_handler(name, seconds);
    details.key(name).begin_object();
    details.key("seconds").value(seconds).key("ok").value(!attempt.error);
    for (const auto& [key, value] : counts) details.key(key).value(value);
    for (const auto& [key, value] : notes.values) details.key(key).raw(value);
    details.end_object();
  }
  details.key("lateness_seconds").value(lateness).end_object();
  attempt.details = std::move(details).str();
  return attempt;
}

void TickRunner::execute(DueTick tick, std::int64_t run_id,
                         std::chrono::steady_clock::time_point claimed_at, std::stop_token stop,
                         Done done, bool retry) {
  const auto& row = *tick.region->row;
  const auto started = clock_.wall();
  // Counted from the jittered start (the instant without jitter).
  const double lateness = std::chrono::duration<double>(started - tick.start()).count();
  if (!retry) metrics_.observe_lateness(lateness);
  const int attempt_no = tick.attempt;  // read before `tick` moves into a callback below
  const RunRef run{run_id, attempt_no, config_.replica_id};
  const auto cancellation = in_flight(run_id);
  const TickContext context{
      row,
      tick.instant + tick.fraction,
      db_,
      config_,
      stop,
      claimed_at,
      &run,
      std::chrono::steady_clock::now() + attempt_timeout(row.policy, config_.tick_timeout),
      cancellation.get()};
  if (!retry && started > tick.deadline) {
    // Claimed ahead of its instant, then this process stalled (stopped, starved) past the
    // start deadline: starting now, or retrying later, is the late start the deadline
    // forbids.
    Attempt late;
    late.error = "not started by its start deadline (" +
                 std::to_string(std::chrono::duration<double>(started - tick.deadline).count()) +
                 " s past it): the process stalled";
    late.details = "{}";
    metrics_.count_attempt(AttemptResult::failed);
    finish(std::move(tick), run_id, std::move(late), std::move(done));
    return;
  }
  if (!retry && pinger_ != nullptr && row.extras->ping_url) {
    pinger_->send(*row.extras->ping_url, Pinger::Kind::start);
  }
  Attempt attempt = run_handlers(context, lateness);
  metrics_.count_attempt(!attempt.error      ? AttemptResult::ok
                         : attempt.timed_out ? AttemptResult::timed_out
                                             : AttemptResult::failed);
  if (attempt.error && !attempt.cancelled && !attempt.permanent && !stop.stop_requested() &&
      retry_later(tick, run_id, claimed_at, stop, done, attempt)) {
    return;
  }
  finish(std::move(tick), run_id, std::move(attempt), std::move(done));
}

bool TickRunner::retry_later(const DueTick& tick, std::int64_t run_id,
                             std::chrono::steady_clock::time_point claimed_at, std::stop_token stop,
                             const Done& done, const Attempt& failed) {
  const auto& region = *tick.region;
  const auto& row = *region.row;
  const auto failed_at = std::chrono::floor<std::chrono::milliseconds>(clock_.wall());
  // A requested run (manual, backfill) is no instant of the schedule: nothing bounds it.
  const auto next_instant =
      tick.requested ? std::nullopt : cron::next_after(region.expr, region.zone, tick.instant);
  const auto at =
      retry_start(row.policy, tick.attempt, Millis(failed_at), next_instant,
                  tick_draw(row.id, tick.instant, static_cast<std::uint64_t>(tick.attempt)),
                  failed.retry_after.value_or(std::chrono::milliseconds(0)));
  if (!at) return false;
  try {
    if (!store_.record_attempt({run_id, tick.instant + tick.fraction, RunStatus::failed,
                                failed.error, failed.details, tick.attempt},
                               config_.replica_id)) {
      return false;  // taken over meanwhile: the end below is fenced and says so
    }
  } catch (const DbError& e) {
    spdlog::warn(
        "region {}: tick {} attempt {}: could not record the failure ({}); it ends "
        "failed",
        row.code, iso(tick.instant), tick.attempt, e.what());
    return false;
  }
  spdlog::warn("region {}: tick {} attempt {} of {} failed: {}; retried at {}", row.code,
               iso(tick.instant), tick.attempt, row.policy.max_attempts, *failed.error,
               date::format("%FT%TZ", *at));
  auto next = tick;
  ++next.attempt;
  auto timer = std::make_shared<boost::asio::steady_timer>(workers_);
  set_retry_wait(run_id, timer);
  auto cancellation = in_flight(run_id);
  wait_until(
      timer, clock_, *at,
      [this, next = std::move(next), run_id, claimed_at, stop, done, failed,
       cancellation]() mutable {
        if (cancellation->requested()) {
          // Cancelled while waiting: no new attempt.
          auto cancelled = failed;
          cancelled.cancelled = true;
          cancelled.error = cancelled_error(*cancellation) +
                            " (waiting to retry after: " + failed.error.value_or("") + ")";
          finish(std::move(next), run_id, std::move(cancelled), std::move(done));
        } else if (stop.stop_requested()) {
          // Shutting down meanwhile: no new attempt; the tick ends with the last error.
          finish(std::move(next), run_id, failed, std::move(done));
        } else {
          execute(std::move(next), run_id, claimed_at, stop, std::move(done), true);
        }
      },
      cancellation);
  return true;
}

void TickRunner::finish(DueTick tick, std::int64_t run_id, Attempt attempt, Done done) {
  retire(run_id);
  const bool ok = !attempt.error;
  if (!ok) {
    spdlog::warn("region {}: tick {} {}: {}", tick.region->row->code, iso(tick.instant),
                 attempt.cancelled ? "cancelled" : "failed", *attempt.error);
  }
  const auto status = ok                  ? RunStatus::ok
                      : attempt.cancelled ? RunStatus::cancelled
                                          : RunStatus::failed;
  metrics_.count_tick(ok ? TickOutcome::ran : TickOutcome::failed);
  if (pinger_ != nullptr && tick.region->row->extras->ping_url) {
    pinger_->send(*tick.region->row->extras->ping_url,
                  ok ? Pinger::Kind::success : Pinger::Kind::fail);
  }
  Database::Finish end{run_id,
                       tick.instant + tick.fraction,
                       status,
                       std::move(attempt.error),
                       std::move(attempt.details),
                       tick.attempt};
  const auto& row = *tick.region->row;
  if (auto url = notify_target(row, config_.notify_url)) {
    end.notify_url = std::move(url);
    end.notify_status = wants_event(row, to_string(status));
    end.notify_recovered = ok && wants_event(row, "recovered");
  }
  finisher_.submit(std::move(end), [this, tick = std::move(tick), ok, status,
                                    done = std::move(done)](Finisher::Result result) {
    if (result == Finisher::Result::fenced) {
      spdlog::error(
          "region {}: tick {} lost its claim: the row was taken over meanwhile (this replica "
          "was judged dead); its result was not recorded",
          tick.region->row->code, iso(tick.instant));
      metrics_.count_fenced();
    }
    done(tick, {.outcome = ok ? TickOutcome::ran : TickOutcome::failed, .status = status});
  });
}

}  // namespace tickd
