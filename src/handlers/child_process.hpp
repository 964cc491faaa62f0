#pragma once
// One program run to its end as a child process, for the `command` handler: argv as given
// (no shell), the environment given, stdin /dev/null, stdout and stderr through pipes of
// which only the last bytes are kept (the child is never blocked on a full pipe), in a
// process group of its own, every signal at its default and none blocked.
//
// `stop` is asked about every `poll_every`: once it says yes, the group gets SIGTERM and,
// when the leader has not exited `kill_after` later, SIGKILL. When the leader exits, what is
// left of its group is sent SIGKILL: a command's background processes do not outlive it (a
// grandchild holding the pipes open would otherwise keep the tick running). A process that
// left the group (setsid) is not followed; the pipes are then read for at most a second more.
//
// The child is always waited for, on every path (an exception too): no zombie is left.
// Safe to call from several threads at once (every descriptor it opens is close-on-exec, and
// the child closes all but 0-2 before its exec).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tickd::child {

struct Spec {
  std::string path;                            // the executable
  std::vector<std::string> argv;               // argv[0] included, passed as it is
  std::vector<std::string> env;                // "NAME=value" each: the whole environment
  std::size_t keep = 4096;                     // bytes kept of the end of each of stdout and stderr
  std::chrono::milliseconds kill_after{5000};  // from SIGTERM to SIGKILL
  std::chrono::milliseconds poll_every{50};    // how often `stop` is asked
};

struct Stream {
  std::string tail;         // its last `keep` bytes
  std::uint64_t bytes = 0;  // how many it wrote in all
};

struct Ended {
  pid_t pid = 0;
  std::optional<int> exit_code;  // it exited, with this status
  std::optional<int> signal;     // or a signal ended it
  bool terminated = false;       // `stop` said so: its group was sent SIGTERM
  bool killed = false;           // and SIGKILL, as it outlived `kill_after`
  Stream out;
  Stream err;
};

// Throws std::system_error (errno in its code) when the program could not be started:
// ENOENT, EACCES, ENOEXEC (a script without #!), EAGAIN, ...
Ended run(const Spec& spec, const std::function<bool()>& stop);

// "SIGTERM" for SIGTERM, "signal 42" for a number without a name.
std::string signal_name(int sig);

}  // namespace tickd::child
