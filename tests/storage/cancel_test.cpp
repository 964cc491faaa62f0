// A transfer under a CancelScope stops when the scope says cancel: against a local socket
// that accepts and never answers (without the cancel, only the 60 s stall limit would end
// it), the fetch throws a StorageError saying it was cancelled, and is not retried.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include "tickd/storage/storage.hpp"

namespace {

// A listening socket on 127.0.0.1 whose connections the kernel accepts (backlog) and
// nobody reads.
struct SilentServer {
  SilentServer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd); }
  int fd = -1;
  int port = 0;
};

}  // namespace

TEST_CASE("a cancelled scope aborts the transfer under way, without retrying it") {
  SilentServer server;
  tickd::storage::Settings settings;
  settings.low_speed_window = std::chrono::seconds(60);
  settings.max_attempts = 5;
  const auto target = std::filesystem::temp_directory_path() / "tickd-cancel-test.out";
  std::atomic<int> asked{0};
  const auto began = std::chrono::steady_clock::now();
  std::string error;
  {
    // Cancels from the third time it is asked (libcurl asks about once a second at most
    // while nothing moves, more often while it connects).
    const tickd::storage::CancelScope scope([&] { return ++asked >= 3; });
    try {
      tickd::storage::fetch_url("http://127.0.0.1:" + std::to_string(server.port) + "/x", "",
                                target, settings);
    } catch (const tickd::storage::StorageError& e) {
      error = e.what();
    }
  }
  CHECK(error.find("cancelled") != std::string::npos);
  CHECK(error.find("after 1 attempt(s)") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds(30));
  CHECK_FALSE(tickd::storage::CancelScope::cancelled_now());  // the scope ended
  CHECK_FALSE(std::filesystem::exists(target));
}
