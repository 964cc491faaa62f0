#pragma once
// The in-memory schedule of one replica: every known region (valid or refused), the
// next instant of each valid one, and a timeline ordered by instant so that one Asio
// timer serves all regions (a timer per distinct instant, not per region). Touching a
// region re-arms only that region. Not thread-safe: lives on the event loop.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "tickd/cron/cron.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/schedule/due.hpp"
#include "tickd/schedule/reconcile.hpp"
#include "tickd/schedule/region.hpp"
#include "tickd/schedule/status.hpp"

namespace tickd {

// An immutable snapshot of a region, shared with its in-flight ticks. The schedule also
// keeps one for each refused row, with a null `zone` (ticks only ever get valid ones).
struct ScheduledRegion {
  RowPtr row;
  cron::Expr expr;
  const date::time_zone* zone;
};
using RegionPtr = std::shared_ptr<const ScheduledRegion>;

struct DueTick {
  RegionPtr region;
  std::chrono::sys_seconds instant;
  Millis deadline;        // the tick may start no later than this
  bool precheck = false;  // another replica owns it: look for its claim before claiming
  bool buffered = false;  // waits for the region's running tick to end (overlap buffer_one)
  // Set when the tick is already claimed here (taken over from a dead replica): its row
  // and the attempt this replica runs.
  std::int64_t run_id = 0;
  int attempt = 1;
  // A run an operator asked for (manual or backfill, see RequestFeed): claimed already,
  // it starts at once, without jitter, and its retries are not bounded by the region's
  // next instant. `instant` is its scheduled_for to the second (a manual run's is the
  // request's time).
  bool requested = false;
  std::chrono::microseconds fraction{};  // of a manual run's scheduled_for, below `instant`

  // When its handlers start: the instant plus the region's jitter offset (the same on every
  // replica). `deadline` counts from here.
  Millis start() const {
    if (requested) return Millis(instant) + std::chrono::floor<std::chrono::milliseconds>(fraction);
    return Millis(instant) + jitter_offset(region->row->policy, region->row->id, instant);
  }
};

struct ApplyResult {
  std::size_t added = 0, replaced = 0, updated = 0, removed = 0;
  // Regions given a (new) next instant on the timeline: added, replaced or resumed ones. A
  // pass that changed nothing arms none (tickd_reconcile_rearmed_total).
  std::size_t armed = 0;
  std::vector<InvalidRegion> newly_invalid;  // refused by this apply (not refused before)
};

class Schedule final {
 public:
  explicit Schedule(const HandlerRegistry& handlers) : handlers_(handlers) {}
  Schedule(const Schedule&) = delete;  // known_ refers to entries_
  Schedule& operator=(const Schedule&) = delete;

  // Takes the plan's rows (they become the schedule's shared snapshots).
  ApplyResult apply(ReconcilePlan plan, Millis now);
  const HandlerRegistry& handlers() const { return handlers_; }

  // Every due region: the tick to dispatch, if its deadline allows; re-arms each. With
  // `ahead`, also each region whose next instant comes within `ahead` after `now`: that
  // instant's tick, handed out early to be claimed ahead of it.
  struct Due {
    std::vector<DueTick> ticks;
    std::size_t missed = 0;
    // Per region that missed any: the first instant given up, and how many.
    struct Missed {
      RegionPtr region;
      std::chrono::sys_seconds first;
      std::size_t count;
    };
    std::vector<Missed> missed_by_region;
  };
  // `grace` is MISFIRE_GRACE_MS: a region's start_window_ms replaces it (see start_grace).
  Due take_due(Millis now, std::chrono::milliseconds grace, std::chrono::milliseconds ahead = {});

  std::optional<std::chrono::sys_seconds> earliest() const;
  // A tick of the region `region_id` at `instant`, as take_due would hand it out (its start
  // deadline from `grace`), when the region is scheduled here (valid, not paused); nullopt
  // otherwise. `attempts_made` (a tick taken over from a dead replica): while the region's
  // max_attempts allows another attempt, the tick may also start in its retry window, up to
  // the region's next instant.
  std::optional<DueTick> tick_of(std::int64_t region_id, std::chrono::sys_seconds instant,
                                 std::chrono::milliseconds grace, int attempts_made = 0) const;
  void record_outcome(std::int64_t region_id, std::chrono::sys_seconds instant, RunStatus status);
  // Some replica (this one or another) holds the tick `instant` of the region.
  void record_claimed(std::int64_t region_id, std::chrono::sys_seconds instant);
  // Valid, unpaused regions whose latest claimed tick (or, if none, the moment they were scheduled
  // here) is two or more of their instants before `now`: ticks are not being run.
  std::size_t overdue(Millis now) const;

  // Every region known (valid or refused), for plan_reconcile.
  const KnownRegions& known() const { return known_; }
  // Armed regions: valid, not paused, with a next instant.
  std::size_t scheduled_count() const { return timeline_.size(); }
  std::size_t invalid_count() const { return errors_.size(); }
  // Valid regions that are paused (known and listed, not armed).
  std::size_t paused_count() const { return paused_.size(); }
  StatusSnapshot status(const std::string& replica_id) const;
  // The same for the one region called `code` (empty lists when there is none).
  StatusSnapshot status_of(const std::string& replica_id, std::string_view code) const;

 private:
  // std::optional<sys_seconds> in 8 bytes instead of 16: sys_seconds::min(), which no cron
  // instant or clock reading comes near, stands for "none".
  class Instant {
   public:
    Instant() = default;
    Instant(std::chrono::sys_seconds t) : t_(t) {}
    Instant(std::optional<std::chrono::sys_seconds> t) : t_(t.value_or(kNone)) {}
    explicit operator bool() const { return t_ != kNone; }
    std::chrono::sys_seconds operator*() const { return t_; }
    std::optional<std::chrono::sys_seconds> get() const {
      return *this ? std::optional(t_) : std::nullopt;
    }
    void reset() { t_ = kNone; }

   private:
    static constexpr auto kNone = std::chrono::sys_seconds::min();
    std::chrono::sys_seconds t_ = kNone;
  };

  // Kept small: there is one per region, and a replica may hold 100,000 of them.
  struct Entry {
    RegionPtr region;  // the row held; a null zone while it is refused (reason in errors_)
    Instant armed;
    Instant last_dispatched;
    Instant last_scheduled_for;
    std::chrono::sys_seconds last_claimed{};  // latest tick known claimed, or when scheduled
    std::optional<RunStatus> last_outcome;
  };
  using Entries = std::unordered_map<std::int64_t, Entry>;

  // plan_reconcile's view of entries_.
  class Known final : public KnownRegions {
   public:
    explicit Known(const Entries& entries) : entries_(entries) {}
    const RegionRow* find(std::int64_t id) const override;
    void each_id(const std::function<void(std::int64_t)>& f) const override;
    std::size_t size() const override { return entries_.size(); }

   private:
    const Entries& entries_;
  };

  void install(RegionRow&& read, Millis now, ApplyResult& result);
  // Gives the entry `region` and indexes it by code (see by_code_).
  void hold(std::int64_t id, Entry& entry, RegionPtr region);
  void unindex(std::int64_t id, const Entry& entry);
  void disarm(std::int64_t id, Entry& entry);
  void arm(std::int64_t id, Entry& entry, std::optional<std::chrono::sys_seconds> at);
  void add_status(StatusSnapshot& s, std::int64_t id, const Entry& entry) const;

  const HandlerRegistry& handlers_;
  Entries entries_;  // every known region, valid or refused
  Known known_{entries_};
  std::unordered_map<std::int64_t, std::string> errors_;  // why refused rows are refused
  std::unordered_set<std::int64_t> paused_;               // valid and paused
  std::set<std::pair<std::chrono::sys_seconds, std::int64_t>> timeline_;
  // id by code, for /status?code= and the console (a scan of a million entries took 25 ms
  // on the loop, a hot apply waiting behind it). Keys view the code of the row their id
  // holds, so each lives as long as that row. About 56 bytes a region.
  std::unordered_map<std::string_view, std::int64_t> by_code_;
};

// A row's parsed expression and zone, or why it cannot be scheduled (expression, zone,
// handlers or a policy out of range).
struct ValidRegion {
  cron::Expr expr;
  const date::time_zone* zone;
};
std::variant<ValidRegion, std::string> validate_region(const RegionRow& row,
                                                       const HandlerRegistry& handlers);

}  // namespace tickd
