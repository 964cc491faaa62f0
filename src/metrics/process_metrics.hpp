#pragma once
// Internal to src/metrics: the process_* families of the Prometheus client conventions
// (CPU, memory, start time, file descriptors), read from /proc and getrusage at scrape time.

#include <prometheus/metric_family.h>

#include <vector>

namespace tickd::metrics {

// When this process started, in seconds since the epoch (/proc/self/stat and /proc/stat's
// btime); the current time where /proc cannot say.
double process_start_time();

// Appends the families it can read; a value that cannot be read leaves its family out
// rather than reporting a fake zero.
void append_process_metrics(std::vector<prometheus::MetricFamily>& out, double start_time);

}  // namespace tickd::metrics
