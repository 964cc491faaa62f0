#include "tickd/schedule/schedule.hpp"

#include <algorithm>

#include "tickd/schedule/notify.hpp"

namespace tickd {

std::variant<ValidRegion, std::string> validate_region(const RegionRow& row,
                                                       const HandlerRegistry& handlers) {
  auto parsed = cron::parse(row.cron_schedule);
  if (auto* err = std::get_if<cron::ParseError>(&parsed)) {
    return "cron_schedule '" + row.cron_schedule + "': " + err->message;
  }
  auto found = cron::find_zone(row.timezone);
  if (auto* err = std::get_if<cron::ParseError>(&found)) return "timezone: " + err->message;
  if (auto error = handlers.check(row)) return *error;
  if (auto error = check_policy(row.policy)) return *error;
  if (auto error = check_notify(row)) return *error;
  return ValidRegion{std::get<cron::Expr>(parsed), std::get<const date::time_zone*>(found)};
}

void Schedule::hold(std::int64_t id, Entry& entry, RegionPtr region) {
  unindex(id, entry);
  entry.region = std::move(region);
  // Codes are unique in region_index, but two held rows may share one for a moment (one
  // renamed before the other's change is read): the latest wins, its key viewing its own row.
  const std::string_view code = entry.region->row->code;
  by_code_.erase(code);
  by_code_.emplace(code, id);
}

void Schedule::unindex(std::int64_t id, const Entry& entry) {
  if (!entry.region) return;
  const auto it = by_code_.find(std::string_view(entry.region->row->code));
  if (it != by_code_.end() && it->second == id) by_code_.erase(it);
}

void Schedule::disarm(std::int64_t id, Entry& entry) {
  if (entry.armed) timeline_.erase({*entry.armed, id});
  entry.armed.reset();
}

void Schedule::arm(std::int64_t id, Entry& entry, std::optional<std::chrono::sys_seconds> at) {
  disarm(id, entry);
  entry.armed = at;
  if (at) timeline_.insert({*at, id});
}

void Schedule::install(RegionRow&& read, Millis now, ApplyResult& result) {
  // The plan's row moves into its shared snapshot: at a million regions a copy would be
  // hundreds of MB more at the peak of the first pass.
  const RowPtr row = std::make_shared<const RegionRow>(std::move(read));
  Entry& entry = entries_[row->id];
  auto valid = validate_region(*row, handlers_);
  if (auto* error = std::get_if<std::string>(&valid)) {
    // A refused row is kept too (a null zone), for the diff and /status.
    hold(row->id, entry,
         std::make_shared<const ScheduledRegion>(ScheduledRegion{row, cron::Expr{}, nullptr}));
    disarm(row->id, entry);
    paused_.erase(row->id);
    auto& known_error = errors_[row->id];
    if (*error != known_error) result.newly_invalid.push_back({row->code, *error});
    known_error = std::move(*error);
    return;
  }
  const auto& [expr, zone] = std::get<ValidRegion>(valid);
  hold(row->id, entry, std::make_shared<const ScheduledRegion>(ScheduledRegion{row, expr, zone}));
  errors_.erase(row->id);
  if (row->pause) {
    // Known and listed, never armed: its instants do not come. Resuming replaces the row,
    // which arms it from that moment on, so nothing missed while paused is caught up.
    disarm(row->id, entry);
    paused_.insert(row->id);
    return;
  }
  paused_.erase(row->id);
  // A region (re)scheduled now owes its first tick only from now on.
  entry.last_claimed = std::max(entry.last_claimed, std::chrono::floor<std::chrono::seconds>(now));
  // Never re-arm an instant this replica already dispatched.
  auto from = std::chrono::floor<std::chrono::seconds>(now);
  if (entry.last_dispatched) from = std::max(from, *entry.last_dispatched);
  arm(row->id, entry, cron::next_after(expr, zone, from));
  ++result.armed;
}

ApplyResult Schedule::apply(ReconcilePlan plan, Millis now) {
  ApplyResult result;
  for (const auto id : plan.removed) {
    if (auto it = entries_.find(id); it != entries_.end()) {
      disarm(id, it->second);
      unindex(id, it->second);
      entries_.erase(it);
    }
    errors_.erase(id);
    paused_.erase(id);
    ++result.removed;
  }
  for (auto& row : plan.added) {
    install(std::move(row), now, result);
    ++result.added;
  }
  for (auto& row : plan.replaced) {
    install(std::move(row), now, result);
    ++result.replaced;
  }
  for (auto& row : plan.updated) {
    // Same instants (and, for a refused row, the same reason): swap the snapshot, keep the
    // timer as it is.
    const auto id = row.id;
    Entry& entry = entries_[id];
    const cron::Expr expr = entry.region ? entry.region->expr : cron::Expr{};
    const date::time_zone* zone = entry.region ? entry.region->zone : nullptr;
    hold(id, entry,
         std::make_shared<const ScheduledRegion>(
             ScheduledRegion{std::make_shared<const RegionRow>(std::move(row)), expr, zone}));
    ++result.updated;
  }
  return result;
}

Schedule::Due Schedule::take_due(Millis now, std::chrono::milliseconds grace,
                                 std::chrono::milliseconds ahead) {
  Due due;
  const auto now_s = std::chrono::floor<std::chrono::seconds>(now);
  const auto horizon = std::chrono::floor<std::chrono::seconds>(now + ahead);
  while (!timeline_.empty() && timeline_.begin()->first <= horizon) {
    const auto [armed, id] = *timeline_.begin();
    timeline_.erase(timeline_.begin());
    Entry& entry = entries_.at(id);
    entry.armed.reset();
    const auto& region = *entry.region;
    const auto window = start_grace(region.row->policy, grace);
    if (armed > now_s) {
      // Not yet due: its tick, as it will be at its instant.
      entry.last_dispatched = armed;
      due.ticks.push_back({entry.region, armed,
                           Millis(armed) + start_window(region.expr, region.zone, armed, window) +
                               jitter_offset(region.row->policy, id, armed)});
      arm(id, entry, cron::next_after(region.expr, region.zone, armed));
      continue;
    }
    const auto decision = decide_due(region.expr, region.zone, armed, now, window);
    due.missed += decision.missed;
    if (decision.missed > 0) due.missed_by_region.push_back({entry.region, armed, decision.missed});
    if (decision.run) {
      entry.last_dispatched = *decision.run;
      due.ticks.push_back(
          {entry.region, *decision.run,
           decision.deadline + jitter_offset(region.row->policy, id, *decision.run)});
    } else {
      entry.last_dispatched = decision.latest;
    }
    arm(id, entry, decision.next);
  }
  return due;
}

std::optional<std::chrono::sys_seconds> Schedule::earliest() const {
  if (timeline_.empty()) return std::nullopt;
  return timeline_.begin()->first;
}

void Schedule::record_outcome(std::int64_t region_id, std::chrono::sys_seconds instant,
                              RunStatus status) {
  auto it = entries_.find(region_id);
  if (it == entries_.end()) return;
  auto& entry = it->second;
  if (entry.last_scheduled_for && *entry.last_scheduled_for > instant) return;
  entry.last_scheduled_for = instant;
  entry.last_outcome = status;
}

void Schedule::record_claimed(std::int64_t region_id, std::chrono::sys_seconds instant) {
  if (auto it = entries_.find(region_id); it != entries_.end()) {
    it->second.last_claimed = std::max(it->second.last_claimed, instant);
  }
}

std::optional<DueTick> Schedule::tick_of(std::int64_t region_id, std::chrono::sys_seconds instant,
                                         std::chrono::milliseconds grace, int attempts_made) const {
  const auto it = entries_.find(region_id);
  if (it == entries_.end() || it->second.region->zone == nullptr) return std::nullopt;
  if (it->second.region->row->pause) return std::nullopt;
  const auto& region = *it->second.region;
  auto deadline =
      Millis(instant) +
      start_window(region.expr, region.zone, instant, start_grace(region.row->policy, grace)) +
      jitter_offset(region.row->policy, region_id, instant);
  if (attempts_made > 0 && attempts_made < region.row->policy.max_attempts) {
    // The retry window: attempts go on up to (not at) the next instant.
    if (const auto next = cron::next_after(region.expr, region.zone, instant)) {
      deadline = std::max(deadline, Millis(*next) - std::chrono::milliseconds(1));
    }
  }
  return DueTick{it->second.region, instant, deadline};
}

std::size_t Schedule::overdue(Millis now) const {
  const auto now_s = std::chrono::floor<std::chrono::seconds>(now);
  std::size_t n = 0;
  for (const auto& [id, entry] : entries_) {
    const auto& r = *entry.region;
    if (r.zone == nullptr) continue;  // refused
    if (r.row->pause) continue;       // not expected to run
    const auto first = cron::next_after(r.expr, r.zone, entry.last_claimed);
    if (!first) continue;
    const auto second = cron::next_after(r.expr, r.zone, *first);
    if (second && *second <= now_s) ++n;
  }
  return n;
}

void Schedule::add_status(StatusSnapshot& s, std::int64_t id, const Entry& entry) const {
  const auto& row = *entry.region->row;
  if (const auto error = errors_.find(id); error != errors_.end()) {
    s.invalid.push_back({row.code, error->second});
    return;
  }
  RegionStatus r{row.code,          row.cron_schedule,  row.timezone,
                 entry.armed.get(), entry.last_outcome, entry.last_scheduled_for.get()};
  if (row.pause) r.pause = *row.pause;
  s.regions.push_back(std::move(r));
}

StatusSnapshot Schedule::status(const std::string& replica_id) const {
  StatusSnapshot s;
  s.replica_id = replica_id;
  for (const auto& [id, entry] : entries_) add_status(s, id, entry);
  std::sort(s.regions.begin(), s.regions.end(),
            [](const auto& a, const auto& b) { return a.code < b.code; });
  std::sort(s.invalid.begin(), s.invalid.end(),
            [](const auto& a, const auto& b) { return a.code < b.code; });
  return s;
}

StatusSnapshot Schedule::status_of(const std::string& replica_id, std::string_view code) const {
  StatusSnapshot s;
  s.replica_id = replica_id;
  if (const auto hit = by_code_.find(code); hit != by_code_.end()) {
    const auto& entry = entries_.at(hit->second);
    add_status(s, hit->second, entry);
    return s;
  }
  // Not indexed: no such region, or one that shared its code with another held row for a
  // moment (see hold). A scan finds it: tens of milliseconds at a million regions.
  for (const auto& [id, entry] : entries_) {
    if (entry.region->row->code == code) {
      add_status(s, id, entry);
      break;
    }
  }
  return s;
}

const RegionRow* Schedule::Known::find(std::int64_t id) const {
  const auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second.region->row.get();
}

void Schedule::Known::each_id(const std::function<void(std::int64_t)>& f) const {
  for (const auto& [id, entry] : entries_) f(id);
}

}  // namespace tickd
