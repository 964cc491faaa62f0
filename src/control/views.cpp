#include "views.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>

#include "tickd/cron/cron.hpp"
#include "tickd/schedule/policy.hpp"

namespace tickd::control {
namespace {

double seconds_between(Micros from, Micros to) {
  return std::chrono::duration<double>(to - from).count();
}

void time_or_null(json::Writer& w, const std::optional<Micros>& t) {
  if (t) {
    w.value(format_time(*t));
  } else {
    w.null();
  }
}

void text_or_null(json::Writer& w, const std::optional<std::string>& s) {
  if (s) {
    w.value(*s);
  } else {
    w.null();
  }
}

void int_or_null(json::Writer& w, const std::optional<int>& n) {
  if (n) {
    w.value(std::int64_t{*n});
  } else {
    w.null();
  }
}

// The row's policies as a replica loads them (database.cpp's to_regions), for check_policy:
// out-of-range values are reported as the replica would refuse them.
RegionPolicy policy_of(const RegionView& r) {
  RegionPolicy p;
  if (r.timeout_ms) p.timeout = ColumnMs(*r.timeout_ms);
  if (r.start_window_ms) p.start_window = ColumnMs(*r.start_window_ms);
  p.retry_backoff = ColumnMs(r.retry_backoff_ms);
  p.jitter = ColumnMs(r.jitter_ms);
  p.max_attempts = r.max_attempts;
  p.overlap = parse_overlap(r.overlap);
  return p;
}

// "paused": {"at", "by", "reason"}, or null.
void write_pause(json::Writer& w, const RegionView& r) {
  w.key("paused");
  if (!r.paused_at) {
    w.null();
    return;
  }
  w.begin_object().key("at").value(format_time(*r.paused_at)).key("by");
  text_or_null(w, r.paused_by);
  w.key("reason");
  text_or_null(w, r.paused_reason);
  w.end_object();
}

constexpr std::size_t kFullText = std::numeric_limits<std::size_t>::max();

// "last_ended" only while last_run is running (a region's health must not vanish while its
// next run is in flight); absent otherwise, when last_run says it: long lists stay small.
void write_last_ended(json::Writer& w, const RegionView& r, std::size_t error_bytes) {
  if (!r.last_ended) return;
  const auto& e = *r.last_ended;
  w.key("last_ended").begin_object().key("status").value(e.status);
  w.key("scheduled_for").value(format_time(e.scheduled_for)).key("finished_at");
  time_or_null(w, e.finished_at);
  w.key("error");
  text_or_null(w, e.error ? std::optional(json::shorten(*e.error, error_bytes)) : std::nullopt);
  w.end_object();
}

// Every field of the region object but the closing brace; "next_fires" when asked.
void write_region_fields(json::Writer& w, const RegionView& r, const RegionState& state,
                         bool next_fires) {
  w.key("id").value(r.id);
  w.key("code").value(r.code);
  w.key("name").value(r.name);
  w.key("cron_schedule").value(r.cron_schedule);
  w.key("timezone").value(r.timezone);
  w.key("active").value(r.active);
  w.key("handlers").begin_array();
  for (const auto& h : r.handlers) w.value(h);
  w.end_array();
  w.key("tick_sql");
  text_or_null(w, r.tick_sql);
  w.key("updated_at").value(format_time(r.updated_at));
  w.key("policies").begin_object();
  w.key("timeout_ms");
  int_or_null(w, r.timeout_ms);
  w.key("max_attempts").value(std::int64_t{r.max_attempts});
  w.key("retry_backoff_ms").value(std::int64_t{r.retry_backoff_ms});
  w.key("overlap").value(r.overlap);
  w.key("start_window_ms");
  int_or_null(w, r.start_window_ms);
  w.key("jitter_ms").value(std::int64_t{r.jitter_ms});
  w.end_object();
  write_pause(w, r);
  w.key("state").value(state.state);
  w.key("error");
  text_or_null(w, state.error);
  w.key("next_fire");
  time_or_null(w, state.next.empty() ? std::nullopt : std::optional<Micros>(state.next.front()));
  if (next_fires) {
    w.key("next_fires").begin_array();
    for (const auto t : state.next) w.value(format_time(t));
    w.end_array();
  }
  w.key("last_run");
  if (r.last_run) {
    write_run(w, *r.last_run);
  } else {
    w.null();
  }
  write_last_ended(w, r, kFullText);
  w.key("pending_requests").value(r.pending_requests);
}

}  // namespace

const std::variant<cron::Expr, cron::ParseError>& ScheduleParses::expression(
    const std::string& text) {
  auto it = expressions_.find(text);
  if (it == expressions_.end()) it = expressions_.emplace(text, cron::parse(text)).first;
  return it->second;
}

const std::variant<const date::time_zone*, cron::ParseError>& ScheduleParses::zone(
    const std::string& name) {
  auto it = zones_.find(name);
  if (it == zones_.end()) it = zones_.emplace(name, cron::find_zone(name)).first;
  return it->second;
}

RegionState region_state(const RegionView& r, Micros now, int next_count, ScheduleParses* parses) {
  RegionState s;
  // Why a replica would refuse the row, in validate_region's words and order (the handler
  // names are not checked here: that takes the registry of a running replica).
  ScheduleParses here;
  auto& cache = parses ? *parses : here;
  const auto& parsed = cache.expression(r.cron_schedule);
  const auto& zone = cache.zone(r.timezone);
  if (const auto* e = std::get_if<cron::ParseError>(&parsed)) {
    s.error = "cron_schedule '" + r.cron_schedule + "': " + e->message;
  } else if (const auto* z = std::get_if<cron::ParseError>(&zone)) {
    s.error = "timezone: " + z->message;
  } else if (auto policy_error = check_policy(policy_of(r))) {
    s.error = std::move(policy_error);
  }
  // Inactive first: replicas never load such a row, so its error (still reported) does not
  // stop anything; a paused row is loaded, and refused when invalid.
  if (!r.active) {
    s.state = "inactive";
  } else if (s.error) {
    s.state = "invalid";
  } else if (r.paused_at) {
    s.state = "paused";
  } else {
    s.state = "active";
    const auto& expr = std::get<cron::Expr>(parsed);
    const auto* tz = std::get<const date::time_zone*>(zone);
    auto t = std::chrono::floor<std::chrono::seconds>(now);
    for (int i = 0; i < next_count; ++i) {
      const auto next = cron::next_after(expr, tz, t);
      if (!next) break;
      s.next.push_back(Micros(*next));
      t = *next;
    }
  }
  return s;
}

void write_region(json::Writer& w, const RegionView& r, const RegionState& state) {
  w.begin_object();
  write_region_fields(w, r, state, state.next.size() > 1);
  w.end_object();
}

void write_run(json::Writer& w, const RunView& run) {
  w.begin_object();
  w.key("id").value(run.id);
  w.key("region_id").value(run.region_id);
  w.key("code").value(run.code);
  w.key("scheduled_for").value(format_time(run.scheduled_for));
  w.key("status").value(run.status);
  w.key("trigger").value(run.trigger);
  w.key("attempt").value(std::int64_t{run.attempt});
  w.key("requested_by");
  text_or_null(w, run.requested_by);
  w.key("replica_id").value(run.replica_id);
  w.key("started_at").value(format_time(run.started_at));
  w.key("finished_at");
  time_or_null(w, run.finished_at);
  w.key("duration_seconds");
  if (run.finished_at) {
    w.value(seconds_between(run.started_at, *run.finished_at));
  } else {
    w.null();
  }
  w.key("lateness_seconds").value(seconds_between(run.scheduled_for, run.started_at));
  w.key("error");
  text_or_null(w, run.error);
  // jsonb as PostgreSQL prints it: valid JSON already. Anything else (a RunView not read
  // from the database) would break the document, so it is written as a string instead.
  w.key("details");
  if (!run.details.empty() && run.details.front() == '{' && run.details.back() == '}') {
    w.raw(run.details);
  } else {
    w.value(run.details);
  }
  w.key("cancel_requested_at");
  time_or_null(w, run.cancel_requested_at);
  w.key("cancel_requested_by");
  text_or_null(w, run.cancel_requested_by);
  w.end_object();
}

void write_audit(json::Writer& w, const AuditView& a) {
  w.begin_object();
  w.key("id").value(a.id);
  w.key("region_id").value(a.region_id);
  w.key("code").value(a.code);
  w.key("op").value(a.op);
  w.key("at").value(format_time(a.at));
  w.key("actor").value(a.actor);
  // jsonb columns, as PostgreSQL prints them.
  w.key("old");
  a.old_values ? w.raw(*a.old_values) : w.null();
  w.key("new");
  a.new_values ? w.raw(*a.new_values) : w.null();
  w.end_object();
}

void write_replica(json::Writer& w, const ReplicaView& r) {
  w.begin_object();
  w.key("replica_id").value(r.replica_id);
  w.key("heartbeat_at").value(format_time(r.heartbeat_at));
  w.key("version");
  text_or_null(w, r.version);
  w.key("running").value(r.running);
  w.end_object();
}

std::string regions_document(const std::vector<RegionView>& regions, Micros now) {
  json::Writer w;
  w.begin_object().key("regions").begin_array();
  for (const auto& r : regions) write_region(w, r, region_state(r, now, 1));
  w.end_array().end_object();
  return std::move(w).str();
}

void write_list_fields(json::Writer& w, const RegionView& r, const RegionState& state) {
  w.key("id").value(r.id).key("code").value(r.code).key("name").value(r.name);
  w.key("cron_schedule").value(json::shorten(r.cron_schedule, kListTextBytes));
  w.key("timezone").value(r.timezone).key("active").value(r.active);
  w.key("state").value(state.state).key("error");
  text_or_null(
      w, state.error ? std::optional(json::shorten(*state.error, kListTextBytes)) : std::nullopt);
  w.key("next_fire");
  time_or_null(w, state.next.empty() ? std::nullopt : std::optional<Micros>(state.next.front()));
  w.key("updated_at").value(format_time(r.updated_at));
  write_pause(w, r);
  w.key("pending_requests").value(r.pending_requests);
  w.key("last_run");
  if (const auto& run = r.last_run) {
    w.begin_object().key("id").value(run->id).key("status").value(run->status);
    w.key("trigger").value(run->trigger);
    w.key("scheduled_for").value(format_time(run->scheduled_for));
    w.key("started_at").value(format_time(run->started_at)).key("finished_at");
    time_or_null(w, run->finished_at);
    w.key("error");
    text_or_null(
        w, run->error ? std::optional(json::shorten(*run->error, kListTextBytes)) : std::nullopt);
    w.end_object();
  } else {
    w.null();
  }
  write_last_ended(w, r, kListTextBytes);
}

std::string regions_list_document(const std::vector<RegionView>& regions, Micros now) {
  json::Writer w;
  w.begin_object().key("regions").begin_array();
  for (const auto& r : regions) {
    w.begin_object();
    write_list_fields(w, r, region_state(r, now, 1));
    w.end_object();
  }
  w.end_array().end_object();
  return std::move(w).str();
}

std::string region_document(const RegionView& r, const RegionState& state,
                            const std::vector<RunView>& runs, const std::vector<AuditView>& audit) {
  json::Writer w;
  w.begin_object();
  write_region_fields(w, r, state, true);
  w.key("runs").begin_array();
  for (const auto& run : runs) write_run(w, run);
  w.end_array();
  w.key("audit").begin_array();
  for (const auto& a : audit) write_audit(w, a);
  w.end_array();
  w.end_object();
  return std::move(w).str();
}

std::string runs_document(const std::vector<RunView>& runs, int limit) {
  json::Writer w;
  w.begin_object().key("runs").begin_array();
  for (const auto& run : runs) write_run(w, run);
  w.end_array();
  // A full page may have more behind it (at worst the next page is empty).
  const bool more = !runs.empty() && runs.size() >= static_cast<std::size_t>(limit);
  w.key("next_cursor");
  if (more) {
    w.value(run_cursor(runs.back()));
  } else {
    w.null();
  }
  w.key("next_before");
  if (more) {
    w.value(runs.back().id);
  } else {
    w.null();
  }
  w.end_object();
  return std::move(w).str();
}

std::string run_cursor(const RunView& run) {
  return std::to_string(run.scheduled_for.time_since_epoch().count()) + "_" +
         std::to_string(run.id);
}

std::string replicas_document(const std::vector<ReplicaView>& replicas) {
  json::Writer w;
  w.begin_object().key("replicas").begin_array();
  for (const auto& r : replicas) write_replica(w, r);
  w.end_array().end_object();
  return std::move(w).str();
}

std::int64_t whole_number(std::string_view name, const std::string& text) {
  std::int64_t n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw ControlError(ControlError::Kind::bad_input,
                       std::string(name) + ": '" + text + "' is not a whole number");
  }
  return n;
}

namespace {

// run_cursor's text back, or ControlError(bad_input). The instant must be one that
// PostgreSQL and format_time can both write (years 1-9999).
RunCursor parse_cursor(const std::string& text) {
  const auto refuse = [&] {
    return ControlError(ControlError::Kind::bad_input,
                        "cursor: '" + text + "' is not a cursor (pass a page's next_cursor)");
  };
  const auto sep = text.find('_');
  if (sep == std::string::npos) throw refuse();
  std::int64_t us = 0;
  std::int64_t id = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [us_end, us_error] = std::from_chars(first, first + sep, us);
  const auto [id_end, id_error] = std::from_chars(first + sep + 1, last, id);
  constexpr std::int64_t kYear1 = -62'135'596'800'000'000;      // 0001-01-01T00:00:00Z
  constexpr std::int64_t kYear10000 = 253'402'300'800'000'000;  // 10000-01-01T00:00:00Z
  if (sep == 0 || us_error != std::errc() || us_end != first + sep || id_error != std::errc() ||
      id_end != last || sep + 1 == text.size() || us < kYear1 || us >= kYear10000) {
    throw refuse();
  }
  return {Micros(std::chrono::microseconds(us)), id};
}

}  // namespace

RunFilter run_filter(const RunOptions& o) {
  RunFilter f;
  f.code = o.region;
  f.status = o.status;
  if (o.since) {
    auto parsed = parse_time(*o.since);
    if (const auto* error = std::get_if<std::string>(&parsed)) {
      throw ControlError(ControlError::Kind::bad_input, "since: " + *error);
    }
    f.since = std::get<Micros>(parsed);
  }
  if (o.limit) {
    const auto n = whole_number("limit", *o.limit);
    // Out of int's range is out of 1-1000 too: ControlStore::runs says so.
    f.limit = n < 0 ? -1 : static_cast<int>(std::min<std::int64_t>(n, 1'000'000));
  }
  if (o.before) f.before = whole_number("before", *o.before);
  if (o.cursor) f.cursor = parse_cursor(*o.cursor);
  return f;
}

std::string run_line(const RunView& run) {
  std::string line = "run " + std::to_string(run.id) + " " + run.status + "  " +
                     format_time(run.scheduled_for) + "  " + run.trigger;
  if (run.requested_by) line += " by " + *run.requested_by;
  line += "  attempt " + std::to_string(run.attempt);
  if (run.finished_at) {
    char took[32];
    std::snprintf(took, sizeof took, "  %.2f s", seconds_between(run.started_at, *run.finished_at));
    line += took;
  } else {
    line += "  since " + format_time(run.started_at);
  }
  if (run.cancel_requested_at) {
    line += "  cancel asked";
    if (run.cancel_requested_by) line += " by " + *run.cancel_requested_by;
  }
  if (run.error) line += "  error: " + *run.error;
  return line;
}

}  // namespace tickd::control
