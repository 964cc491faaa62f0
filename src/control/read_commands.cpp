// `tickd region list`, `tickd region show`, `tickd runs`: tables for people, or with --json
// exactly one JSON document (the /v1 API's, views.cpp).

#include <cstdio>

#include "cli_common.hpp"
#include "views.hpp"

namespace tickd::control {
namespace {

void print_document(const std::string& json) { std::printf("%s\n", json.c_str()); }

void no_positional(const Parsed& p) {
  if (!p.positional.empty()) {
    throw ControlError(ControlError::Kind::bad_input,
                       "unexpected argument '" + p.positional.front() + "'");
  }
}

// "ok 12 s ago", "running since 3 s ago", or "-".
std::string last_run_cell(const std::optional<RunView>& run, Micros now) {
  if (!run) return "-";
  if (run->status == "running") return "running since " + ago(run->started_at, now);
  return run->status + " " + ago(run->finished_at.value_or(run->started_at), now);
}

std::string next_fire_cell(const RegionState& s, Micros now) {
  if (s.next.empty()) return "-";
  return format_time(s.next.front()) + " (" + ago(s.next.front(), now) + ")";
}

std::string ms_or_default(const std::optional<int>& ms, const char* fallback) {
  return ms ? std::to_string(*ms) : std::string("default (") + fallback + ")";
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

void print_region(const RegionView& r, const RegionState& s, const std::vector<RunView>& runs,
                  const std::vector<AuditView>& audit, Micros now) {
  std::printf("region %s (id %lld)%s%s\n", r.code.c_str(), static_cast<long long>(r.id),
              r.name.empty() ? "" : ": ", r.name.c_str());
  std::vector<std::vector<std::string>> rows = {
      {"  state", s.state},
      {"  cron", r.cron_schedule},
      {"  zone", r.timezone},
      {"  active", r.active ? "yes" : "no"},
      {"  handlers", joined(r.handlers)},
      {"  tick_sql", r.tick_sql.value_or("-")},
      {"  updated", format_time(r.updated_at) + " (" + ago(r.updated_at, now) + ")"},
      {"  pending requests", std::to_string(r.pending_requests)},
  };
  if (s.error) rows.insert(rows.begin() + 1, std::vector<std::string>{"  error", *s.error});
  if (r.paused_at) {
    rows.push_back({"  paused", format_time(*r.paused_at) + " by " + r.paused_by.value_or("?") +
                                    (r.paused_reason ? ": " + *r.paused_reason : "")});
  }
  print_table(rows);

  std::printf("policies\n");
  print_table({
      {"  timeout_ms", ms_or_default(r.timeout_ms, "TICK_TIMEOUT_MS")},
      {"  max_attempts", std::to_string(r.max_attempts)},
      {"  retry_backoff_ms", std::to_string(r.retry_backoff_ms)},
      {"  overlap", r.overlap},
      {"  start_window_ms", ms_or_default(r.start_window_ms, "MISFIRE_GRACE_MS")},
      {"  jitter_ms", std::to_string(r.jitter_ms)},
  });

  std::printf("next fires\n");
  if (s.next.empty()) std::printf("  none (%s)\n", s.state.c_str());
  for (const auto t : s.next) {
    std::printf("  %s (%s)\n", format_time(t).c_str(), ago(t, now).c_str());
  }

  std::printf("runs (newest %d)\n", kShowRuns);
  if (runs.empty()) std::printf("  none\n");
  for (const auto& run : runs) std::printf("  %s\n", run_line(run).c_str());

  std::printf("audit (newest %d)\n", kShowAudit);
  if (audit.empty()) std::printf("  none\n");
  for (const auto& a : audit) {
    std::string line = "  " + format_time(a.at) + "  " + a.op + " by " + a.actor;
    if (a.old_values) line += "  old " + *a.old_values;
    if (a.new_values) line += "  new " + *a.new_values;
    std::printf("%s\n", line.c_str());
  }
}

std::string duration_cell(const RunView& run, Micros now) {
  const auto end = run.finished_at.value_or(now);
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s%s",
                std::chrono::duration<double>(end - run.started_at).count(),
                run.finished_at ? "" : "+");
  return text;
}

}  // namespace

int region_list(cli::Args args) {
  return run_command("region list", [&] {
    const auto p = parse_args(args, {}, {"--json"});
    no_positional(p);
    auto session = open_session(p);
    const auto regions = session.store->regions();
    const auto now = now_micros();
    if (p.has("--json")) {
      print_document(regions_document(regions, now));
      return kOk;
    }
    std::vector<std::vector<std::string>> rows = {
        {"CODE", "STATE", "CRON", "ZONE", "NEXT FIRE", "LAST RUN"}};
    for (const auto& r : regions) {
      const auto s = region_state(r, now, 1);
      rows.push_back({r.code, s.state, r.cron_schedule, r.timezone, next_fire_cell(s, now),
                      last_run_cell(r.last_run, now)});
    }
    print_table(rows);
    return kOk;
  });
}

int region_show(cli::Args args) {
  return run_command("region show", [&] {
    const auto p = parse_args(args, {}, {"--json"});
    if (p.positional.size() != 1) {
      throw ControlError(ControlError::Kind::bad_input, "usage: tickd region show CODE [--json]");
    }
    const auto& code = p.positional.front();
    auto session = open_session(p);
    const auto region = session.store->region(code);
    if (!region) {
      throw ControlError(ControlError::Kind::not_found, "no region with code '" + code + "'");
    }
    RunFilter filter;
    filter.code = code;
    filter.limit = kShowRuns;
    const auto runs = session.store->runs(filter);
    const auto audit = session.store->audit(region->id, kShowAudit);
    const auto now = now_micros();
    const auto state = region_state(*region, now, kShowNextFires);
    if (p.has("--json")) {
      print_document(region_document(*region, state, runs, audit));
    } else {
      print_region(*region, state, runs, audit, now);
    }
    return kOk;
  });
}

int runs_command(cli::Args args) {
  return run_command("runs", [&] {
    const auto p = parse_args(
        args, {"--region", "--status", "--since", "--limit", "--before", "--cursor"}, {"--json"});
    no_positional(p);
    const auto filter = run_filter({p.value("--region"), p.value("--status"), p.value("--since"),
                                    p.value("--limit"), p.value("--before"), p.value("--cursor")});
    auto session = open_session(p);
    const auto runs = session.store->runs(filter);
    if (p.has("--json")) {
      print_document(runs_document(runs, filter.limit));
      return kOk;
    }
    const auto now = now_micros();
    std::vector<std::vector<std::string>> rows = {{"ID", "REGION", "SCHEDULED FOR", "STATUS",
                                                   "TRIGGER", "ATTEMPT", "STARTED", "DURATION",
                                                   "REPLICA", "ERROR"}};
    for (const auto& run : runs) {
      rows.push_back({std::to_string(run.id), run.code.empty() ? "-" : run.code,
                      format_time(run.scheduled_for), run.status,
                      run.trigger + (run.requested_by ? " by " + *run.requested_by : ""),
                      std::to_string(run.attempt), ago(run.started_at, now),
                      duration_cell(run, now), run.replica_id, run.error.value_or("")});
    }
    if (runs.empty()) {
      std::printf("no runs\n");
    } else {
      print_table(rows);
    }
    if (!runs.empty() && runs.size() >= static_cast<std::size_t>(filter.limit)) {
      std::printf("more: --cursor %s\n", run_cursor(runs.back()).c_str());
    }
    return kOk;
  });
}

}  // namespace tickd::control
