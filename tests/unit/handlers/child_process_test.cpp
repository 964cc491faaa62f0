// child::run, the `command` handler's process runner, with real (quick) /bin/sh processes:
// exit statuses and signals, the tails kept, what the child inherits (nothing but 0-2 and
// the given environment, no blocked or ignored signal), its own process group, the stop
// path, and no process of it left behind. No test waits on time: a stopped command is
// stopped at once.

#include "../../../src/handlers/child_process.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using tickd::child::Ended;

Ended sh(
    const std::string& script, std::vector<std::string> env = {},
    const std::function<bool()>& stop = [] { return false; }, std::size_t keep = 4096) {
  tickd::child::Spec spec;
  spec.path = "/bin/sh";
  spec.argv = {"sh", "-c", script};
  spec.env = std::move(env);
  spec.keep = keep;
  spec.kill_after = std::chrono::milliseconds(200);
  return tickd::child::run(spec, stop);
}

// "R", "S", "Z"...; empty when there is no such process.
std::string state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const auto paren = stat.rfind(')');
  return paren == std::string::npos ? "" : stat.substr(paren + 2, 1);
}

// Killed: gone, or dead and waiting for its new parent to reap it. The pipes close (which
// ended the run) just before a killed process turns into a zombie, hence a short spin.
bool dead(pid_t pid) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    const auto state = state_of(pid);
    if (state.empty() || state == "Z" || state == "X") return true;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
}

}  // namespace

TEST_CASE("exit status, stdout and stderr apart, and their sizes") {
  const auto e = sh("echo out; echo err >&2; exit 3");
  CHECK(e.exit_code == 3);
  CHECK_FALSE(e.signal);
  CHECK(e.out.tail == "out\n");
  CHECK(e.err.tail == "err\n");
  CHECK(e.out.bytes == 4);
  CHECK_FALSE(e.terminated);
  CHECK(e.pid > 0);
  CHECK(state_of(e.pid).empty());  // reaped: not even a zombie
}

TEST_CASE("only the last `keep` bytes are kept, and every byte is counted") {
  const auto e = sh(
      "yes abcdefgh | head -c 999990; printf 0123456789", {}, [] { return false; }, 16);
  CHECK(e.exit_code == 0);
  CHECK(e.out.bytes == 1000000);
  CHECK(e.out.tail == "defgh\n0123456789");  // 999990 = 111110 lines of 9
}

TEST_CASE("the environment is exactly the given one; stdin is empty") {
  const auto e = sh("echo \"$A|${HOME-unset}\"; cat; echo end", {"A=1"});
  CHECK(e.out.tail == "1|unset\nend\n");
}

TEST_CASE("the child holds no descriptor of tickd's but 0-2, close-on-exec or not") {
  const int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  REQUIRE(leaked > 2);
  const auto e = sh("ls /proc/self/fd");
  ::close(leaked);
  CHECK(e.out.tail == "0\n1\n2\n3\n");  // 3: ls's own, the directory it reads
}

TEST_CASE("no signal is blocked or ignored in the child, whatever tickd's thread has") {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &usr1, &old);
  const auto old_pipe = ::signal(SIGPIPE, SIG_IGN);
  const auto e = sh("grep -E '^Sig(Blk|Ign)' /proc/self/status");
  ::signal(SIGPIPE, old_pipe);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  const auto mask = [&](const std::string& name) {
    const auto at = e.out.tail.find(name + ":\t");
    REQUIRE(at != std::string::npos);
    return std::stoull(e.out.tail.substr(at + name.size() + 2, 16), nullptr, 16);
  };
  CHECK(mask("SigBlk") == 0);
  // Signals 32 and 33 are glibc's own (thread cancellation, setxid): its posix_spawn
  // ignores them in the child; every standard signal is at its default.
  CHECK((mask("SigIgn") & 0x7fffffffu) == 0);
}

TEST_CASE("the child leads a process group of its own") {
  const auto e = sh("cut -d' ' -f5 /proc/$$/stat; echo $$");
  const auto nl = e.out.tail.find('\n');
  REQUIRE(nl != std::string::npos);
  CHECK(e.out.tail.substr(0, nl) == std::to_string(e.pid));
  CHECK(e.out.tail.substr(nl + 1) == std::to_string(e.pid) + "\n");
}

TEST_CASE("stop: SIGTERM to the group") {
  const auto e = sh("exec sleep 30", {}, [] { return true; });
  CHECK(e.terminated);
  CHECK_FALSE(e.killed);
  CHECK(e.signal == SIGTERM);
  CHECK_FALSE(e.exit_code);
  CHECK(tickd::child::signal_name(*e.signal) == "SIGTERM");
}

TEST_CASE("stop: SIGKILL `kill_after` the SIGTERM when the command ignores it") {
  // Stopped once the script ignores SIGTERM (it says so by making a file), not before.
  char dir[] = "/tmp/tickd-child-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string marker = std::string(dir) + "/ignoring";
  const auto e = sh("trap '' TERM; sleep 30 & echo $!; : > " + marker + "; wait; wait", {},
                    [&] { return ::access(marker.c_str(), F_OK) == 0; });
  ::unlink(marker.c_str());
  ::rmdir(dir);
  CHECK(e.terminated);
  CHECK(e.killed);
  CHECK(e.signal == SIGKILL);
  REQUIRE_FALSE(e.out.tail.empty());
  CHECK(dead(std::stoi(e.out.tail)));
}

TEST_CASE("a background process does not outlive the command, nor keep it running") {
  const auto t0 = std::chrono::steady_clock::now();
  const auto e = sh("sleep 30 & echo $!");
  CHECK(e.exit_code == 0);
  CHECK(dead(std::stoi(e.out.tail)));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}

TEST_CASE("a program that cannot be started is an error, and no child is left") {
  tickd::child::Spec spec;
  spec.path = "/nonexistent/program";
  spec.argv = {"program"};
  try {
    tickd::child::run(spec, [] { return false; });
    FAIL("expected std::system_error");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
  }
  spec.path = "/etc/passwd";  // not executable
  CHECK_THROWS_AS(tickd::child::run(spec, [] { return false; }), std::system_error);
}

TEST_CASE("commands run from several threads at once each see only their own pipes") {
  // A write end leaked into a sibling would hold that sibling's reader open: every run
  // ending with its own output, promptly, is the check.
  std::vector<std::thread> threads;
  std::vector<std::string> outputs(4);
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    threads.emplace_back([i, &outputs] {
      for (int n = 0; n < 5; ++n) {
        const auto e = sh("echo " + std::to_string(i) + "; ls /proc/self/fd | wc -l");
        outputs[i] += e.out.tail;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    std::string expected;
    for (int n = 0; n < 5; ++n) expected += std::to_string(i) + "\n4\n";
    CHECK(outputs[i] == expected);
  }
}
