#pragma once
// Keeps the schedule in line with region_index: reads the active rows off the loop and
// applies the diff (plan_reconcile) on it. One reconcile at a time; requests made meanwhile
// are merged into the next one (their ids together; a full request makes it a full pass).
// A request names the changed ids (a scoped pass: only those rows are read and compared) or
// none (a full pass: every active row, and known regions absent from them are removed). A
// full pass also runs every `refresh_interval`. A failed read is redone as a full pass after
// a backoff (250 ms, doubling, at most 10 s) that a new request does not wait for.
// Lives on the event loop; `read` runs through `offload` and may throw DbError.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db_health.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/schedule/region.hpp"
#include "tickd/schedule/schedule.hpp"
#include "tickd/util/clock.hpp"
#include "tickd/util/timer.hpp"

namespace tickd {

class ReconcileLoop final {
 public:
  using Scope = std::optional<std::vector<std::int64_t>>;  // nullopt: every region
  // The active rows of `scope` (every active row for nullopt). Blocks; throws DbError.
  using Read = std::function<std::vector<RegionRow>(const Scope& scope)>;
  // The id and version of every active row. Blocks; throws DbError.
  using ReadVersions = std::function<std::vector<RegionVersion>()>;

  struct Settings {
    std::chrono::milliseconds refresh_interval{300'000};  // REGION_REFRESH_INTERVAL_MS
  };

  // `applied` runs on the loop after each pass that succeeded (the tick loop re-arms).
  ReconcileLoop(boost::asio::io_context& loop, Offload offload, Read read, Timers& timers,
                const Clock& clock, Schedule& schedule, Metrics& metrics, DbHealth& db,
                std::function<void()> applied, Settings settings);

  // With it, a full pass after the first reads the versions of the active rows, then only the
  // rows whose version moved (as a scoped pass; all rows when more than kMaxScopedIds moved):
  // at a million regions a pass that finds nothing changed reads a few MB, not a few hundred.
  void compare_versions(ReadVersions read) { read_versions_ = std::move(read); }
  // The first (full) pass, and the periodic ones after it.
  void start();
  void request(Scope ids);
  // No pass starts after this one; one already reading still applies when its rows come.
  void stop();
  // A pass has succeeded: the schedule holds what region_index held.
  bool first_done() const { return first_done_; }

  // A scoped request naming more regions than this is cheaper as a full pass.
  static constexpr std::size_t kMaxScopedIds = 5'000;

 private:
  void start_pass();
  using Mono = std::chrono::steady_clock::time_point;
  struct Pass {
    bool full = false;
    Mono t0;                    // when it started
    Mono::duration read{};      // reading versions and rows, off the loop
    Mono::duration compared{};  // comparing versions, on the loop
    std::size_t versions = 0;   // versions compared (0: the rows were read directly)
  };
  void read_rows(Scope scope, Pass pass);
  void read_versions(Pass pass);
  void compare(std::vector<RegionVersion> versions, Pass pass);
  void fail_later(const std::string& error, Pass pass);
  void finish(Scope scope, std::vector<RegionRow> rows, Pass pass);
  void failed(const std::string& error, double seconds);
  void arm_refresh();

  boost::asio::io_context& loop_;
  Offload offload_;
  Read read_;
  ReadVersions read_versions_;
  const Clock& clock_;
  Schedule& schedule_;
  Metrics& metrics_;
  DbHealth& db_;
  std::function<void()> applied_;
  const Settings settings_;
  std::unique_ptr<Timer> refresh_;
  std::unique_ptr<Timer> retry_;

  bool reconciling_ = false;
  bool pending_ = false;
  bool pending_full_ = false;
  std::vector<std::int64_t> pending_ids_;
  bool first_done_ = false;
  bool stopped_ = false;
  std::chrono::milliseconds backoff_{250};
};

}  // namespace tickd
