#include "tickd/dispatch/liveness.hpp"

namespace tickd {

std::optional<Witness::DbTime> Witness::since(Mono now) const {
  if (!last_ok_ || now - *last_ok_ > max_gap_) return std::nullopt;
  return since_;
}

void Witness::succeeded(Mono began, Mono ended, DbTime db_time) {
  if (!since(began)) since_ = db_time;
  last_ok_ = ended;
}

void Witness::failed() { last_ok_.reset(); }

std::string_view to_string(OrphanCause cause) {
  switch (cause) {
    case OrphanCause::crashed:
      return "crashed";
    case OrphanCause::lease:
      return "lease";
    case OrphanCause::earlier_run:
      return "earlier_run";
    case OrphanCause::in_doubt:
      return "in_doubt";
  }
  return "lease";
}

Takeover decide_takeover(const TakeoverInputs& in) {
  if (!in.region_known || !in.repeatable || in.now > in.deadline) return Takeover::abandon;
  return in.free_slot ? Takeover::rerun : Takeover::later;
}

std::string abandon_reason(const Orphan& orphan, const TakeoverInputs& in) {
  std::string why;
  switch (orphan.cause) {
    case OrphanCause::crashed:
      why = "replica " + orphan.replica_id + " died (its database session ended)";
      break;
    case OrphanCause::lease:
      why = "replica " + orphan.replica_id + " stopped renewing its lease";
      break;
    case OrphanCause::earlier_run:
      why = "replica " + orphan.replica_id + " restarted while this tick was running";
      break;
    case OrphanCause::in_doubt:
      why = "its claim came back in doubt (connection lost) and it was found later";
      break;
  }
  why += !in.region_known ? "; not run again: the region is no longer scheduled"
         : !in.repeatable
             ? "; not run again: its http or command handler repeats only while max_attempts "
               "allows another attempt"
             : "; not run again: past its start deadline";
  return why;
}

}  // namespace tickd
