// The one rule of upload and publish for a storage error: what it does to the job's row.

#include <doctest/doctest.h>

#include "../../../src/handlers/work_shared.hpp"

using tickd::storage::StorageError;
using tickd::work::fault_of;
using tickd::work::JobFault;

TEST_CASE("a storage error fails, reschedules, or reschedules and fails the tick") {
  struct Row {
    const char* what;
    int status;
    bool permanent;
    JobFault fault;
  };
  for (const Row& r : {
           // Storage that cannot be reached: no HTTP answer, not a local problem.
           Row{"connection refused", 0, false, JobFault::unreachable},
           Row{"disk full writing the temp file", 0, false, JobFault::unreachable},
           // HTTP answers after the storage layer's own attempts.
           Row{"HTTP 500", 500, false, JobFault::transient},
           Row{"HTTP 503", 503, false, JobFault::transient},
           Row{"HTTP 429", 429, false, JobFault::transient},
           Row{"HTTP 408", 408, false, JobFault::transient},
           Row{"no UploadId in a 200", 200, false, JobFault::transient},
           // Nothing a retry can fix.
           Row{"HTTP 403 AccessDenied", 403, true, JobFault::permanent},
           Row{"HTTP 400 refused key", 400, true, JobFault::permanent},
           Row{"no such object (404)", 404, true, JobFault::permanent},
           Row{"local file: No such file or directory", 0, true, JobFault::permanent},
       }) {
    CAPTURE(r.what);
    CHECK(fault_of(StorageError(r.what, r.status, r.permanent)) == r.fault);
  }
}
