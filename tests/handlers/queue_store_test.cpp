// The work queues' statements against a real PostgreSQL (TICKD_TEST_DATABASE_URL; exit 77
// without it): concurrent claims never share a job, expired leases are taken over, late
// writers are fenced, retries back off and end in FAILED, sync and housekeeping counts.

#define DOCTEST_CONFIG_IMPLEMENT
#include "tickd/db/queue_store.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "../db/schema.hpp"
#include "tickd/db/database.hpp"

using namespace std::chrono_literals;
using tickd::Queue;
using tickd::QueueStore;
using tickd::RetryOutcome;

namespace {

using tickd::test::Schema;

}  // namespace

TEST_CASE("four claimers draining one region's queue never get the same job") {
  Schema s;
  const auto rid = s.region("a");
  s.sql("INSERT INTO upload_jobs (region_id, local_path) SELECT " + std::to_string(rid) +
        ", '/tmp/f' || g FROM generate_series(1, 400) g");
  tickd::Database db(s.url, 8);
  std::mutex mutex;
  std::multiset<std::int64_t> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      QueueStore store(db);
      const std::string owner = "r" + std::to_string(t);
      while (true) {
        const auto jobs = store.claim_uploads(rid, owner, 60s, 7);
        if (jobs.empty()) break;
        for (const auto& j : jobs) {
          CHECK(store.complete_upload(j.id, owner, "u"));
          const std::lock_guard lock(mutex);
          seen.insert(j.id);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(seen.size() == 400);
  CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == 400);
  CHECK(s.value("SELECT count(*) FROM upload_jobs WHERE status = 'COMPLETED'") == 400);
}

TEST_CASE("an expired lease makes the job due again; the old owner's writes change nothing") {
  Schema s;
  const auto rid = s.region("a");
  s.sql("INSERT INTO upload_jobs (region_id, local_path) VALUES (" + std::to_string(rid) +
        ", '/tmp/x')");
  tickd::Database db(s.url, 2);
  QueueStore store(db);
  const auto first = store.claim_uploads(rid, "dead", 1000ms, 10);
  REQUIRE(first.size() == 1);
  CHECK(store.claim_uploads(rid, "live", 1000ms, 10).empty());  // leased
  s.sql("UPDATE upload_jobs SET lease_until = now() - interval '1 second'");
  const auto taken = store.claim_uploads(rid, "live", 60s, 10);
  REQUIRE(taken.size() == 1);
  CHECK_FALSE(store.complete_upload(first[0].id, "dead", "late"));
  CHECK(store.retry(Queue::upload, first[0].id, "dead", "late", 1s) == RetryOutcome::lost);
  CHECK_FALSE(store.release(Queue::upload, first[0].id, "dead"));
  CHECK(store.renew(Queue::upload, {first[0].id}, "dead", 60s) == 0);
  CHECK(store.renew(Queue::upload, {first[0].id}, "live", 60s) == 1);
  CHECK(store.complete_upload(first[0].id, "live", "https://cdn/x"));
  CHECK(s.sql("SELECT status, url, lease_owner IS NULL FROM upload_jobs")[0][0].as<std::string>() ==
        "COMPLETED");
}

TEST_CASE("retries back off, then the job fails after max_retries; release counts no retry") {
  Schema s;
  const auto rid = s.region("a");
  s.sql("INSERT INTO publish_jobs (region_id, source, max_retries) VALUES (" + std::to_string(rid) +
        ", 'k', 2)");
  tickd::Database db(s.url, 2);
  QueueStore store(db);
  auto claim = [&] { return store.claim_publishes(rid, "o", 60s, 1); };
  auto j = claim();
  REQUIRE(j.size() == 1);
  CHECK(store.release(Queue::publish, j[0].id, "o"));
  j = claim();
  REQUIRE(j.size() == 1);
  CHECK(j[0].retry_count == 0);
  CHECK(store.retry(Queue::publish, j[0].id, "o", "boom 1", 3600s) == RetryOutcome::retried);
  CHECK(claim().empty());  // not due for an hour
  s.sql("UPDATE publish_jobs SET next_attempt_at = now()");
  j = claim();
  CHECK(store.retry(Queue::publish, j[0].id, "o", "boom 2", 0s) == RetryOutcome::retried);
  j = claim();
  REQUIRE(j.size() == 1);
  CHECK(j[0].retry_count == 2);
  CHECK(store.retry(Queue::publish, j[0].id, "o", "boom 3", 0s) == RetryOutcome::failed);
  const auto row = s.sql("SELECT status, retry_count, error FROM publish_jobs")[0];
  CHECK(row[0].as<std::string>() == "failed");
  CHECK(row[1].as<int>() == 2);
  CHECK(row[2].as<std::string>() == "boom 3");
}

TEST_CASE("sync: found rows UPLOADED, old absent rows MISSING, young ones wait, strays counted") {
  Schema s;
  const auto rid = s.region("a");
  const auto r = std::to_string(rid);
  s.sql("INSERT INTO file_upload (region_id, object_key) VALUES (" + r +
        ", 'a/found \"q\".wav'), (" + r + ", 'a/young.wav')");
  s.sql("INSERT INTO file_upload (region_id, object_key, created_at) VALUES (" + r +
        ", 'a/old.wav', now() - interval '2 hours')");
  tickd::Database db(s.url, 2);
  QueueStore store(db);
  const auto c = store.sync_expected(
      rid, {{"a/found \"q\".wav", 42, "abc"}, {"a/stray\\x.wav", 1, "d"}}, 3600s);
  CHECK(c.uploaded == 1);
  CHECK(c.missing == 1);
  CHECK(c.pending == 1);
  CHECK(c.unexpected == 1);
  const auto found =
      s.sql("SELECT status, size_bytes, etag FROM file_upload WHERE object_key LIKE 'a/found%'")[0];
  CHECK(found[0].as<std::string>() == "UPLOADED");
  CHECK(found[1].as<int>() == 42);
  CHECK(found[2].as<std::string>() == "abc");
  CHECK(s.sql("SELECT status FROM file_upload WHERE object_key = 'a/old.wav'")[0][0]
            .as<std::string>() == "MISSING");
  CHECK(store.sync_expected(rid, {}, 3600s).pending == 1);  // an empty listing is fine too
}

TEST_CASE("housekeeping drops whole day partitions of job_run past the retention") {
  Schema s;
  const auto r = std::to_string(s.region("a"));
  // A day 40 days back with a partition of its own (as a replica made it then), and rows.
  s.sql(
      "SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - 40, "
      "(now() AT TIME ZONE 'UTC')::date - 40)");
  s.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) SELECT " +
        r +
        ", ((now() AT TIME ZONE 'UTC')::date - 40) + g * interval '1 second', 'x', 'ok', now() "
        "FROM generate_series(1, 50) g");
  // Today's partition is there (the migration made it); the last day ahead is missing.
  s.sql("DROP TABLE job_run_" +
        s.sql("SELECT to_char((now() AT TIME ZONE 'UTC')::date + " +
              std::to_string(QueueStore::kHistoryDaysAhead) + ", 'YYYYMMDD')")[0][0]
            .as<std::string>());
  // The partitions of days that ended 30 days ago or more: that one and the test days (schema.hpp).
  const std::string partitions =
      "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
      "WHERE i.inhparent = 'job_run'::regclass ";
  const auto old = s.value(partitions +
                           "AND to_date(substr(c.relname, 9), 'YYYYMMDD') < "
                           "(now() AT TIME ZONE 'UTC')::date - 30");
  const auto all = s.value(partitions);
  REQUIRE(old >= 1);
  tickd::Database db(s.url, 2);
  QueueStore store(db);
  const auto changes = store.maintain_history_partitions(30);
  CHECK(changes.created == 1);
  CHECK(changes.dropped == old);
  CHECK(s.value("SELECT count(*) FROM job_run") == 0);
  CHECK(s.value(partitions) == all - old + 1);
  const auto again = store.maintain_history_partitions(30);
  CHECK(again.created == 0);
  CHECK(again.dropped == 0);
}

TEST_CASE("housekeeping deletes only old finished queue, audit and request rows, in batches") {
  Schema s;
  const auto rid = s.region("a");
  const auto r = std::to_string(rid);
  // Old runs, in their days' partitions: those go whole (the test above), not by these batches.
  s.sql(
      "SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - 41, "
      "(now() AT TIME ZONE 'UTC')::date - 40)");
  s.sql(
      "INSERT INTO job_run (region_id, scheduled_for, replica_id, status, started_at, finished_at) "
      "SELECT " +
      r +
      ", now() - g * interval '1 minute' - interval '40 days', 'x', 'ok', "
      "now() - interval '40 days', now() - interval '40 days' FROM generate_series(1, 25) g");
  s.sql("INSERT INTO job_run (region_id, scheduled_for, replica_id, status, finished_at) VALUES (" +
        r + ", now(), 'x', 'ok', now())");
  s.sql("INSERT INTO upload_jobs (region_id, local_path, status, updated_at) VALUES (" + r +
        ", '/a', 'COMPLETED', now() - interval '40 days'), (" + r +
        ", '/b', 'PENDING', now() - interval '40 days'), (" + r + ", '/c', 'COMPLETED', now())");
  s.sql("INSERT INTO publish_jobs (region_id, source, status, updated_at) VALUES (" + r +
        ", 'k', 'completed', now() - interval '40 days')");
  // Control's history: an old audit row (the region's own INSERT row is fresh), an old
  // handled run request and an old one still pending (kept: it has not run yet).
  s.sql("INSERT INTO region_audit (region_id, code, op, actor, at) VALUES (" + r +
        ", 'a', 'pause', 'ops', now() - interval '40 days')");
  s.sql(
      "INSERT INTO run_request (region_id, trigger, scheduled_for, requested_by, state, "
      "handled_at) VALUES (" +
      r +
      ", 'backfill', now() - interval '41 days', 'ops', 'started', now() - interval '40 days'), (" +
      r + ", 'backfill', now() - interval '42 days', 'ops', 'pending', NULL)");
  tickd::Database db(s.url, 2);
  QueueStore store(db);
  // 1 upload + 1 publish + 1 audit + 1 request, at most 2 per table and call
  CHECK(store.delete_expired(30, 2) == 4);
  CHECK(store.delete_expired(30, 2) == 0);
  CHECK(s.value("SELECT count(*) FROM job_run") == 26);
  CHECK(s.value("SELECT count(*) FROM upload_jobs") == 2);
  CHECK(s.value("SELECT count(*) FROM region_audit") == 1);  // the fresh INSERT row
  CHECK(s.value("SELECT count(*) FROM run_request WHERE state = 'pending'") == 1);
  CHECK(s.value("SELECT count(*) FROM run_request") == 1);
  const auto counts = store.count_by_status();
  CHECK(counts.size() == 2);
}

int main(int argc, char** argv) { return tickd::test::run_db_tests(argc, argv); }
