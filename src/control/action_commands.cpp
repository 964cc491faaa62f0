// `tickd region pause|resume|trigger|backfill|cancel`: the actions, on the database alone.

#include <chrono>
#include <thread>

#include "cli_common.hpp"
#include "views.hpp"

namespace tickd::control {
namespace {

using Kind = ControlError::Kind;

const std::string& code_of(const Parsed& p, std::string_view verb) {
  if (p.positional.size() != 1) {
    throw ControlError(Kind::bad_input, "expected one region code: tickd region " +
                                            std::string(verb) + " CODE (see tickd region --help)");
  }
  return p.positional[0];
}

Micros time_option(const Parsed& p, std::string_view name) {
  const auto value = p.value(name);
  if (!value) throw ControlError(Kind::bad_input, std::string(name) + " is required");
  auto parsed = parse_time(*value);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    throw ControlError(Kind::bad_input, std::string(name) + ": " + *error);
  }
  return std::get<Micros>(parsed);
}

// Waits for the request's run to end; prints it. Exit 0 when it ended ok.
int wait_for(ControlStore& store, std::int64_t request_id) {
  using namespace std::chrono;
  const auto began = steady_clock::now();
  bool said = false;
  for (;;) {
    const auto run = store.request_run(request_id);
    if (run && run->status != "running") {
      std::printf("%s\n", run_line(*run).c_str());
      return run->status == "ok" ? kOk : kRefused;
    }
    if (!run && !said && steady_clock::now() - began > seconds(10)) {
      std::fprintf(stderr, "still waiting: no replica has started request %lld yet (is one up?)\n",
                   static_cast<long long>(request_id));
      said = true;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

}  // namespace

int region_pause(cli::Args args) {
  return run_command("region pause", [&] {
    const auto p = parse_args(args, {"--reason", "--by"}, {});
    const auto& code = code_of(p, "pause");
    const auto by = actor_of(p);
    auto s = open_session(p);
    std::printf("%s\n", s.store->pause(code, p.value("--reason"), by).message.c_str());
    return kOk;
  });
}

int region_resume(cli::Args args) {
  return run_command("region resume", [&] {
    const auto p = parse_args(args, {"--by"}, {});
    const auto& code = code_of(p, "resume");
    const auto by = actor_of(p);
    auto s = open_session(p);
    std::printf("%s\n", s.store->resume(code, by).message.c_str());
    return kOk;
  });
}

int region_trigger(cli::Args args) {
  return run_command("region trigger", [&] {
    const auto p = parse_args(args, {"--by"}, {"--wait"});
    const auto& code = code_of(p, "trigger");
    const auto by = actor_of(p);
    auto s = open_session(p);
    const auto result = s.store->trigger(code, by);
    if (!p.has("--wait")) {
      std::printf("%s\n", result.message.c_str());
      return kOk;
    }
    std::fflush(stdout);
    return wait_for(*s.store, *result.request_id);
  });
}

int region_backfill(cli::Args args) {
  return run_command("region backfill", [&] {
    const auto p = parse_args(args, {"--from", "--to", "--by"}, {"--dry-run"});
    const auto& code = code_of(p, "backfill");
    const auto from = time_option(p, "--from");
    const auto to = time_option(p, "--to");
    const auto by = actor_of(p);
    auto s = open_session(p);
    const bool dry_run = p.has("--dry-run");
    const auto result = s.store->backfill(code, from, to, dry_run, by);
    if (dry_run) {
      for (const auto& t : result.instants) std::printf("%s\n", format_time(t).c_str());
    }
    std::printf("%s\n", result.message.c_str());
    return kOk;
  });
}

int region_cancel(cli::Args args) {
  return run_command("region cancel", [&] {
    const auto p = parse_args(args, {"--by"}, {});
    const auto& code = code_of(p, "cancel");
    const auto by = actor_of(p);
    auto s = open_session(p);
    std::printf("%s\n", s.store->cancel(code, by).message.c_str());
    return kOk;
  });
}

}  // namespace tickd::control
