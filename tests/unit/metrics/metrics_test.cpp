#include "tickd/metrics/metrics.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

// "name{labels}" -> value, for every sample line of the exposition.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

double value(const tickd::Metrics& m, const std::string& series) {
  const auto all = samples(m.serialize());
  const auto it = all.find(series);
  if (it == all.end()) FAIL("no series " << series);
  return it->second;
}

bool has(const tickd::Metrics& m, const std::string& series) {
  return samples(m.serialize()).contains(series);
}

// Exit status of `promtool check metrics` on text, or -1 when promtool is missing.
int promtool_check(const std::string& text, std::string& output) {
  if (!std::filesystem::exists("/usr/bin/promtool")) return -1;
  const auto path = std::filesystem::temp_directory_path() /
                    ("tickd-metrics-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  const std::string cmd = "/usr/bin/promtool check metrics < '" + path.string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) output += buf;
  const int status = ::pclose(p);
  std::filesystem::remove(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

TEST_CASE("every series of the contract exists from construction with its starting value") {
  const tickd::Metrics m("1.2.3");
  const std::map<std::string, double> expected{
      {"tickd_schedules", 0},
      {"tickd_invalid_schedules", 0},
      {"tickd_paused_schedules", 0},
      {R"(tickd_ticks_total{outcome="ran"})", 0},
      {R"(tickd_ticks_total{outcome="failed"})", 0},
      {R"(tickd_ticks_total{outcome="lost"})", 0},
      {R"(tickd_ticks_total{outcome="skipped"})", 0},
      {R"(tickd_ticks_total{outcome="missed"})", 0},
      {R"(tickd_ticks_total{outcome="abandoned"})", 0},
      {"tickd_claim_attempts_total", 0},
      {"tickd_fenced_writes_total", 0},
      {"tickd_ticks_rerun_total", 0},
      {R"(tickd_tick_attempts_total{result="ok"})", 0},
      {R"(tickd_tick_attempts_total{result="failed"})", 0},
      {R"(tickd_tick_attempts_total{result="timed_out"})", 0},
      {"tickd_tick_lateness_seconds_count", 0},
      {"tickd_tick_lateness_seconds_sum", 0},
      {R"(tickd_tick_lateness_seconds_bucket{le="+Inf"})", 0},
      {R"(tickd_handler_duration_seconds_count{handler="region"})", 0},
      {R"(tickd_handler_duration_seconds_count{handler="sync"})", 0},
      {R"(tickd_handler_duration_seconds_count{handler="upload"})", 0},
      {R"(tickd_handler_duration_seconds_count{handler="publish"})", 0},
      {R"(tickd_reconcile_total{result="ok"})", 0},
      {R"(tickd_reconcile_total{result="error"})", 0},
      {"tickd_reconcile_duration_seconds_count", 0},
      {"tickd_reconcile_rearmed_total", 0},
      {"tickd_inflight", 0},
      {"tickd_db_up", 0},
      {R"(tickd_db_pool_wait_seconds_count{pool="bookkeeping"})", 0},
      {R"(tickd_db_pool_wait_seconds_count{pool="handlers"})", 0},
      {R"(tickd_db_pool_in_use{pool="bookkeeping"})", 0},
      {R"(tickd_db_pool_in_use{pool="handlers"})", 0},
      {R"(tickd_db_pool_size{pool="bookkeeping"})", 0},
      {R"(tickd_db_pool_size{pool="handlers"})", 0},
      {R"(tickd_build_info{version="1.2.3"})", 1},
  };
  const auto all = samples(m.serialize());
  for (const auto& [series, v] : expected) {
    CAPTURE(series);
    REQUIRE(all.contains(series));
    CHECK(all.at(series) == v);
  }
}

TEST_CASE("the process series are present and plausible") {
  const tickd::Metrics m("dev");
  const auto all = samples(m.serialize());
  REQUIRE(all.contains("process_cpu_seconds_total"));
  CHECK(all.at("process_cpu_seconds_total") >= 0);
  REQUIRE(all.contains("process_resident_memory_bytes"));
  CHECK(all.at("process_resident_memory_bytes") > 1024 * 1024);
  REQUIRE(all.contains("process_start_time_seconds"));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // Started before now, and not more than a day ago (the test process is young).
  CHECK(all.at("process_start_time_seconds") <= now + 1);
  CHECK(all.at("process_start_time_seconds") > now - 86400);
  REQUIRE(all.contains("process_open_fds"));
  CHECK(all.at("process_open_fds") >= 3);
}

TEST_CASE("ticks are counted per outcome") {
  tickd::Metrics m("dev");
  m.count_tick(tickd::TickOutcome::ran);
  m.count_tick(tickd::TickOutcome::ran);
  m.count_tick(tickd::TickOutcome::lost);
  m.count_tick(tickd::TickOutcome::abandoned);
  CHECK(value(m, R"(tickd_ticks_total{outcome="ran"})") == 2);
  CHECK(value(m, R"(tickd_ticks_total{outcome="lost"})") == 1);
  CHECK(value(m, R"(tickd_ticks_total{outcome="abandoned"})") == 1);
  CHECK(value(m, R"(tickd_ticks_total{outcome="failed"})") == 0);
}

TEST_CASE("outcome names are the contract's words") {
  CHECK(tickd::to_string(tickd::TickOutcome::ran) == "ran");
  CHECK(tickd::to_string(tickd::TickOutcome::failed) == "failed");
  CHECK(tickd::to_string(tickd::TickOutcome::lost) == "lost");
  CHECK(tickd::to_string(tickd::TickOutcome::skipped) == "skipped");
  CHECK(tickd::to_string(tickd::TickOutcome::missed) == "missed");
  CHECK(tickd::to_string(tickd::TickOutcome::abandoned) == "abandoned");
}

TEST_CASE("gauges take the last value set") {
  tickd::Metrics m("dev");
  m.set_schedules(7);
  m.set_invalid_schedules(2);
  m.set_paused_schedules(4);
  m.set_inflight(3);
  m.set_db_up(true);
  CHECK(value(m, "tickd_schedules") == 7);
  CHECK(value(m, "tickd_invalid_schedules") == 2);
  CHECK(value(m, "tickd_paused_schedules") == 4);
  CHECK(value(m, "tickd_inflight") == 3);
  CHECK(value(m, "tickd_db_up") == 1);
  m.set_db_up(false);
  m.set_inflight(0);
  CHECK(value(m, "tickd_db_up") == 0);
  CHECK(value(m, "tickd_inflight") == 0);
}

TEST_CASE("claims, reconciles and lateness are counted and observed") {
  tickd::Metrics m("dev");
  m.count_claim_attempt();
  m.count_claim_attempt();
  m.count_fenced();
  m.count_rerun();
  m.count_attempt(tickd::AttemptResult::failed);
  m.count_attempt(tickd::AttemptResult::timed_out);
  m.count_attempt(tickd::AttemptResult::failed);
  m.count_reconcile(true, 0.004);
  m.count_reconcile(false, 0.2);
  m.observe_lateness(0.003);
  m.observe_lateness(2.0);
  m.observe_lateness(-0.5);  // a timer that woke early counts as on time
  CHECK(value(m, "tickd_claim_attempts_total") == 2);
  CHECK(value(m, "tickd_fenced_writes_total") == 1);
  CHECK(value(m, "tickd_ticks_rerun_total") == 1);
  CHECK(value(m, R"(tickd_tick_attempts_total{result="failed"})") == 2);
  CHECK(value(m, R"(tickd_tick_attempts_total{result="timed_out"})") == 1);
  CHECK(value(m, R"(tickd_tick_attempts_total{result="ok"})") == 0);
  CHECK(value(m, R"(tickd_reconcile_total{result="ok"})") == 1);
  CHECK(value(m, R"(tickd_reconcile_total{result="error"})") == 1);
  CHECK(value(m, "tickd_reconcile_duration_seconds_count") == 2);
  CHECK(value(m, "tickd_tick_lateness_seconds_count") == 3);
  CHECK(value(m, "tickd_tick_lateness_seconds_sum") == doctest::Approx(2.003));
  CHECK(value(m, R"(tickd_tick_lateness_seconds_bucket{le="0.001"})") == 1);
  CHECK(value(m, R"(tickd_tick_lateness_seconds_bucket{le="0.005"})") == 2);
  CHECK(value(m, R"(tickd_tick_lateness_seconds_bucket{le="60"})") == 3);
}

TEST_CASE("the database pools' waits and connections are reported per pool") {
  tickd::Metrics m("dev");
  m.set_db_pool_size(tickd::DbPool::bookkeeping, 4);
  m.set_db_pool_size(tickd::DbPool::handlers, 8);
  m.set_db_pool_in_use(tickd::DbPool::handlers, 6);
  m.observe_db_pool_wait(tickd::DbPool::handlers, 0.0001);
  m.observe_db_pool_wait(tickd::DbPool::handlers, 1.5);
  m.observe_db_pool_wait(tickd::DbPool::bookkeeping, 0.002);
  CHECK(value(m, R"(tickd_db_pool_size{pool="bookkeeping"})") == 4);
  CHECK(value(m, R"(tickd_db_pool_size{pool="handlers"})") == 8);
  CHECK(value(m, R"(tickd_db_pool_in_use{pool="handlers"})") == 6);
  CHECK(value(m, R"(tickd_db_pool_in_use{pool="bookkeeping"})") == 0);
  CHECK(value(m, R"(tickd_db_pool_wait_seconds_count{pool="handlers"})") == 2);
  // The alert TickdDbPoolSaturated reads the bucket le="1".
  CHECK(value(m, R"(tickd_db_pool_wait_seconds_bucket{pool="handlers",le="1"})") == 1);
  CHECK(value(m, R"(tickd_db_pool_wait_seconds_bucket{pool="bookkeeping",le="0.0025"})") == 1);
  CHECK(tickd::to_string(tickd::DbPool::handlers) == "handlers");
}

TEST_CASE("a handler name seen for the first time gets its own series") {
  tickd::Metrics m("dev");
  CHECK_FALSE(has(m, R"(tickd_handler_duration_seconds_count{handler="thumbnail"})"));
  m.observe_handler("thumbnail", 0.5);
  m.observe_handler("region", 0.01);
  CHECK(value(m, R"(tickd_handler_duration_seconds_count{handler="thumbnail"})") == 1);
  CHECK(value(m, R"(tickd_handler_duration_seconds_sum{handler="thumbnail"})") == 0.5);
  CHECK(value(m, R"(tickd_handler_duration_seconds_count{handler="region"})") == 1);
  CHECK(value(m, R"(tickd_handler_duration_seconds_count{handler="sync"})") == 0);
}

TEST_CASE("handler series stop growing at a cap and fold into handler=\"other\"") {
  tickd::Metrics m("dev");
  for (int i = 0; i < 200; ++i) m.observe_handler("h" + std::to_string(i), 0.001);
  const auto all = samples(m.serialize());
  std::size_t series = 0;
  for (const auto& [k, v] : all) {
    if (k.starts_with("tickd_handler_duration_seconds_count{")) ++series;
  }
  CHECK(series <= 65);
  REQUIRE(all.contains(R"(tickd_handler_duration_seconds_count{handler="other"})"));
  double total = 0;
  for (const auto& [k, v] : all) {
    if (k.starts_with("tickd_handler_duration_seconds_count{")) total += v;
  }
  CHECK(total == 200);
}

TEST_CASE("counting from many threads at once loses nothing") {
  tickd::Metrics m("dev");
  constexpr int kThreads = 4;
  constexpr int kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kEach; ++i) {
        m.count_tick(tickd::TickOutcome::ran);
        m.count_claim_attempt();
        m.observe_handler(i % 2 == 0 ? "region" : "w" + std::to_string(t), 0.001);
        m.observe_lateness(0.002);
        if (i % 1000 == 0) (void)m.serialize();
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(value(m, R"(tickd_ticks_total{outcome="ran"})") == kThreads * kEach);
  CHECK(value(m, "tickd_claim_attempts_total") == kThreads * kEach);
  CHECK(value(m, "tickd_tick_lateness_seconds_count") == kThreads * kEach);
  CHECK(value(m, R"(tickd_handler_duration_seconds_count{handler="region"})") ==
        kThreads * kEach / 2);
  CHECK(value(m, R"(tickd_handler_duration_seconds_count{handler="w0"})") == kEach / 2);
}

TEST_CASE("each family has exactly one HELP and one TYPE line and the text ends with a newline") {
  tickd::Metrics m("dev");
  m.observe_handler("extra", 1);
  const std::string text = m.serialize();
  REQUIRE_FALSE(text.empty());
  CHECK(text.back() == '\n');
  CHECK(text.find('\r') == std::string::npos);
  std::multiset<std::string> help;
  std::multiset<std::string> type;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string hash, kind, name;
    words >> hash >> kind >> name;
    if (hash != "#") continue;
    if (kind == "HELP") help.insert(name);
    if (kind == "TYPE") type.insert(name);
  }
  CHECK(help.size() >= 17);
  for (const auto& n : type) {
    CAPTURE(n);
    CHECK(type.count(n) == 1);
    CHECK(help.count(n) == 1);
  }
  CHECK(help.size() == type.size());
}

TEST_CASE("the exposition passes promtool check metrics, fresh and after use") {
  tickd::Metrics m("0.1.0-dev \"quoted\" \\ \xff");
  std::string output;
  int rc = promtool_check(m.serialize(), output);
  if (rc == -1) {
    MESSAGE("skipped: /usr/bin/promtool not installed (Debian package prometheus)");
    return;
  }
  CAPTURE(output);
  CHECK(rc == 0);
  m.count_tick(tickd::TickOutcome::failed);
  m.observe_handler("we\"ird\nname\\\xc3", 0.25);
  m.observe_handler("", 0.25);
  m.count_reconcile(false, 1.5);
  output.clear();
  rc = promtool_check(m.serialize(), output);
  CAPTURE(output);
  CHECK(rc == 0);
}

TEST_CASE("queue and storage series are labelled from their enums, every series from start") {
  tickd::Metrics m("dev");
  CHECK(value(m, R"(tickd_queue_job_attempts_total{queue="upload",result="released"})") == 0);
  CHECK(value(m, R"(tickd_storage_requests_total{op="delete",result="error"})") == 0);
  m.count_queue_attempt(tickd::Queue::publish, tickd::QueueResult::retried);
  m.count_storage_request(tickd::StorageOp::remove, false);
  m.count_storage_request(tickd::StorageOp::fetch, true);
  m.count_storage_bytes(tickd::Transfer::upload, 1024);
  m.count_storage_bytes(tickd::Transfer::upload, 1);
  CHECK(value(m, R"(tickd_queue_job_attempts_total{queue="publish",result="retried"})") == 1);
  CHECK(value(m, R"(tickd_storage_requests_total{op="delete",result="error"})") == 1);
  CHECK(value(m, R"(tickd_storage_requests_total{op="fetch",result="ok"})") == 1);
  CHECK(value(m, R"(tickd_storage_bytes_total{direction="upload"})") == 1025);
  CHECK(value(m, R"(tickd_storage_bytes_total{direction="download"})") == 0);
}

TEST_CASE("queue row gauges take each known (queue, status) from the sampler, invent none") {
  tickd::Metrics m("dev");
  m.set_queue_jobs([](std::string_view queue, std::string_view status) {
    return queue == "upload" && status == "PENDING" ? 5.0 : 0.0;
  });
  CHECK(value(m, R"(tickd_queue_jobs{queue="upload",status="PENDING"})") == 5);
  CHECK(value(m, R"(tickd_queue_jobs{queue="publish",status="pending"})") == 0);
  CHECK_FALSE(has(m, R"(tickd_queue_jobs{queue="upload",status="bogus"})"));
}
