// Google Benchmark of the cron engine: parse, and next_after from 1024 fixed instants spread
// over 2026 (the same instants bench/croner_bench.cjs uses). Cases: bench/cron-cases.txt.

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tickd/cron/cron.hpp"

namespace {

namespace cron = tickd::cron;

// 2026-01-01T00:00:00Z plus a scrambled second of the year.
std::array<std::chrono::sys_seconds, 1024> start_instants() {
  std::array<std::chrono::sys_seconds, 1024> out{};
  for (std::uint64_t i = 0; i < out.size(); ++i) {
    const auto s = static_cast<std::int64_t>(1767225600 + (i * 2654435761u) % 31536000);
    out[i] = std::chrono::sys_seconds{std::chrono::seconds{s}};
  }
  return out;
}

void bench_parse(benchmark::State& state, const std::string& text) {
  for (auto _ : state) {
    auto parsed = cron::parse(text);
    benchmark::DoNotOptimize(parsed);
  }
}

void bench_next(benchmark::State& state, const std::string& text, const std::string& zone_name) {
  const auto expr = std::get<cron::Expr>(cron::parse(text));
  const auto* zone = std::get<const date::time_zone*>(cron::find_zone(zone_name));
  static const auto starts = start_instants();
  std::size_t i = 0;
  for (auto _ : state) {
    auto next = cron::next_after(expr, zone, starts[i++ & 1023]);
    benchmark::DoNotOptimize(next);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::ifstream cases(TICKD_CRON_CASES);
  if (!cases) {
    std::fprintf(stderr, "cron_bench: cannot read %s\n", TICKD_CRON_CASES);
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> list;  // zone, expression
  for (std::string line; std::getline(cases, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    list.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  for (const auto& [zone, text] : list) {
    if (zone == "UTC") benchmark::RegisterBenchmark(("parse/" + text).c_str(), bench_parse, text);
  }
  for (const auto& [zone, text] : list) {
    benchmark::RegisterBenchmark(("next/" + zone + "/" + text).c_str(), bench_next, text, zone);
  }
  // Worst case: an expression that never fires searches 400 years, month by month.
  for (const char* zone : {"UTC", "America/New_York"}) {
    benchmark::RegisterBenchmark((std::string("never/") + zone + "/0 0 30 2 *").c_str(), bench_next,
                                 std::string("0 0 30 2 *"), std::string(zone));
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
