#pragma once
// Judging other replicas dead, and what to do with the ticks they left running. Pure: the
// service feeds in the outcome of each liveness round and the orphaned rows it found.
//
// A replica is dead on evidence gathered while the database was up, never because the
// database itself was down, restarting or failing over (every heartbeat stops then, and
// every session lock is released):
// - crashed: it took its liveness lock (a session advisory lock on its direct connection)
//   since the server started, on the server's current timeline (a promoted standby has a
//   new one), the lock is free now, and its heartbeat has stopped for a moment. Its process
//   (or at least its connection) is gone: well under a second from crash to takeover.
// - lease: its heartbeat is older than the lease, counting only time since the database
//   started and since this replica's unbroken view of it began (frozen or partitioned).
// The SQL applies these rules (sql.hpp: kJudgeReplicas); Witness supplies "since".

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tickd {

// This replica's unbroken view of the database: consecutive successful liveness rounds,
// each begun within `max_gap` of the end of the previous one. Only time inside the view may
// count against another replica's silence: a round that failed, or a gap (this process
// stalled, or rounds could not run), might hide an outage that kept the others from
// heartbeating.
class Witness final {
 public:
  using Mono = std::chrono::steady_clock::time_point;
  using DbTime = std::chrono::system_clock::time_point;

  explicit Witness(std::chrono::milliseconds max_gap) : max_gap_(max_gap) {}

  // For a round beginning at `now`: since when (database time) the view is unbroken, or
  // nullopt when the view starts with this round (nothing witnessed yet).
  std::optional<DbTime> since(Mono now) const;
  // The round begun at `began` succeeded at `ended`; the database's clock read `db_time`
  // during it.
  void succeeded(Mono began, Mono ended, DbTime db_time);
  void failed();

 private:
  std::chrono::milliseconds max_gap_;
  std::optional<Mono> last_ok_;  // when the last successful round ended
  DbTime since_{};               // valid while last_ok_ is set
};

// Why a running row is orphaned, as the takeover records it.
enum class OrphanCause : std::uint8_t {
  crashed,      // its replica's session ended (the liveness lock is free)
  lease,        // its replica stopped heartbeating for the lease
  earlier_run,  // left by an earlier process of this replica id
  in_doubt,     // this replica's claim of it came back in doubt (connection lost)
};
std::string_view to_string(OrphanCause);

// A running job_run row whose replica is gone.
struct Orphan {
  std::int64_t run_id = 0;
  std::int64_t region_id = 0;
  std::chrono::sys_seconds scheduled_for{};
  std::string replica_id;
  int attempt = 1;
  OrphanCause cause = OrphanCause::lease;
  // A manual or backfill run (not an instant of the schedule), and its scheduled_for's part
  // below `scheduled_for` (a manual run's request time).
  bool requested = false;
  std::chrono::microseconds fraction{};
};

// What the taker does with an orphan: run the tick again on the same row (attempt + 1)
// while it can still start by its start deadline, with a free slot; end it `abandoned`
// once it cannot; or leave it for a later round (no free slot yet, deadline not passed).
enum class Takeover { rerun, abandon, later };

struct TakeoverInputs {
  bool region_known = false;  // valid and scheduled here (else: abandon)
  std::chrono::sys_time<std::chrono::milliseconds> deadline{};  // the tick's start deadline
  std::chrono::sys_time<std::chrono::milliseconds> now{};
  bool free_slot = false;
  // Its handlers may run again: `http` and `command` only while max_attempts allows
  // another attempt (spec: a crash is not the tick's failure for the others).
  bool repeatable = true;
};
Takeover decide_takeover(const TakeoverInputs& in);

// The error recorded on an orphan ended `abandoned`: why it died, and why it is not run
// again (decided from the same inputs as decide_takeover).
std::string abandon_reason(const Orphan& orphan, const TakeoverInputs& in);

}  // namespace tickd
