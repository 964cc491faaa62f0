#include "process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

namespace tickd::metrics {

namespace prom = prometheus;

namespace {

// Clock ticks since boot at which this process started, from /proc/self/stat field 22.
std::optional<double> proc_start_ticks() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces; count after it.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  for (int n = 3; rest >> field; ++n) {
    if (n == 22) {
      try {
        return std::stod(field);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

prom::MetricFamily single(std::string name, std::string help, prom::MetricType type, double value) {
  prom::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  prom::ClientMetric m;
  if (type == prom::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

double process_start_time() {
  const auto ticks = proc_start_ticks();
  const auto boot = boot_time_seconds();
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (ticks && boot && hz > 0) return *boot + *ticks / static_cast<double>(hz);
  // Not Linux, or /proc is missing: the construction time is close enough.
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void append_process_metrics(std::vector<prom::MetricFamily>& out, double start_time) {
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    const auto secs = [](const timeval& tv) {
      return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    out.push_back(single("process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.",
                         prom::MetricType::Counter, secs(ru.ru_utime) + secs(ru.ru_stime)));
  }
  {
    std::ifstream statm("/proc/self/statm");
    double size_pages = 0;
    double resident_pages = 0;
    const long page = ::sysconf(_SC_PAGESIZE);
    if (statm >> size_pages >> resident_pages && page > 0) {
      out.push_back(single("process_resident_memory_bytes", "Resident memory size in bytes.",
                           prom::MetricType::Gauge, resident_pages * static_cast<double>(page)));
      out.push_back(single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           prom::MetricType::Gauge, size_pages * static_cast<double>(page)));
    }
  }
  out.push_back(single("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.",
                       prom::MetricType::Gauge, start_time));
  {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/self/fd", ec);
    if (!ec) {
      double n = 0;
      for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        ++n;
      }
      if (!ec) {
        out.push_back(single("process_open_fds", "Number of open file descriptors.",
                             prom::MetricType::Gauge, n));
      }
    }
  }
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    out.push_back(single("process_max_fds", "Maximum number of open file descriptors.",
                         prom::MetricType::Gauge, static_cast<double>(rl.rlim_cur)));
  }
}

}  // namespace tickd::metrics
