#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace tickd::child {
namespace {

using Clock = std::chrono::steady_clock;

// The pipes are read for at most this long after the leader was reaped and its group
// killed: long enough for the killed to close them, short enough that a process that
// escaped the group (setsid) cannot hold the tick.
constexpr std::chrono::milliseconds kDrainAfterExit{1000};
// Per stream and loop turn: a child writing flat out still lets `stop` and its exit be seen.
constexpr std::size_t kReadPerTurn = 1 << 20;

[[noreturn]] void fail(int error, const char* what) {
  throw std::system_error(error, std::generic_category(), what);
}

class Fd final {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

struct Pipe {
  Fd read;
  Fd write;
};

Pipe make_pipe() {
  int fds[2];
  // Close-on-exec from birth: a command spawned by another thread meanwhile must not
  // inherit this one's write end (its reader would then wait for that command too).
  if (::pipe2(fds, O_CLOEXEC) != 0) fail(errno, "pipe2");
  Pipe p{Fd(fds[0]), Fd(fds[1])};
  // Only our end: the child's stdout stays blocking, as programs expect.
  if (::fcntl(p.read.get(), F_SETFL, O_NONBLOCK) != 0) fail(errno, "fcntl");
  return p;
}

// The child's process: killed with its group and waited for when left without a wait (an
// exception), so no path leaves a zombie or a running command behind.
class Reaper final {
 public:
  explicit Reaper(pid_t pid) : pid_(pid) {}
  ~Reaper() {
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  bool reaped() const { return reaped_; }
  // Once the leader has exited (checked without reaping it, so that its pid, which is its
  // group's id, cannot be reused meanwhile), kills what is left of its group, then reaps it.
  // Its wait status, or none while it runs.
  std::optional<int> reap_if_exited() {
    siginfo_t info{};
    if (::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid_) {
      return std::nullopt;
    }
    ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) fail(errno, "waitpid");
    }
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

void keep_tail(Stream& s, const char* data, std::size_t n, std::size_t keep) {
  s.bytes += n;
  if (n >= keep) {
    s.tail.assign(data + n - keep, keep);
    return;
  }
  s.tail.append(data, n);
  // Trimmed in batches, so that a stream of small writes costs no memmove per write.
  if (s.tail.size() > 2 * keep) s.tail.erase(0, s.tail.size() - keep);
}

// Reads what `fd` has now; false at its end (or an error: the pipe is given up).
bool read_some(int fd, Stream& s, std::size_t keep) {
  char buf[64 * 1024];
  for (std::size_t total = 0; total < kReadPerTurn;) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      keep_tail(s, buf, static_cast<std::size_t>(n), keep);
      total += static_cast<std::size_t>(n);
    } else if (n == 0) {
      return false;
    } else if (errno == EINTR) {
      continue;
    } else {
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }
  return true;
}

// Readable when the process exits (Linux 5.3+); -1 where the kernel has none, and the loop
// then notices the exit within a poll interval instead.
Fd open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#else
  (void)pid;
  return Fd();
#endif
}

class SpawnSetup final {
 public:
  SpawnSetup(int out, int err) {
    if (const int e = ::posix_spawn_file_actions_init(&actions_)) fail(e, "posix_spawn");
    if (const int e = ::posix_spawnattr_init(&attr_)) {
      ::posix_spawn_file_actions_destroy(&actions_);
      fail(e, "posix_spawn");
    }
    check(::posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0));
    check(::posix_spawn_file_actions_adddup2(&actions_, out, 1));
    check(::posix_spawn_file_actions_adddup2(&actions_, err, 2));
    // Whatever else tickd has open without close-on-exec (a library's socket) stays out.
    check(::posix_spawn_file_actions_addclosefrom_np(&actions_, 3));
    // Its own group, so that it and everything it starts can be signalled as one.
    check(::posix_spawnattr_setpgroup(&attr_, 0));
    // Worker threads may block signals, and tickd ignores SIGPIPE: none of that is the
    // command's business.
    sigset_t none;
    sigset_t all;
    ::sigemptyset(&none);
    ::sigfillset(&all);
    check(::posix_spawnattr_setsigmask(&attr_, &none));
    check(::posix_spawnattr_setsigdefault(&attr_, &all));
    check(::posix_spawnattr_setflags(
        &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  static void check(int e) {
    if (e != 0) fail(e, "posix_spawn");
  }
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

std::vector<char*> pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

void decode(int status, Ended& ended) {
  if (WIFEXITED(status)) ended.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) ended.signal = WTERMSIG(status);
}

}  // namespace

std::string signal_name(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

Ended run(const Spec& spec, const std::function<bool()>& stop) {
  auto out = make_pipe();
  auto err = make_pipe();
  Ended ended;
  {
    const SpawnSetup setup(out.write.get(), err.write.get());
    auto argv = pointers(spec.argv);
    auto envp = pointers(spec.env);
    // glibc reports a failed exec here, as the error number, not as a child that exits 127.
    if (const int e = ::posix_spawn(&ended.pid, spec.path.c_str(), setup.actions(), setup.attr(),
                                    argv.data(), envp.data())) {
      fail(e, "posix_spawn");
    }
  }
  Reaper reaper(ended.pid);
  // Ours closed, the pipes end when the last of the command's processes closes its copy.
  out.write.reset();
  err.write.reset();
  auto pidfd = open_pidfd(ended.pid);

  std::optional<Clock::time_point> term_at;
  std::optional<Clock::time_point> drain_until;
  for (;;) {
    if (!reaper.reaped()) {
      if (const auto status = reaper.reap_if_exited()) {
        decode(*status, ended);
        pidfd.reset();
        drain_until = Clock::now() + kDrainAfterExit;
      }
    }
    const bool open = out.read.get() >= 0 || err.read.get() >= 0;
    if (reaper.reaped() && (!open || Clock::now() >= *drain_until)) break;
    if (!reaper.reaped()) {
      if (!term_at && stop()) {
        ::kill(-ended.pid, SIGTERM);
        term_at = Clock::now();
        ended.terminated = true;
      }
      if (term_at && !ended.killed && Clock::now() - *term_at >= spec.kill_after) {
        ::kill(-ended.pid, SIGKILL);
        ended.killed = true;
      }
    }
    pollfd fds[3];
    nfds_t n = 0;
    for (const int fd : {out.read.get(), err.read.get(), pidfd.get()}) {
      if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    }
    auto wait = spec.poll_every;
    // Without a pidfd, an exit is only seen by asking: ask more often once the pipes ended.
    if (!reaper.reaped() && pidfd.get() < 0 && !open) wait = std::min(wait, decltype(wait)(5));
    if (drain_until) {
      wait =
          std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(*drain_until - Clock::now()));
    }
    if (::poll(fds, n, static_cast<int>(std::max<std::int64_t>(wait.count(), 0))) < 0 &&
        errno != EINTR) {
      fail(errno, "poll");
    }
    if (out.read.get() >= 0 && !read_some(out.read.get(), ended.out, spec.keep)) out.read.reset();
    if (err.read.get() >= 0 && !read_some(err.read.get(), ended.err, spec.keep)) err.read.reset();
  }
  for (auto* s : {&ended.out, &ended.err}) {
    if (s->tail.size() > spec.keep) s->tail.erase(0, s->tail.size() - spec.keep);
  }
  return ended;
}

}  // namespace tickd::child
