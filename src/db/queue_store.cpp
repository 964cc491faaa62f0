#include "tickd/db/queue_store.hpp"

#include <pqxx/pqxx>

#include "pg_array.hpp"
#include "pool.hpp"
#include "sql.hpp"

namespace tickd {
namespace {

// Statements per queue: the table and its status spellings differ, the shape does not.
struct QueueSql {
  const char* renew;    // $1 bigint[] ids, $2 owner, $3 lease seconds
  const char* retry;    // $1 id, $2 owner, $3 error, $4 backoff seconds -> status
  const char* fail;     // $1 id, $2 owner, $3 error
  const char* release;  // $1 id, $2 owner
};

// $1 region id, $2 owner, $3 lease seconds, $4 limit. Due: pending and past
// next_attempt_at, or working with a lease that ran out (its replica died).
constexpr const char* kClaimUploads =
    "WITH due AS ("
    "  SELECT id FROM upload_jobs"
    "  WHERE region_id = $1 AND ((status = 'PENDING' AND next_attempt_at <= now())"
    "                         OR (status = 'UPLOADING' AND lease_until < now()))"
    "  ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
    "UPDATE upload_jobs j SET status = 'UPLOADING', lease_owner = $2,"
    "  lease_until = now() + make_interval(secs => $3::double precision), updated_at = now() "
    "FROM due WHERE j.id = due.id "
    "RETURNING j.id, coalesce(j.target_entity_id, ''), j.job_type, j.local_path, j.object_key,"
    "  j.retry_count, j.max_retries";

constexpr const char* kClaimPublishes =
    "WITH due AS ("
    "  SELECT id FROM publish_jobs"
    "  WHERE region_id = $1 AND ((status = 'pending' AND next_attempt_at <= now())"
    "                         OR (status = 'processing' AND lease_until < now()))"
    "  ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) "
    "UPDATE publish_jobs j SET status = 'processing', lease_owner = $2,"
    "  lease_until = now() + make_interval(secs => $3::double precision),"
    "  started_at = now(), updated_at = now() "
    "FROM due WHERE j.id = due.id "
    "RETURNING j.id, j.source, j.retry_count, j.max_retries";

// $1 id, $2 owner, $3 url.
constexpr const char* kCompleteUpload =
    "UPDATE upload_jobs SET status = 'COMPLETED', url = $3, error = NULL, lease_owner = NULL,"
    "  lease_until = NULL, updated_at = now() "
    "WHERE id = $1 AND lease_owner = $2 AND status = 'UPLOADING'";

// $1 id, $2 owner, $3 variants json.
constexpr const char* kCompletePublish =
    "UPDATE publish_jobs SET status = 'completed', variants = $3::jsonb, error = NULL,"
    "  lease_owner = NULL, lease_until = NULL, completed_at = now(), updated_at = now() "
    "WHERE id = $1 AND lease_owner = $2 AND status = 'processing'";

constexpr QueueSql kUploadSql{
    "UPDATE upload_jobs SET lease_until = now() + make_interval(secs => $3::double precision) "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND status = 'UPLOADING'",
    "UPDATE upload_jobs SET"
    "  status = CASE WHEN retry_count >= max_retries THEN 'FAILED' ELSE 'PENDING' END,"
    "  retry_count = CASE WHEN retry_count >= max_retries THEN retry_count ELSE retry_count + 1 "
    "END,"
    "  next_attempt_at = now() + make_interval(secs => $4::double precision),"
    "  error = $3, lease_owner = NULL, lease_until = NULL, updated_at = now() "
    "WHERE id = $1 AND lease_owner = $2 AND status = 'UPLOADING' RETURNING status",
    "UPDATE upload_jobs SET status = 'FAILED', error = $3, lease_owner = NULL, lease_until = NULL,"
    "  updated_at = now() WHERE id = $1 AND lease_owner = $2 AND status = 'UPLOADING'",
    "UPDATE upload_jobs SET status = 'PENDING', next_attempt_at = now(), lease_owner = NULL,"
    "  lease_until = NULL, updated_at = now() "
    "WHERE id = $1 AND lease_owner = $2 AND status = 'UPLOADING'",
};

constexpr QueueSql kPublishSql{
    "UPDATE publish_jobs SET lease_until = now() + make_interval(secs => $3::double precision) "
    "WHERE id = ANY($1::bigint[]) AND lease_owner = $2 AND status = 'processing'",
    "UPDATE publish_jobs SET"
    "  status = CASE WHEN retry_count >= max_retries THEN 'failed' ELSE 'pending' END,"
    "  retry_count = CASE WHEN retry_count >= max_retries THEN retry_count ELSE retry_count + 1 "
    "END,"
    "  next_attempt_at = now() + make_interval(secs => $4::double precision),"
    "  error = $3, lease_owner = NULL, lease_until = NULL, updated_at = now() "
    "WHERE id = $1 AND lease_owner = $2 AND status = 'processing' RETURNING status",
    "UPDATE publish_jobs SET status = 'failed', error = $3, lease_owner = NULL, lease_until = NULL,"
    "  completed_at = now(), updated_at = now() "
    "WHERE id = $1 AND lease_owner = $2 AND status = 'processing'",
    "UPDATE publish_jobs SET status = 'pending', next_attempt_at = now(), lease_owner = NULL,"
    "  lease_until = NULL, updated_at = now() "
    "WHERE id = $1 AND lease_owner = $2 AND status = 'processing'",
};

// $1 region id, $2 text[] listed keys, $3 bigint[] sizes, $4 text[] etags, $5 missing-after
// seconds. Returns (uploaded, missing, still pending, unexpected).
constexpr const char* kSyncExpected =
    "WITH listed AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[]) AS l(key, size, "
    "etag)), "
    "up AS (UPDATE file_upload f SET status = 'UPLOADED', size_bytes = l.size, etag = l.etag,"
    "         checked_at = now()"
    "       FROM listed l WHERE f.region_id = $1 AND f.status = 'PENDING' AND f.object_key = l.key"
    "       RETURNING f.id), "
    "gone AS (UPDATE file_upload f SET status = 'MISSING', checked_at = now()"
    "         WHERE f.region_id = $1 AND f.status = 'PENDING'"
    "           AND f.created_at < now() - make_interval(secs => $5::double precision)"
    "           AND NOT EXISTS (SELECT 1 FROM listed l WHERE l.key = f.object_key)"
    "         RETURNING f.id), "
    "waiting AS (UPDATE file_upload f SET checked_at = now()"
    "         WHERE f.region_id = $1 AND f.status = 'PENDING'"
    "           AND f.created_at >= now() - make_interval(secs => $5::double precision)"
    "           AND NOT EXISTS (SELECT 1 FROM listed l WHERE l.key = f.object_key)"
    "         RETURNING f.id) "
    "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM gone), (SELECT count(*) FROM waiting),"
    "  (SELECT count(*) FROM listed l WHERE NOT EXISTS ("
    "     SELECT 1 FROM file_upload f WHERE f.region_id = $1 AND f.object_key = l.key))";

constexpr const char* kCountByStatus =
    "SELECT 'upload', status, count(*) FROM upload_jobs GROUP BY status "
    "UNION ALL SELECT 'publish', status, count(*) FROM publish_jobs GROUP BY status "
    "UNION ALL SELECT 'file_upload', status, count(*) FROM file_upload GROUP BY status";

// job_run's history goes a day partition at a time (sql/008).
// $1 int days ahead. Rows: (partitions created).
constexpr const char* kAddHistoryPartitions =
    "SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - 1, "
    "  (now() AT TIME ZONE 'UTC')::date + $1::int)";
// $1 int days ahead. Rows: (days whose statistics were mended).
constexpr const char* kForgetEmptyHistoryStatistics =
    "SELECT tickd_job_run_forget_empty_statistics((now() AT TIME ZONE 'UTC')::date - 1, "
    "  (now() AT TIME ZONE 'UTC')::date + $1::int)";
// $1 int retention days. Rows: (partitions dropped).
constexpr const char* kDropHistoryPartitions = "SELECT tickd_job_run_drop_partitions($1::int)";

// $1 days, $2 batch. One small batch per table, each its own statement (short locks).
constexpr const char* kExpireUploads =
    "DELETE FROM upload_jobs WHERE id IN (SELECT id FROM upload_jobs"
    "  WHERE status IN ('COMPLETED', 'FAILED') AND updated_at < now() - make_interval(days => $1)"
    "  LIMIT $2)";
constexpr const char* kExpirePublishes =
    "DELETE FROM publish_jobs WHERE id IN (SELECT id FROM publish_jobs"
    "  WHERE status IN ('completed', 'failed') AND updated_at < now() - make_interval(days => $1)"
    "  LIMIT $2)";
constexpr const char* kExpireFileUploads =
    "DELETE FROM file_upload WHERE id IN (SELECT id FROM file_upload"
    "  WHERE status <> 'PENDING' AND checked_at < now() - make_interval(days => $1) LIMIT $2)";

// Control's history (sql/005_control.sql): the audit trail, and run requests once handled.
constexpr const char* kExpireAudit =
    "DELETE FROM region_audit WHERE id IN (SELECT id FROM region_audit"
    "  WHERE at < now() - make_interval(days => $1) LIMIT $2)";
constexpr const char* kExpireRequests =
    "DELETE FROM run_request WHERE id IN (SELECT id FROM run_request"
    "  WHERE handled_at < now() - make_interval(days => $1) LIMIT $2)";

const QueueSql& sql_of(Queue q) { return q == Queue::upload ? kUploadSql : kPublishSql; }

double seconds(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

}  // namespace

std::vector<UploadJob> QueueStore::claim_uploads(std::int64_t region_id, const std::string& owner,
                                                 std::chrono::milliseconds lease, int limit) {
  return db::with_connection(db_.pool(), "claim upload jobs", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const auto r = tx.exec_params(kClaimUploads, region_id, owner, seconds(lease), limit);
    tx.commit();
    std::vector<UploadJob> jobs;
    for (const auto& row : r) {
      UploadJob j;
      j.id = row[0].as<std::int64_t>();
      j.target_entity_id = row[1].as<std::string>();
      j.job_type = row[2].as<std::string>();
      j.local_path = row[3].as<std::string>();
      if (!row[4].is_null()) j.object_key = row[4].as<std::string>();
      j.retry_count = row[5].as<int>();
      j.max_retries = row[6].as<int>();
      jobs.push_back(std::move(j));
    }
    return jobs;
  });
}

std::vector<PublishJob> QueueStore::claim_publishes(std::int64_t region_id,
                                                    const std::string& owner,
                                                    std::chrono::milliseconds lease, int limit) {
  return db::with_connection(db_.pool(), "claim publish jobs", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const auto r = tx.exec_params(kClaimPublishes, region_id, owner, seconds(lease), limit);
    tx.commit();
    std::vector<PublishJob> jobs;
    for (const auto& row : r) {
      jobs.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<int>(),
                      row[3].as<int>()});
    }
    return jobs;
  });
}

std::size_t QueueStore::renew(Queue queue, const std::vector<std::int64_t>& ids,
                              const std::string& owner, std::chrono::milliseconds lease) {
  if (ids.empty()) return 0;
  return db::with_connection(db_.pool(), "renew job leases", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return static_cast<std::size_t>(
        tx.exec_params(sql_of(queue).renew, db::id_array(ids), owner, seconds(lease))
            .affected_rows());
  });
}

bool QueueStore::complete_upload(std::int64_t id, const std::string& owner,
                                 const std::string& url) {
  return db::with_connection(db_.pool(), "complete an upload job", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec_params(kCompleteUpload, id, owner, url).affected_rows() == 1;
  });
}

bool QueueStore::complete_publish(std::int64_t id, const std::string& owner,
                                  const std::string& variants_json) {
  return db::with_connection(db_.pool(), "complete a publish job", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec_params(kCompletePublish, id, owner, variants_json).affected_rows() == 1;
  });
}

RetryOutcome QueueStore::retry(Queue queue, std::int64_t id, const std::string& owner,
                               const std::string& error, std::chrono::milliseconds backoff) {
  return db::with_connection(db_.pool(), "reschedule a job", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const auto r = tx.exec_params(sql_of(queue).retry, id, owner, error, seconds(backoff));
    if (r.empty()) return RetryOutcome::lost;
    const auto status = r[0][0].as<std::string>();
    return status == "FAILED" || status == "failed" ? RetryOutcome::failed : RetryOutcome::retried;
  });
}

bool QueueStore::fail(Queue queue, std::int64_t id, const std::string& owner,
                      const std::string& error) {
  return db::with_connection(db_.pool(), "fail a job", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec_params(sql_of(queue).fail, id, owner, error).affected_rows() == 1;
  });
}

bool QueueStore::release(Queue queue, std::int64_t id, const std::string& owner) {
  return db::with_connection(db_.pool(), "release a job", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    return tx.exec_params(sql_of(queue).release, id, owner).affected_rows() == 1;
  });
}

SyncCounts QueueStore::sync_expected(std::int64_t region_id,
                                     const std::vector<ListedObject>& listed,
                                     std::chrono::milliseconds missing_after) {
  std::vector<std::int64_t> sizes;
  sizes.reserve(listed.size());
  for (const auto& o : listed) sizes.push_back(static_cast<std::int64_t>(o.size));
  const auto keys = db::text_array(listed, &ListedObject::key);
  const auto etags = db::text_array(listed, &ListedObject::etag);
  return db::with_connection(db_.pool(), "sync file_upload", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    const auto r = tx.exec_params(kSyncExpected, region_id, keys, db::id_array(sizes), etags,
                                  seconds(missing_after));
    tx.commit();
    return SyncCounts{r[0][0].as<std::int64_t>(), r[0][1].as<std::int64_t>(),
                      r[0][2].as<std::int64_t>(), r[0][3].as<std::int64_t>()};
  });
}

std::vector<QueueCount> QueueStore::count_by_status() {
  return db::with_connection(db_.pool(), "count queue rows", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    std::vector<QueueCount> out;
    for (const auto& row : tx.exec(kCountByStatus)) {
      out.push_back(
          {row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::int64_t>()});
    }
    return out;
  });
}

namespace {

// One partition statement in a transaction of its own, its lock wait bounded.
int partition_work(pqxx::connection& c, const char* statement, int argument) {
  pqxx::work tx(c);
  tx.exec0(sql::kHistoryLockWait);
  const int changed = tx.exec_params1(statement, argument)[0].as<int>();
  tx.commit();
  return changed;
}

}  // namespace

QueueStore::PartitionChanges QueueStore::add_history_partitions() {
  return db::with_connection(db_.pool(), "create history partitions", [&](pqxx::connection& c) {
    return PartitionChanges{partition_work(c, kAddHistoryPartitions, kHistoryDaysAhead), 0};
  });
}

QueueStore::PartitionChanges QueueStore::maintain_history_partitions(unsigned retention_days) {
  return db::with_connection(db_.pool(), "maintain history partitions", [&](pqxx::connection& c) {
    PartitionChanges changes;
    changes.created = partition_work(c, kAddHistoryPartitions, kHistoryDaysAhead);
    changes.dropped = partition_work(c, kDropHistoryPartitions, static_cast<int>(retention_days));
    return changes;
  });
}

int QueueStore::forget_empty_history_statistics() {
  return db::with_connection(db_.pool(), "mend history statistics", [&](pqxx::connection& c) {
    return partition_work(c, kForgetEmptyHistoryStatistics, kHistoryDaysAhead);
  });
}

std::int64_t QueueStore::delete_expired(unsigned days, int batch) {
  return db::with_connection(db_.pool(), "delete expired rows", [&](pqxx::connection& c) {
    std::int64_t deleted = 0;
    for (const char* statement :
         {kExpireUploads, kExpirePublishes, kExpireFileUploads, kExpireAudit, kExpireRequests}) {
      pqxx::nontransaction tx(c);
      deleted += tx.exec_params(statement, static_cast<int>(days), batch).affected_rows();
    }
    return deleted;
  });
}

}  // namespace tickd
