#pragma once
// Internal to src/control: the one JSON shape of each view (the CLI's --json and the /v1
// API print the same documents), and the region facts both compute: its state and its
// next instants from the cron engine in its zone. (views.cpp)

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tickd/cron/cron.hpp"
#include "tickd/db/control_store.hpp"
#include "tickd/util/json.hpp"

namespace tickd::control {

// "active", "paused", "inactive" or "invalid" (the expression, zone or a policy refused:
// `error` says why, as a replica would log it).
struct RegionState {
  std::string state;
  std::optional<std::string> error;
  std::vector<Micros> next;  // the next instants after `now` (none when not scheduled)
};
// Each distinct expression and zone parsed once: a list of thousands of regions shares
// few, and parsing is most of region_state's cost there.
class ScheduleParses final {
 public:
  const std::variant<cron::Expr, cron::ParseError>& expression(const std::string& text);
  const std::variant<const date::time_zone*, cron::ParseError>& zone(const std::string& name);

 private:
  std::map<std::string, std::variant<cron::Expr, cron::ParseError>, std::less<>> expressions_;
  std::map<std::string, std::variant<const date::time_zone*, cron::ParseError>, std::less<>> zones_;
};
// `parses`: where to keep the parses for the next call (nullptr: parse here).
RegionState region_state(const RegionView& r, Micros now, int next_count,
                         ScheduleParses* parses = nullptr);

// {"id", "code", "name", "cron_schedule", "timezone", "active", "handlers", "tick_sql",
//  "updated_at", "policies": {...}, "paused": null | {"at", "by", "reason"}, "state",
//  "error", "next_fire", "last_run": null | run, "pending_requests"}; with `next_count` > 1
// also "next_fires": [...].
void write_region(json::Writer& w, const RegionView& r, const RegionState& state);
// {"id", "region_id", "code", "scheduled_for", "status", "trigger", "attempt",
//  "requested_by", "replica_id", "started_at", "finished_at", "duration_seconds",
//  "lateness_seconds", "error", "details", "cancel_requested_at", "cancel_requested_by"}
void write_run(json::Writer& w, const RunView& run);
void write_audit(json::Writer& w, const AuditView& a);
void write_replica(json::Writer& w, const ReplicaView& r);

// The documents themselves, one for each read (the CLI's --json and the API answer with the
// same text). `tickd region list`, GET /v1/regions: {"regions": [region...]}.
std::string regions_document(const std::vector<RegionView>& regions, Micros now);
// The same list with what a list of thousands shows (GET /v1/regions?view=list, the
// console): each region's identity, schedule, state, next fire, pause and last run without
// its details; long texts cut at kListTextBytes.
inline constexpr std::size_t kListTextBytes = 512;
std::string regions_list_document(const std::vector<RegionView>& regions, Micros now);
// The fields of one region of that list, without the braces (a page adds its own).
void write_list_fields(json::Writer& w, const RegionView& r, const RegionState& state);
// `tickd region show`, GET /v1/regions/{code}: the region object (with its kShowNextFires
// next instants as "next_fires") plus "runs": its newest runs and "audit": its newest audit
// rows, as given.
inline constexpr int kShowNextFires = 5;
inline constexpr int kShowRuns = 10;
inline constexpr int kShowAudit = 20;
std::string region_document(const RegionView& r, const RegionState& state,
                            const std::vector<RunView>& runs, const std::vector<AuditView>& audit);
// `tickd runs`, GET /v1/runs, GET /v1/regions/{code}/runs: {"runs": [...], "next_cursor":
// the `cursor` of the next page, "next_before": the id to pass as `before` for it (the same
// page, found by one more lookup), both null when this page was not full}.
std::string runs_document(const std::vector<RunView>& runs, int limit);
// The cursor of the page after `run`, as text: "<scheduled_for in Unix microseconds>_<id>"
// (opaque to clients, who pass back what a page gave).
std::string run_cursor(const RunView& run);
// GET /v1/replicas: {"replicas": [...]}.
std::string replicas_document(const std::vector<ReplicaView>& replicas);

// The options of a runs page as text (the CLI's --region/--status/--since/--limit/--before/
// --cursor, the API's query parameters), each nullopt when not given, as a RunFilter. Throws
// ControlError(bad_input) naming the option that is not a whole number, a time or a cursor;
// the ranges and the status are checked by ControlStore::runs.
// `text` as a whole number, or ControlError(bad_input): "<name>: '<text>' is not a whole
// number" (also when it does not fit 64 bits).
std::int64_t whole_number(std::string_view name, const std::string& text);

struct RunOptions {
  std::optional<std::string> region, status, since, limit, before, cursor;
};
RunFilter run_filter(const RunOptions& options);

// One line for people: "run 42 ok  2026-03-08T10:00:00Z  manual by alice  attempt 1  0.31 s".
std::string run_line(const RunView& run);

}  // namespace tickd::control
