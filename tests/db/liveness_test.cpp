// Liveness, takeover and the in-doubt rules against a real PostgreSQL
// (TICKD_TEST_DATABASE_URL); each test case works in a fresh schema. Time is set by
// writing heartbeats and claim times into the past, never by sleeping.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <thread>

#include "schema.hpp"
#include "tickd/db/change_listener.hpp"
#include "tickd/db/database.hpp"

using namespace std::chrono_literals;
using tickd::ClaimOutcome;
using tickd::Database;
using tickd::OrphanCause;
using tickd::RunStatus;
using tickd::test::claim;
using tickd::test::finish;
using tickd::test::Schema;

namespace {

const auto t0 = std::chrono::sys_seconds(std::chrono::seconds(1'790'000'000));

// Time before the server's start never counts against a replica, and the test server may
// have started a moment ago: wait until it has been up for longer than the lease.
void wait_server_up_for(Schema& s, std::chrono::milliseconds lease) {
  const auto query = "SELECT pg_postmaster_start_time() < now() - interval '" +
                     std::to_string(lease.count()) + " ms'";
  for (int i = 0; i < 200 && !s.sql(query)[0][0].as<bool>(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
}

// The judge's round, as the service fills it in, with nothing witnessed yet.
Database::LivenessRound judge_round(std::chrono::milliseconds lease = 1s) {
  Database::LivenessRound round;
  round.replica_id = "judge";
  round.crash_silence = 500ms;
  round.lease = lease;
  return round;
}

// A round of the judge, its view of the database unbroken for `witnessed_for` (none: the
// view starts with this round).
Database::LivenessResult judge(Database& db, std::optional<std::chrono::milliseconds> witnessed_for,
                               std::chrono::milliseconds lease = 1s) {
  db.keepalive();  // a pooled connection, so that the round's clock is read at once
  auto round = judge_round(lease);
  if (witnessed_for) round.witnessed_since = std::chrono::system_clock::now() - *witnessed_for;
  return db.liveness_round(round);
}

bool is_live(const Database::LivenessResult& r, const std::string& id) {
  return std::find(r.peers.live.begin(), r.peers.live.end(), id) != r.peers.live.end();
}

}  // namespace

TEST_CASE("a replica silent only while the database was unreachable is not judged dead") {
  // The pg-restart case of the chaos suite: the outage stopped the victim's heartbeats, and
  // the judge reconnected first. Its view of the database began after the outage, so the
  // victim's silence during it does not count.
  Schema s;
  const auto id = s.region("a");
  Database victim(s.url, 1), judge_db(s.url, 1);
  REQUIRE(claim(victim, id, t0, "victim").outcome == ClaimOutcome::won);
  s.sql(
      "INSERT INTO tickd_replica (replica_id, heartbeat_at) "
      "VALUES ('victim', now() - interval '8 seconds')");
  s.sql("UPDATE job_run SET started_at = now() - interval '8 seconds'");

  wait_server_up_for(s, 1s);
  const auto after_outage = judge(judge_db, 50ms);  // an unbroken view shorter than the lease
  CHECK(after_outage.orphans.empty());
  CHECK_FALSE(is_live(after_outage, "victim"));          // not fresh: its regions move meanwhile
  CHECK(judge(judge_db, std::nullopt).orphans.empty());  // a view that starts now

  // Seen silent for longer than the lease while the database was up: dead.
  const auto witnessed = judge(judge_db, 60s);
  REQUIRE(witnessed.orphans.size() == 1);
  CHECK(witnessed.orphans[0].replica_id == "victim");
  CHECK(witnessed.orphans[0].cause == OrphanCause::lease);
  CHECK(witnessed.orphans[0].attempt == 1);
}

TEST_CASE("a replica whose session ended is judged crashed at once; a live lock holder is not") {
  Schema s;
  const auto id = s.region("a");
  Database victim_db(s.url, 1), judge_db(s.url, 1);
  tickd::ChangeListener victim(s.url, "victim");
  victim.connect();  // takes the liveness lock
  REQUIRE(claim(victim_db, id, t0, "victim").outcome == ClaimOutcome::won);
  // Its heartbeat stopped a second ago, but its session (and lock) is there: alive.
  s.sql("UPDATE tickd_replica SET heartbeat_at = now() - interval '1 second'");
  CHECK(judge(judge_db, 60s, 60s).orphans.empty());

  // A second process with the same id cannot take the lock while the first holds it.
  tickd::ChangeListener twin(s.url, "victim");
  CHECK_THROWS_AS(twin.connect(), tickd::DbError);

  victim.close();  // the process dies: the database ends its session
  // ... as soon as its backend sees the socket closed (a moment later).
  for (int i = 0; i < 500 && s.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                   "AND classid = 1953063787")[0][0]
                                     .as<int>() > 0;
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  const auto round = judge(judge_db, 60s, 60s);
  REQUIRE(round.orphans.size() == 1);
  CHECK(round.orphans[0].cause == OrphanCause::crashed);
  CHECK_FALSE(is_live(round, "victim"));

  // A heartbeat younger than the crash silence: not yet (a replica reconnecting).
  s.sql("UPDATE tickd_replica SET heartbeat_at = now() WHERE replica_id = 'victim'");
  CHECK(judge(judge_db, 60s, 60s).orphans.empty());
}

TEST_CASE("a replica is judged by the lease it published, not by the judge's own") {
  // Issue 12, item 7: a replica started with TICK_LEASE_MS=100 convicted a healthy peer
  // whose default lease lets it heartbeat every 250 ms.
  Schema s;
  const auto id = s.region("a");
  Database victim_db(s.url, 1), judge_db(s.url, 1);
  tickd::ChangeListener victim(s.url, "victim");
  victim.connect();  // holds its liveness lock: alive as far as locks can tell
  REQUIRE(claim(victim_db, id, t0, "victim").outcome == ClaimOutcome::won);
  auto own = judge_round(60s);
  own.replica_id = "victim";
  own.crash_silence = 20s;
  victim_db.liveness_round(own);  // its heartbeat publishes a 60 s lease
  CHECK(s.sql("SELECT lease_silence_ms, crash_silence_ms FROM tickd_replica WHERE replica_id = "
              "'victim'")[0][0]
            .as<int>() == 60000);
  s.sql("UPDATE tickd_replica SET heartbeat_at = now() - interval '1 second'");
  s.sql("UPDATE job_run SET started_at = now() - interval '1 second'");
  wait_server_up_for(s, 1s);

  // 1 s of silence is far past the judge's 100 ms lease but within the victim's 60 s.
  const auto round = judge(judge_db, 60s, 100ms);
  CHECK(round.orphans.empty());
  CHECK(is_live(round, "victim"));

  // A replica of an earlier version published nothing: the judge's lease, as before.
  s.sql(
      "UPDATE tickd_replica SET lease_silence_ms = NULL, crash_silence_ms = NULL "
      "WHERE replica_id = 'victim'");
  const auto old_peer = judge(judge_db, 60s, 100ms);
  REQUIRE(old_peer.orphans.size() == 1);
  CHECK(old_peer.orphans[0].cause == OrphanCause::lease);
  CHECK_FALSE(is_live(old_peer, "victim"));
}

TEST_CASE("a lock taken before the server started, or on another timeline, convicts nobody") {
  // A restart or a failover frees every lock; only a lock taken since, on this server's
  // timeline, says something about its holder.
  Schema s;
  const auto id = s.region("a");
  Database victim(s.url, 1), judge_db(s.url, 1);
  REQUIRE(claim(victim, id, t0, "victim").outcome == ClaimOutcome::won);
  // No lock held now, heartbeat 1 s old; the lease (60 s) is not the question here.
  const std::string timeline =
      "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int";
  s.sql(
      "INSERT INTO tickd_replica (replica_id, heartbeat_at, locked_at, locked_timeline) "
      "VALUES ('victim', now() - interval '1 second', pg_postmaster_start_time() - interval '1 "
      "s', " +
      timeline + ")");
  CHECK(judge(judge_db, 60s, 60s).orphans.empty());
  s.sql("UPDATE tickd_replica SET locked_at = now(), locked_timeline = " + timeline + " + 1");
  CHECK(judge(judge_db, 60s, 60s).orphans.empty());
  s.sql("UPDATE tickd_replica SET locked_timeline = " + timeline);
  const auto round = judge(judge_db, 60s, 60s);
  REQUIRE(round.orphans.size() == 1);
  CHECK(round.orphans[0].cause == OrphanCause::crashed);
}

TEST_CASE("a taken-over tick runs again on its row as attempt 2; the dead writer is fenced") {
  Schema s;
  const auto id = s.region("a");
  Database victim(s.url, 1), taker(s.url, 1);
  const auto won = claim(victim, id, t0, "victim");
  REQUIRE(won.outcome == ClaimOutcome::won);
  s.sql(
      "INSERT INTO tickd_replica (replica_id, heartbeat_at) "
      "VALUES ('victim', now() - interval '8 seconds')");
  wait_server_up_for(s, 1s);
  const auto orphans = judge(taker, 60s).orphans;
  REQUIRE(orphans.size() == 1);

  const auto taken = taker.take_over(orphans, "judge");
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].run_id == won.run_id);
  CHECK(taken[0].attempt == 2);
  CHECK(taker.take_over(orphans, "other").empty());  // only one taker wins
  CHECK(taker.abandon(orphans, {"late"}) == 0);      // nor can it be ended as seen before

  CHECK_FALSE(finish(victim, won.run_id, t0, "victim", RunStatus::ok, std::nullopt, "{}", 1));
  CHECK(finish(taker, won.run_id, t0, "judge", RunStatus::ok, std::nullopt, "{\"region\":{}}", 2));
  const auto row = s.sql(
      "SELECT status, replica_id, attempt, details->'taken_over'->0->>'from', "
      "details->'taken_over'->0->>'cause', details ? 'region' FROM job_run")[0];
  CHECK(row[0].as<std::string>() == "ok");
  CHECK(row[1].as<std::string>() == "judge");
  CHECK(row[2].as<int>() == 2);
  CHECK(row[3].as<std::string>() == "victim");  // whom it was taken from, kept at the end
  CHECK(row[4].as<std::string>() == "lease");
  CHECK(row[5].as<bool>());
  CHECK(judge(taker, 60s).orphans.empty());
}

TEST_CASE("an orphan past its deadline is ended abandoned with its reason") {
  Schema s;
  const auto id = s.region("a");
  Database victim(s.url, 1), judge_db(s.url, 1);
  REQUIRE(claim(victim, id, t0, "victim").outcome == ClaimOutcome::won);
  s.sql(
      "INSERT INTO tickd_replica (replica_id, heartbeat_at) "
      "VALUES ('victim', now() - interval '8 seconds')");
  wait_server_up_for(s, 1s);
  const auto orphans = judge(judge_db, 60s).orphans;
  REQUIRE(orphans.size() == 1);
  CHECK(judge_db.abandon(
            orphans,
            {tickd::abandon_reason(orphans[0], tickd::TakeoverInputs{.region_known = true})}) == 1);
  const auto row = s.sql("SELECT status, error FROM job_run")[0];
  CHECK(row[0].as<std::string>() == "abandoned");
  CHECK(row[1].as<std::string>() ==
        "replica victim stopped renewing its lease; not run again: past its start deadline");
}

TEST_CASE("rows left by an earlier process of this replica id, and claims in doubt, are found") {
  Schema s;
  const auto a = s.region("a");
  const auto b = s.region("b");
  Database db(s.url, 1);
  REQUIRE(claim(db, a, t0, "judge").outcome == ClaimOutcome::won);  // the earlier process
  s.sql("UPDATE job_run SET started_at = now() - interval '1 second'");
  const auto incarnation = db.begin_incarnation();
  REQUIRE(claim(db, b, t0, "judge").outcome == ClaimOutcome::won);  // this process: in doubt

  auto round = judge_round();
  round.incarnation = incarnation;
  auto orphans = db.liveness_round(round).orphans;
  REQUIRE(orphans.size() == 1);
  CHECK(orphans[0].region_id == a);
  CHECK(orphans[0].cause == OrphanCause::earlier_run);

  round.in_doubt = {{b, t0}, {a, t0 + 1s}};  // the second never made it to the database
  orphans = db.liveness_round(round).orphans;
  REQUIRE(orphans.size() == 2);
  CHECK(orphans[1].region_id == b);
  CHECK(orphans[1].cause == OrphanCause::in_doubt);
  // Taken over by this same process, the earlier process's row is no longer an orphan.
  REQUIRE(db.take_over({orphans[0]}, "judge").size() == 1);
  round.in_doubt.clear();
  CHECK(db.liveness_round(round).orphans.empty());
}

TEST_CASE("a running tick of a replica with no heartbeat row is found by the costlier check") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 1);
  REQUIRE(claim(db, id, t0, "gone").outcome == ClaimOutcome::won);
  s.sql("UPDATE job_run SET started_at = now() - interval '8 seconds'");
  auto round = judge_round();
  wait_server_up_for(s, 1s);
  round.witnessed_since = std::chrono::system_clock::now() - 60s;
  CHECK(db.liveness_round(round).orphans.empty());
  round.check_unregistered = true;
  CHECK(db.liveness_round(round).orphans.size() == 1);
  round.witnessed_since = std::chrono::system_clock::now() - 50ms;
  CHECK(db.liveness_round(round).orphans.empty());
}

TEST_CASE(
    "tick_sql commits with its mark once; a re-run skips it; a taken-over writer rolls back") {
  Schema s;
  const auto id = s.region("a");
  s.sql("CREATE TABLE effects (region bigint)");
  Database victim(s.url, 1), taker(s.url, 1);
  const auto won = claim(victim, id, t0, "victim");
  REQUIRE(won.outcome == ClaimOutcome::won);
  const tickd::RunRef first{won.run_id, 1, "victim"};
  const std::string insert = "INSERT INTO effects VALUES ($1)";
  CHECK(victim.run_tick_sql(insert, id, t0, 5s, &first));
  CHECK(s.sql("SELECT tick_sql_at IS NOT NULL FROM job_run")[0][0].as<bool>());

  // The victim dies after the commit; the taker runs the tick again: the SQL is not repeated.
  s.sql(
      "INSERT INTO tickd_replica (replica_id, heartbeat_at) "
      "VALUES ('victim', now() - interval '8 seconds')");
  wait_server_up_for(s, 1s);
  const auto taken = taker.take_over(judge(taker, 60s).orphans, "judge");
  REQUIRE(taken.size() == 1);
  CHECK_FALSE(taker.run_tick_sql(insert, id, t0, 5s, &taken[0]));
  CHECK(s.sql("SELECT count(*) FROM effects")[0][0].as<int>() == 1);

  // A second tick: taken over before the victim's SQL commits. Its SQL rolls back; the
  // taker's runs once.
  const auto next = claim(victim, id, t0 + 10s, "victim");
  REQUIRE(next.outcome == ClaimOutcome::overlapping);  // the first is still running
  CHECK(finish(taker, won.run_id, t0, "judge", RunStatus::ok, std::nullopt, "{}", 2));
  const auto second = claim(victim, id, t0 + 10s, "victim");
  REQUIRE(second.outcome == ClaimOutcome::won);
  const auto orphans = judge(taker, 60s).orphans;
  REQUIRE(orphans.size() == 1);
  const auto retaken = taker.take_over(orphans, "judge");
  REQUIRE(retaken.size() == 1);
  const tickd::RunRef stale{second.run_id, 1, "victim"};
  CHECK_THROWS_AS(victim.run_tick_sql(insert, id, t0 + 10s, 5s, &stale), tickd::DbError);
  CHECK(s.sql("SELECT count(*) FROM effects")[0][0].as<int>() == 1);
  CHECK(taker.run_tick_sql(insert, id, t0 + 10s, 5s, &retaken[0]));
  CHECK(s.sql("SELECT count(*) FROM effects")[0][0].as<int>() == 2);
}

TEST_CASE("an end written twice (the first answer lost in doubt) is written, not fenced") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 1);
  const auto c = claim(db, id, t0, "replica-a");
  CHECK(finish(db, c.run_id, t0, "replica-a", RunStatus::ok, std::nullopt, "{}"));
  CHECK(finish(db, c.run_id, t0, "replica-a", RunStatus::ok, std::nullopt, "{}"));  // the retry
  CHECK_FALSE(finish(db, c.run_id, t0, "replica-a", RunStatus::failed, "other", "{}"));
  CHECK_FALSE(finish(db, c.run_id, t0, "replica-b", RunStatus::ok, std::nullopt, "{}"));
}

int main(int argc, char** argv) { return tickd::test::run_db_tests(argc, argv); }

TEST_CASE("a dead replica's rows are those claimed before the verdict, not after it") {
  // The round is not one transaction: a replica waking from a stall renews its heartbeat
  // (unseen by the verdict) and claims again before the judge lists its rows. A claim begun
  // after the verdict is a live replica's (chaos SIGSTOP took one over as 'lease').
  Schema s;
  const auto before = s.region("before");
  const auto after = s.region("after");
  Database victim(s.url, 1), judge_db(s.url, 1);
  REQUIRE(claim(victim, before, t0, "victim").outcome == ClaimOutcome::won);
  REQUIRE(claim(victim, after, t0, "victim").outcome == ClaimOutcome::won);
  s.sql(
      "INSERT INTO tickd_replica (replica_id, heartbeat_at) "
      "VALUES ('victim', now() - interval '8 seconds')");
  s.sql("UPDATE job_run SET started_at = now() + interval '1 hour' WHERE region_id = " +
        std::to_string(after));
  wait_server_up_for(s, 1s);
  const auto round = judge(judge_db, 60s);
  REQUIRE(round.orphans.size() == 1);
  CHECK(round.orphans[0].region_id == before);
  CHECK(round.orphans[0].cause == OrphanCause::lease);
}
