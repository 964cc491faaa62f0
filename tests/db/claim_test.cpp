// The claim, finish and lease statements against a real PostgreSQL
// (TICKD_TEST_DATABASE_URL); each test case works in a fresh schema.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "../../src/db/sql.hpp"
#include "schema.hpp"
#include "tickd/db/database.hpp"

using namespace std::chrono_literals;
using tickd::ClaimOutcome;
using tickd::Database;
using tickd::RunStatus;

namespace {

using tickd::test::claim;
using tickd::test::finish;
using tickd::test::row_of;
using tickd::test::Schema;

const auto t0 = std::chrono::sys_seconds(std::chrono::seconds(1'790'000'000));

// The notices a connection receives (auto_explain's plans, at log_level notice), in order.
class Notices final : public pqxx::errorhandler {
 public:
  explicit Notices(pqxx::connection_base& c) : pqxx::errorhandler(c) {}
  bool operator()(const char message[]) noexcept override {
    text += message;
    return false;
  }
  std::string text;
};

}  // namespace

TEST_CASE("the first claim of a tick wins; a second claim of the same tick is told it is taken") {
  Schema s;
  const auto id = s.region("a");
  Database a(s.url, 2), b(s.url, 2);
  const auto first = claim(a, id, t0, "replica-a");
  CHECK(first.outcome == ClaimOutcome::won);
  CHECK(first.run_id > 0);
  CHECK(claim(b, id, t0, "replica-b").outcome == ClaimOutcome::taken);
  CHECK(s.sql("SELECT count(*) FROM job_run")[0][0].as<int>() == 1);
}

TEST_CASE("racing claims of the same ticks from two replicas give exactly one winner each") {
  Schema s;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(s.region("r" + std::to_string(i)));
  Database a(s.url, 4), b(s.url, 4);
  std::atomic<int> wins{0}, taken{0};
  auto replica = [&](Database& db, const char* name) {
    for (int second = 0; second < 20; ++second) {
      for (const auto id : ids) {
        const auto c = claim(db, id, t0 + std::chrono::seconds(second), name);
        if (c.outcome == ClaimOutcome::won) {
          ++wins;
          finish(db, c.run_id, t0 + std::chrono::seconds(second), name, RunStatus::ok, std::nullopt,
                 "{}");
        } else if (c.outcome == ClaimOutcome::taken) {
          ++taken;
        }
      }
    }
  };
  std::thread ta([&] { replica(a, "replica-a"); });
  std::thread tb([&] { replica(b, "replica-b"); });
  ta.join();
  tb.join();
  CHECK(wins.load() == 200);
  CHECK(s.sql("SELECT count(*) FROM job_run")[0][0].as<int>() == 200);
  CHECK(s.sql("SELECT count(*) FROM (SELECT region_id, scheduled_for FROM job_run "
              "GROUP BY 1, 2 HAVING count(*) > 1) d")[0][0]
            .as<int>() == 0);
}

TEST_CASE("a region with a running tick cannot be claimed for another instant") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 2);
  const auto first = claim(db, id, t0, "replica-a");
  REQUIRE(first.outcome == ClaimOutcome::won);
  CHECK(claim(db, id, t0 + 1s, "replica-b").outcome == ClaimOutcome::overlapping);
  CHECK(
      finish(db, first.run_id, t0, "replica-a", RunStatus::ok, std::nullopt, "{\"handlers\":{}}"));
  CHECK(claim(db, id, t0 + 2s, "replica-b").outcome == ClaimOutcome::won);
}

TEST_CASE("an end leaves the running slot to the next claim, which sees its row ended") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 2);
  const auto slot =
      "SELECT extract(epoch FROM scheduled_for)::bigint FROM region_running "
      "WHERE region_id = " +
      std::to_string(id);
  const auto first = claim(db, id, t0, "replica-a");
  REQUIRE(first.outcome == ClaimOutcome::won);
  CHECK(finish(db, first.run_id, t0, "replica-a", RunStatus::ok, std::nullopt, "{}"));
  CHECK(s.value(slot) == t0.time_since_epoch().count());  // not given back by the end
  const auto second = claim(db, id, t0 + 1s, "replica-b");
  CHECK(second.outcome == ClaimOutcome::won);
  CHECK(s.value(slot) == (t0 + 1s).time_since_epoch().count());
  // Held by a running row: the next instant overlaps, until that row ends.
  CHECK(claim(db, id, t0 + 2s, "replica-a").outcome == ClaimOutcome::overlapping);
  CHECK(finish(db, second.run_id, t0 + 1s, "replica-b", RunStatus::failed, "boom", "{}"));
  CHECK(claim(db, id, t0 + 3s, "replica-a").outcome == ClaimOutcome::won);
  CHECK(s.value("SELECT count(*) FROM job_run WHERE status = 'running'") == 1);
}

TEST_CASE("a claim at its instant waits for the end of its region's previous tick in flight") {
  // Briefly (sql/011: 250 ms; tests/db/claim_plans.py holds the row longer): the end commits
  // as soon as the claim is seen waiting for its row.
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 2);
  const auto first = claim(db, id, t0, "replica-a");
  REQUIRE(first.outcome == ClaimOutcome::won);
  // The end, as tickd writes it (its slot left as it is), in a transaction not committed yet.
  pqxx::connection ending(s.url);
  pqxx::work end(ending);
  end.exec(
      "SELECT set_config('tickd.on_running', 'kept', true); "
      "UPDATE job_run SET status = 'ok', finished_at = now() WHERE id = " +
      std::to_string(first.run_id));
  auto next = std::async(std::launch::async, [&] { return claim(db, id, t0 + 1s, "replica-a"); });
  const auto xid = end.exec1("SELECT txid_current()")[0].as<std::string>();
  bool waits = false;
  for (int i = 0; i < 2000 && !waits; ++i) {
    waits = s.value(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT "
                "granted AND transactionid = '" +
                xid + "'::xid") > 0;
    if (!waits) std::this_thread::sleep_for(1ms);
  }
  CHECK(waits);  // waits for the end
  end.commit();
  CHECK(next.get().outcome == ClaimOutcome::won);  // not skipped as overlapping
}

TEST_CASE("a tick is not claimed once its start deadline has passed on the database's clock") {
  Schema s;
  const auto a = s.region("a");
  const auto b = s.region("b");
  Database db(s.url, 1);
  const auto now = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  const auto claims =
      db.claim_batch({{row_of(a), now - 5s}, {row_of(b), now + 60s}}, t0, "replica-a");
  CHECK(claims[0].outcome == ClaimOutcome::expired);
  CHECK(claims[1].outcome == ClaimOutcome::won);
  CHECK(s.sql("SELECT count(*) FROM job_run")[0][0].as<int>() == 1);
}

TEST_CASE("a batch claim reports each tick: won, taken, overlapping, gone") {
  Schema s;
  const auto a = s.region("a");
  const auto b = s.region("b");
  const auto c = s.region("c");
  Database db(s.url, 1);
  REQUIRE(claim(db, b, t0, "replica-x").outcome == ClaimOutcome::won);       // b's tick is taken
  REQUIRE(claim(db, c, t0 - 1s, "replica-x").outcome == ClaimOutcome::won);  // c is still running
  const auto claims =
      db.claim_batch({{row_of(a)}, {row_of(b)}, {row_of(c)}, {row_of(999'999)}}, t0, "replica-a");
  CHECK(claims[0].outcome == ClaimOutcome::won);
  CHECK(claims[1].outcome == ClaimOutcome::taken);
  CHECK(claims[2].outcome == ClaimOutcome::overlapping);
  CHECK(claims[3].outcome == ClaimOutcome::gone);
}

TEST_CASE(
    "a region deleted during a batch claim: the others are claimed one by one, on a pool of 1") {
  Schema s;
  const auto a = s.region("a");
  const auto doomed = s.region("doomed");
  // Deletes `doomed` while its row is being inserted: the batch statement then fails on the
  // foreign key, as when a region is deleted between the claim's join and its insert.
  s.sql(
      "CREATE FUNCTION " + s.name +
      ".drop_doomed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "DELETE FROM region_index WHERE code = 'doomed' AND id = NEW.region_id; RETURN NEW; END $$");
  s.sql("CREATE TRIGGER drop_doomed BEFORE INSERT ON job_run FOR EACH ROW EXECUTE FUNCTION " +
        s.name + ".drop_doomed()");
  // The one-by-one claims must not wait for the batch's connection: a bookkeeping pool of 1.
  Database db(s.url, 1, nullptr, 1);
  const auto claims = db.claim_batch({{row_of(a)}, {row_of(doomed)}}, t0, "replica-a");
  CHECK(claims[0].outcome == ClaimOutcome::won);
  CHECK(claims[1].outcome == ClaimOutcome::gone);
  CHECK(s.sql("SELECT count(*) FROM job_run")[0][0].as<int>() == 1);
}

TEST_CASE("a claim for a deleted region reports it gone") {
  Schema s;
  const auto id = s.region("a");
  s.sql("DELETE FROM region_index WHERE id = " + std::to_string(id));
  Database db(s.url, 1);
  CHECK(claim(db, id, t0, "replica-a").outcome == ClaimOutcome::gone);
}

TEST_CASE("finish records status, error and details") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 1);
  const auto c = claim(db, id, t0, "replica-a");
  CHECK(finish(db, c.run_id, t0, "replica-a", RunStatus::failed, "handler region: boom",
               "{\"handlers\":{\"region\":{\"seconds\":0.5}}}"));
  const auto row = s.sql(
      "SELECT status, error, details->'handlers'->'region'->>'seconds', "
      "finished_at IS NOT NULL FROM job_run")[0];
  CHECK(row[0].as<std::string>() == "failed");
  CHECK(row[1].as<std::string>() == "handler region: boom");
  CHECK(row[2].as<std::string>() == "0.5");
  CHECK(row[3].as<bool>());
}

TEST_CASE("shutdown marks the replica's running rows failed with the reason") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 1);
  REQUIRE(claim(db, id, t0, "replica-a").outcome == ClaimOutcome::won);
  CHECK(db.fail_own_running("replica-a", "shutdown: test") == 1);
  const auto row = s.sql("SELECT status, error FROM job_run")[0];
  CHECK(row[0].as<std::string>() == "failed");
  CHECK(row[1].as<std::string>() == "shutdown: test");
}

TEST_CASE("tick_sql gets the region id and the scheduled instant, or neither, and fails loudly") {
  Schema s;
  const auto id = s.region("a");
  s.sql("CREATE TABLE seen (region bigint, at timestamptz)");
  Database db(s.url, 1);
  db.run_tick_sql("INSERT INTO seen VALUES ($1, $2)", id, t0, 5s);
  db.run_tick_sql("SELECT 1", id, t0, 5s);
  const auto row = s.sql("SELECT region, extract(epoch FROM at)::bigint FROM seen")[0];
  CHECK(row[0].as<std::int64_t>() == id);
  CHECK(row[1].as<std::int64_t>() == t0.time_since_epoch().count());
  CHECK_THROWS_AS(db.run_tick_sql("SELECT 1/0", id, t0, 5s), tickd::DbError);
  // The same connection still works after the failure (no prepared statement left over).
  db.run_tick_sql("INSERT INTO seen VALUES ($1, $2)", id, t0, 5s);
  CHECK(s.sql("SELECT count(*) FROM seen")[0][0].as<int>() == 2);
  CHECK_THROWS_AS(db.run_tick_sql("SELECT pg_sleep(5)", id, t0, 100ms), tickd::DbError);
  CHECK_THROWS_AS(db.run_tick_sql("SELECT 1; SELECT 2", id, t0, 5s), tickd::DbError);
}

TEST_CASE("a tick_sql's session settings do not outlive it on the pooled connection") {
  Schema s;
  const auto id = s.region("a");
  s.sql("CREATE TABLE seen (region bigint, at timestamptz)");
  Database db(s.url, 1);  // one handler connection: every call below shares it
  // The attack of issue 12: a session-level search_path pointing nowhere; then a session
  // statement timeout of 1 ms. (tick_sql is PREPAREd, so SET itself is refused.)
  db.run_tick_sql("SELECT set_config('search_path', 'no_such_schema', false)", id, t0, 5s);
  db.run_tick_sql("INSERT INTO seen VALUES ($1, $2)", id, t0, 5s);
  db.run_tick_sql("SELECT set_config('statement_timeout', '1', false)", id, t0, 5s);
  db.keepalive();
  db.run_tick_sql("INSERT INTO seen SELECT $1, $2 FROM pg_sleep(0.05)", id, t0, 5s);
  CHECK(s.sql("SELECT count(*) FROM seen")[0][0].as<int>() == 2);
}

TEST_CASE("a claimed tick's set_config('search_path') does not reach the mark it commits with") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 1);
  // The mark (UPDATE job_run ...) runs after the tick_sql in its transaction: under the
  // tick_sql's search_path it would find no job_run, and every tick of the region would fail.
  const auto won = claim(db, id, t0, "r1");
  REQUIRE(won.outcome == ClaimOutcome::won);
  const tickd::RunRef run{won.run_id, 1, "r1"};
  CHECK(db.run_tick_sql("SELECT set_config('search_path', 'no_such_schema', false)", id, t0, 5s,
                        &run));
  CHECK(s.sql("SELECT tick_sql_at IS NOT NULL FROM job_run")[0][0].as<bool>());
  db.keepalive();
  CHECK(s.sql("SELECT count(*) FROM job_run")[0][0].as<int>() == 1);
}

TEST_CASE("a tick_sql runs to its last row while its rows stay in PostgreSQL") {
  Schema s;
  const auto id = s.region("a");
  s.sql("CREATE TABLE item (k int PRIMARY KEY, v text)");
  s.sql("CREATE TABLE fired (k int)");
  s.sql(
      "CREATE FUNCTION log_item() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN INSERT INTO fired VALUES (NEW.k); RETURN NEW; END$$");
  s.sql("CREATE TRIGGER log_item AFTER INSERT ON item FOR EACH ROW EXECUTE FUNCTION log_item()");
  s.sql("CREATE SEQUENCE made");
  Database db(s.url, 1);
  // Rows returned by every kind of statement PREPARE takes are made, then dropped unseen.
  db.run_tick_sql("INSERT INTO item SELECT g, 'x' FROM generate_series(1, 3) g RETURNING *", id, t0,
                  5s);
  db.run_tick_sql("UPDATE item SET v = repeat('y', 1000) WHERE k = 2 RETURNING v", id, t0, 5s);
  db.run_tick_sql("DELETE FROM item WHERE k = 3 RETURNING *", id, t0, 5s);
  db.run_tick_sql(
      "MERGE INTO item USING (VALUES (4)) AS n(k) ON item.k = n.k "
      "WHEN NOT MATCHED THEN INSERT VALUES (n.k, 'merged')",
      id, t0, 5s);
  db.run_tick_sql("WITH w AS (INSERT INTO item VALUES (5, 'cte') RETURNING k) SELECT * FROM w", id,
                  t0, 5s);
  db.run_tick_sql("VALUES (nextval('made'))", id, t0, 5s);
  // A volatile function in the select list runs once per row, to the last one.
  db.run_tick_sql("SELECT nextval('made'), repeat('z', 100) FROM generate_series(1, 10000)", id, t0,
                  5s);
  CHECK(s.sql("SELECT string_agg(k || ':' || length(v), ',' ORDER BY k) FROM item")[0][0]
            .as<std::string>() == "1:1,2:1000,4:6,5:3");
  CHECK(s.sql("SELECT string_agg(k::text, ',' ORDER BY k) FROM fired")[0][0].as<std::string>() ==
        "1,2,3,4,5");
  CHECK(s.sql("SELECT last_value FROM made")[0][0].as<int>() == 10001);
  // The statement's own errors, as before: a statement error is given up.
  try {
    db.run_tick_sql("INSERT INTO item VALUES (1, 'again')", id, t0, 5s);
    FAIL("a duplicate key must fail");
  } catch (const tickd::DbError& e) {
    CHECK(e.kind() == tickd::DbError::Kind::give_up);
    CHECK(std::string(e.what()).find("duplicate key") != std::string::npos);
  }
}

TEST_CASE(
    "a tick_sql whose plan, error or notice is large closes its connection; others keep theirs") {
  Schema s;
  const auto id = s.region("a");
  s.sql("CREATE TABLE pids (pid int)");
  Database db(s.url, 1);  // one handler connection: every call below shares it
  const auto backends = [&] {
    return s.sql("SELECT count(DISTINCT pid) FROM pids")[0][0].as<int>();
  };
  const char* pid = "INSERT INTO pids SELECT pg_backend_pid()";
  db.run_tick_sql(pid, id, t0, 5s);
  db.run_tick_sql("SELECT 1 FROM pids WHERE pid::text = repeat('x', 1000)", id, t0, 5s);
  db.run_tick_sql(pid, id, t0, 5s);
  CHECK(backends() == 1);
  // 100 KB of 'x' printed in the plan's filter, then quoted in an error: libpq's input buffer
  // grew for them, so the connection goes rather than keep that memory in the pool.
  db.run_tick_sql("SELECT 1 FROM pids WHERE pid::text = repeat('x', 100000)", id, t0, 5s);
  db.run_tick_sql(pid, id, t0, 5s);
  CHECK(backends() == 2);
  CHECK_THROWS_AS(db.run_tick_sql("SELECT repeat('x', 100000)::int", id, t0, 5s), tickd::DbError);
  db.run_tick_sql(pid, id, t0, 5s);
  CHECK(backends() == 3);
  s.sql(
      "CREATE FUNCTION shout() RETURNS int LANGUAGE plpgsql AS "
      "$$BEGIN RAISE NOTICE '%', repeat('x', 100000); RETURN 1; END$$");
  db.run_tick_sql("SELECT shout()", id, t0, 5s);
  db.run_tick_sql(pid, id, t0, 5s);
  CHECK(backends() == 4);
}

TEST_CASE("loading regions returns only active ones, all or by id") {
  Schema s;
  const auto a = s.region("a");
  const auto b = s.region("b");
  s.sql("UPDATE region_index SET active = false, handlers = '{region,sync}' WHERE code = 'b'");
  s.sql(
      "UPDATE region_index SET handlers = '{region,\"odd,name\"}', tick_sql = 'SELECT 1' "
      "WHERE code = 'a'");
  Database db(s.url, 1);
  const auto all = db.load_active_regions();
  REQUIRE(all.size() == 1);
  CHECK(all[0].id == a);
  CHECK(all[0].handlers == std::vector<std::string>{"region", "odd,name"});
  CHECK(*all[0].tick_sql == "SELECT 1");
  CHECK(db.load_active_regions(std::vector<std::int64_t>{b}).empty());
  CHECK(db.load_active_regions(std::vector<std::int64_t>{a, b}).size() == 1);
  // A NULL element is kept, as an empty name that validation refuses, never dropped.
  s.sql("UPDATE region_index SET handlers = '{region,NULL}' WHERE code = 'a'");
  CHECK(db.load_active_regions()[0].handlers == std::vector<std::string>{"region", ""});
}

TEST_CASE("the versions of the active rows are those their rows load with; a write moves one") {
  Schema s;
  const auto a = s.region("a");
  const auto b = s.region("b");
  const auto c = s.region("c");
  s.sql("UPDATE region_index SET active = false WHERE code = 'c'");
  Database db(s.url, 1);
  // More rows than one fetch of the cursor: every one comes, once.
  s.sql(
      "INSERT INTO region_index (code, cron_schedule) "
      "SELECT 'many' || g, '* * * * *' FROM generate_series(1, " +
      std::to_string(tickd::sql::kActiveRegionsChunk) + ") g");
  const auto rows = db.load_active_regions();
  REQUIRE(rows.size() == tickd::sql::kActiveRegionsChunk + 2);
  auto versions = db.load_active_versions();
  REQUIRE(versions.size() == rows.size());
  std::map<std::int64_t, std::uint32_t> by_id;
  for (const auto& v : versions) by_id[v.id] = v.version;
  for (const auto& r : rows) {
    REQUIRE(by_id.contains(r.id));
    CHECK(by_id[r.id] == r.version);
  }
  CHECK_FALSE(by_id.contains(c));
  s.sql("UPDATE region_index SET name = 'renamed' WHERE code = 'a'");
  std::map<std::int64_t, std::uint32_t> after;
  for (const auto& v : db.load_active_versions()) after[v.id] = v.version;
  CHECK(after[a] != by_id[a]);
  CHECK(after[b] == by_id[b]);
}

TEST_CASE("claims and ends do not wait for a connection while handler work holds every one") {
  Schema s;
  const auto id = s.region("a");
  Database db(s.url, 1);  // one handler connection
  // A tick_sql that blocks on an advisory lock this test holds: it keeps the only handler
  // connection until the test lets it go.
  pqxx::connection blocker(s.url);
  pqxx::nontransaction hold(blocker);
  hold.exec("SELECT pg_advisory_lock(4242)");
  std::thread handler([&] { db.run_tick_sql("SELECT pg_advisory_lock(4242)", id, t0, 30s); });
  while (s.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
               "AND objid = 4242 AND objsubid = 1 AND NOT granted")[0][0]
             .as<int>() == 0) {
    std::this_thread::yield();
  }
  // Without a pool of their own these would wait for the tick_sql, i.e. forever.
  auto bookkeeping = std::async(std::launch::async, [&] {
    const auto c = claim(db, id, t0 + 1s, "replica-a");
    return c.outcome == ClaimOutcome::won &&
           finish(db, c.run_id, t0 + 1s, "replica-a", RunStatus::ok, std::nullopt, "{}");
  });
  const bool done = bookkeeping.wait_for(20s) == std::future_status::ready;
  hold.exec("SELECT pg_advisory_unlock(4242)");
  handler.join();
  REQUIRE(done);
  CHECK(bookkeeping.get());
}

TEST_CASE("an unreachable database is reported as unavailable, not as a statement error") {
  Database db("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", 1);
  try {
    db.keepalive();
    FAIL("keepalive succeeded against port 1");
  } catch (const tickd::DbError& e) {
    CHECK(e.unavailable());
  }
}

TEST_CASE("recording a batch of ends reads no more of job_run than the batch's rows") {
  // Regression: the ends' statement once joined job_run back for every end, planned as a
  // scan of the whole table, so its cost grew with the history until claims fell behind.
  // Then, on the day partitions: a day without statistics yet (its first minutes) made
  // "this replica's running rows" look like a handful, and every batch scanned the day, or
  // the partial index of running rows with all its ended entries. Here the claimed day holds
  // 50,000 ended rows, never analysed, their entries still in the partial indexes.
  Schema s;
  s.sql(
      "INSERT INTO region_index (code, cron_schedule) "
      "SELECT 'h' || g, '* * * * * *' FROM generate_series(1, 500) g");
  s.sql(
      "INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) "
      "SELECT r.id, to_timestamp(1780000000 + g), 'old', 'ok', now() FROM region_index r, "
      "generate_series(1, 100) g");  // 50,000 rows of history
  s.sql("ANALYZE job_run");
  s.sql(
      "DO $$ BEGIN FOR g IN 1..100 LOOP "
      "  INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
      "  SELECT id, to_timestamp(1790000000 - g), 'replica-a', 'running' FROM region_index; "
      "  UPDATE job_run SET status = 'ok', finished_at = now() "
      "  WHERE replica_id = 'replica-a' AND status = 'running'; "
      "END LOOP; END $$");
  Database db(s.url, 2);
  std::vector<Database::ClaimRequest> requests;
  for (const auto& r : s.sql("SELECT id FROM region_index ORDER BY id")) {
    requests.push_back({tickd::test::row_of(r[0].as<std::int64_t>())});
  }
  const auto claims = db.claim_batch(requests, t0, "replica-a");
  std::string ids;
  for (const auto& c : claims) ids += (ids.empty() ? "" : ",") + std::to_string(c.run_id);
  const std::string n = std::to_string(claims.size());
  // The plan the function itself runs (sql/009: generic, cached, under its own settings),
  // as auto_explain reports it to the client.
  pqxx::connection c(s.url);
  Notices notices(c);
  pqxx::nontransaction tx(c);
  tx.exec(
      "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
      "SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on; "
      "SET auto_explain.log_level = notice");
  const auto r =
      tx.exec("SELECT * FROM tickd_finish_batch('{" + ids +
              "}', array_fill(to_timestamp(1790000000), "
              "ARRAY[" +
              n + "]), array_fill('ok'::text, ARRAY[" + n +
              "]), array_fill(NULL::text, "
              "ARRAY[" +
              n + "]), array_fill('{}'::text, ARRAY[" + n +
              "]), 'replica-a', array_fill(1, "
              "ARRAY[" +
              n + "]), array_fill(NULL::text, ARRAY[" + n + "]), array_fill(false, ARRAY[" + n +
              "]), array_fill(false, ARRAY[" + n + "]))");
  CHECK(r.size() == claims.size());
  const std::string text = notices.text;
  CAPTURE(text);
  CHECK(text.find("Update on job_run") != std::string::npos);  // the end's plan was seen
  CHECK(s.history_scans(text) == "");
  CHECK(text.find("Bitmap") == std::string::npos);  // the partial index's ended entries
  CHECK(s.value("SELECT count(*) FROM job_run WHERE status = 'running'") == 0);  // all written
}

int main(int argc, char** argv) { return tickd::test::run_db_tests(argc, argv); }
