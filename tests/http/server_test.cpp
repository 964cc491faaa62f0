#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "tickd/http/http_server.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A blocking TCP client on plain sockets, with a receive timeout so no test can hang.
class Client {
 public:
  explicit Client(std::uint16_t port, std::chrono::milliseconds timeout = 5000ms)
      : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  // False once the peer has closed or reset the connection.
  bool send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One response; for a reply to HEAD pass head = true (no body follows the headers).
  // nullopt when the connection ends or the timeout passes first.
  std::optional<Reply> read_reply(bool head = false) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    Reply r;
    const std::string head_text = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::size_t pos = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, pos);
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    while (pos != std::string::npos) {
      const auto next = head_text.find("\r\n", pos + 2);
      const std::string line =
          head_text.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers[name] = value;
      }
      pos = next;
    }
    if (head) return r;
    const std::size_t length =
        r.headers.contains("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < length) {
      if (!fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  std::optional<Reply> request(std::string_view raw, bool head = false) {
    if (!send(raw)) return std::nullopt;
    return read_reply(head);
  }

  // True when the server closes (EOF or reset) before the timeout.
  bool closed_by_peer() {
    char c[4096];
    for (;;) {
      const auto n = ::recv(fd_, c, sizeof c, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET || errno == EPIPE;
    }
  }

 private:
  bool fill() {
    char c[4096];
    const auto n = ::recv(fd_, c, sizeof c, 0);
    if (n <= 0) return false;
    buf_.append(c, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  std::string buf_;
};

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra) +
         "\r\n";
}

// A real HttpServer on 127.0.0.1, port 0, with its io_context on its own thread.
struct Fixture {
  explicit Fixture(tickd::HttpSettings settings = {})
      : server(
            io, "127.0.0.1", 0,
            {[this] {
               ++metrics_calls;
               return std::string("tickd_up 1\n");
             },
             [this] { return ready.load(); },
             [] { return std::string("{\"replica_id\":\"t\",\"regions\":[],\"invalid\":[]}\n"); },
             {},
             // The API answers later, from a thread of its own, as the service's does.
             [this](tickd::ApiRequest request, std::function<void(tickd::ApiResponse)> respond) {
               std::thread([this, request = std::move(request), respond = std::move(respond)] {
                 std::this_thread::sleep_for(api_delay);
                 respond({201, request.method + " " + request.target + " " + request.authorization +
                                   " " + request.body});
               }).detach();
             },
             {}},
            settings),
        thread([this] { io.run(); }) {}
  ~Fixture() {
    boost::asio::post(io, [this] { server.stop(); });
    thread.join();  // returns only if stop() really released every connection
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  std::atomic<bool> ready{true};
  std::atomic<int> metrics_calls{0};
  std::chrono::milliseconds api_delay{50};
  boost::asio::io_context io;
  tickd::HttpServer server;
  std::thread thread;
};

}  // namespace

TEST_CASE("the server binds port 0 to a real port and answers the four endpoints") {
  Fixture f;
  REQUIRE(f.server.port() != 0);
  Client c(f.server.port());
  REQUIRE(c.connected());

  auto r = c.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok\n");
  CHECK(r->headers["content-type"] == "text/plain; charset=utf-8");

  r = c.request(get("/metrics"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "tickd_up 1\n");
  CHECK(r->headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");

  r = c.request(get("/status"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->headers["content-type"] == "application/json");
  CHECK(r->body.starts_with("{\"replica_id\":\"t\""));

  r = c.request(get("/readyz"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ready\n");
  f.ready = false;
  r = c.request(get("/readyz"));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body == "not ready\n");
}

TEST_CASE(
    "/v1 is answered off the loop: other clients are served meanwhile, and the answer keeps the "
    "connection") {
  Fixture f;
  f.api_delay = std::chrono::milliseconds(300);
  Client slow(f.server.port());
  REQUIRE(
      slow.send("POST /v1/regions/a/trigger HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer k\r\n"
                "Content-Length: 2\r\n\r\n{}"));
  // While the API's answer is pending, the loop serves another client.
  Client other(f.server.port());
  const auto health = other.request(get("/healthz"));
  REQUIRE(health);
  CHECK(health->status == 200);
  auto answer = slow.request("");
  REQUIRE(answer);
  CHECK(answer->status == 201);
  CHECK(answer->headers["content-type"] == "application/json");
  CHECK(answer->body == "POST /v1/regions/a/trigger Bearer k {}");
  // Keep-alive holds after an answer from another thread.
  const auto next = slow.request(get("/healthz"));
  REQUIRE(next);
  CHECK(next->status == 200);
}

TEST_CASE("unknown paths get 404 and other methods 405, and the connection stays usable") {
  Fixture f;
  Client c(f.server.port());
  auto r = c.request(get("/nope"));
  REQUIRE(r);
  CHECK(r->status == 404);
  r = c.request("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->headers["allow"] == "GET, HEAD");
  r = c.request("BREW /status HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 405);
  r = c.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("HEAD gets headers only, and the next request on the connection still parses") {
  Fixture f;
  Client c(f.server.port());
  auto r = c.request("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", true);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->headers["content-length"] == "11");
  r = c.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok\n");
}

TEST_CASE("pipelined requests are answered in order") {
  Fixture f;
  Client c(f.server.port());
  REQUIRE(c.send(get("/healthz") + get("/nope") + get("/readyz")));
  auto a = c.read_reply();
  auto b = c.read_reply();
  auto d = c.read_reply();
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(d);
  CHECK(a->status == 200);
  CHECK(b->status == 404);
  CHECK(d->body == "ready\n");
}

TEST_CASE("Connection: close and HTTP/1.0 without keep-alive close after the response") {
  Fixture f;
  {
    Client c(f.server.port());
    auto r = c.request(get("/healthz", "Connection: close\r\n"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(c.closed_by_peer());
  }
  {
    Client c(f.server.port());
    auto r = c.request("GET /healthz HTTP/1.0\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(c.closed_by_peer());
  }
}

TEST_CASE("a request whose header exceeds the limit gets 413 or a closed connection") {
  Fixture f;
  Client c(f.server.port());
  const std::string big = get("/metrics", "X-Filler: " + std::string(20000, 'a') + "\r\n");
  c.send(big);  // may fail part-way once the server has closed: that is allowed
  auto r = c.read_reply();
  if (r) {
    CHECK(r->status == 413);
    CHECK(r->headers["connection"] == "close");
  }
  CHECK(c.closed_by_peer());
  CHECK(f.metrics_calls == 0);
}

TEST_CASE("a declared body over the limit gets 413 before it is sent") {
  Fixture f;
  Client c(f.server.port());
  auto r = c.request("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(c.closed_by_peer());
}

TEST_CASE("malformed requests get 400 and the connection is closed") {
  const char* bad[] = {
      "\x01\x02 garbage\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost localhost\r\n\r\n",  // header line without a colon
      "GET /metrics HTTP/7.5\r\nHost: x\r\n\r\n",         // no such version
      "GET /metrics HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
      "GET  /metrics HTTP/1.1\r\n\r\n",  // two spaces
  };
  Fixture f;
  for (const char* raw : bad) {
    CAPTURE(std::string(raw));
    Client c(f.server.port());
    auto r = c.request(raw);
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(c.closed_by_peer());
  }
  // The server is still fine afterwards.
  Client c(f.server.port());
  auto r = c.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE(
    "a Transfer-Encoding other than exactly chunked gets 400 and a close: nothing smuggled after "
    "it is answered") {
  // Each request hides a second one where a proxy that honours the Transfer-Encoding would see
  // a body; before the fix the header was ignored, the first answered 200 and the second run.
  const std::string smuggled = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string framings[] = {
      "Transfer-Encoding: xchunked\r\n",
      "Transfer-Encoding: chunked, identity\r\n",
      "Transfer-Encoding: identity\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
      "Transfer-Encoding: chunked, chunked\r\n",
      "Transfer-Encoding: xchunked\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n",
      "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
  };
  Fixture f;
  for (const auto& framing : framings) {
    CAPTURE(framing);
    Client c(f.server.port());
    auto r = c.request("POST /healthz HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n" + smuggled);
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->headers["connection"] == "close");
    CHECK(r->body.starts_with("bad request: "));
    CHECK((r->body.find("Transfer-Encoding") != std::string::npos ||
           r->body.find("chunked") != std::string::npos));
    CHECK(c.closed_by_peer());
  }
  // A Transfer-Encoding in HTTP/1.0 cannot be trusted either.
  Client old(f.server.port());
  auto r = old.request("GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(r->body == "bad request: Transfer-Encoding in an HTTP/1.0 request\n");
  CHECK(old.closed_by_peer());
  CHECK(f.metrics_calls == 0);
}

TEST_CASE("a coding before chunked is well framed but not supported: 501 and a close") {
  Fixture f;
  Client c(f.server.port());
  auto r = c.request(
      "POST /v1/regions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 501);
  CHECK(r->body == "transfer coding 'gzip' is not supported (only chunked)\n");
  CHECK(c.closed_by_peer());
}

TEST_CASE("a chunked body is still read, and the connection kept") {
  Fixture f;
  Client c(f.server.port());
  auto r = c.request(
      "POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(r->body == "POST /v1/x  {}");
  r = c.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("HTTP/1.1 needs exactly one Host header; HTTP/1.0 may go without") {
  Fixture f;
  {
    Client c(f.server.port());
    auto r = c.request("GET /healthz HTTP/1.1\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->body == "bad request: HTTP/1.1 request without a Host header\n");
    CHECK(c.closed_by_peer());
  }
  {
    Client c(f.server.port());
    auto r = c.request("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->body == "bad request: more than one Host header\n");
    CHECK(c.closed_by_peer());
  }
  {
    Client c(f.server.port());
    auto r = c.request("GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 400);
  }
  Client c(f.server.port());
  auto r = c.request("GET /healthz HTTP/1.0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body is sent, then the answer") {
  Fixture f;
  Client c(f.server.port(), 3000ms);  // before the fix the server waited for the body
  REQUIRE(
      c.send("POST /v1/regions/a/trigger HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             "Content-Length: 2\r\n\r\n"));
  auto r = c.read_reply();
  REQUIRE(r);
  CHECK(r->status == 100);
  REQUIRE(c.send("{}"));
  r = c.read_reply();
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(r->body == "POST /v1/regions/a/trigger  {}");
  r = c.request(get("/healthz"));  // and the connection stays usable
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("Expect: 100-continue on a request refused anyway gets the final status and a close") {
  Fixture f;
  {  // too large: refused before the client sends the body
    Client c(f.server.port(), 3000ms);
    auto r = c.request(
        "POST /v1/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: "
        "1000000\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->body == "request too large: body over 8192 bytes\n");
    CHECK(c.closed_by_peer());
  }
  {  // a body nobody reads: answered without it
    Client c(f.server.port(), 3000ms);
    auto r = c.request(
        "POST /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->headers["connection"] == "close");
    CHECK(c.closed_by_peer());
  }
  {  // no body at all: nothing to continue, just the answer
    Client c(f.server.port(), 3000ms);
    auto r = c.request(get("/healthz", "Expect: 100-continue\r\n"));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}

TEST_CASE("an expectation other than 100-continue gets 417 and a close") {
  Fixture f;
  Client c(f.server.port(), 3000ms);
  auto r =
      c.request("POST /v1/x HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}");
  REQUIRE(r);
  CHECK(r->status == 417);
  CHECK(r->body == "expectation failed: only Expect: 100-continue is supported, not '200-ok'\n");
  CHECK(c.closed_by_peer());
}

TEST_CASE("a slow client holding half a request does not delay another client") {
  Fixture f;
  Client slow(f.server.port());
  REQUIRE(slow.send("GET /metrics HTTP/1.1\r\nHo"));
  Client idle(f.server.port());  // connected, sends nothing at all
  REQUIRE(idle.connected());
  std::this_thread::sleep_for(50ms);

  const auto start = Clock::now();
  Client fast(f.server.port());
  auto r = fast.request(get("/healthz"));
  const auto took = Clock::now() - start;
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(took < 500ms);

  // The slow one still completes when it finishes its request within the deadline.
  REQUIRE(slow.send("st: x\r\n\r\n"));
  r = slow.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("a client that does not finish its request within the deadline is disconnected") {
  tickd::HttpSettings s;
  s.request_timeout = 300ms;
  Fixture f(s);
  Client slow(f.server.port());
  REQUIRE(slow.send("GET /metrics HTTP/1.1\r\n"));
  const auto start = Clock::now();
  // Trickling bytes does not extend the deadline: it covers the whole request.
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(50ms);
    slow.send("X-A: b\r\n");
  }
  CHECK(slow.closed_by_peer());
  const auto took = Clock::now() - start;
  CHECK(took >= 200ms);
  CHECK(took < 2s);
  CHECK(f.metrics_calls == 0);
}

TEST_CASE("an idle keep-alive connection is closed after the deadline") {
  tickd::HttpSettings s;
  s.request_timeout = 200ms;
  Fixture f(s);
  Client c(f.server.port());
  auto r = c.request(get("/healthz"));
  REQUIRE(r);
  const auto start = Clock::now();
  CHECK(c.closed_by_peer());
  CHECK(Clock::now() - start < 2s);
}

TEST_CASE("at the cap, the longest-idle keep-alive connection is closed to admit a new one") {
  // Before: the new one was refused, so 256 idle keep-alive clients locked out every probe.
  tickd::HttpSettings s;
  s.max_connections = 2;
  Fixture f(s);
  Client a(f.server.port());
  Client b(f.server.port());
  REQUIRE(a.request(get("/healthz")));
  std::this_thread::sleep_for(20ms);  // a has been idle longer than b
  REQUIRE(b.request(get("/healthz")));
  Client c(f.server.port());
  auto r = c.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(a.closed_by_peer());
  r = b.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("at the cap with every client sending slowly, the oldest one makes room") {
  tickd::HttpSettings s;
  s.max_connections = 2;
  Fixture f(s);
  Client slow1(f.server.port());
  REQUIRE(slow1.send("GET /healthz HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(20ms);
  Client slow2(f.server.port());
  REQUIRE(slow2.send("GET /healthz HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(20ms);
  Client probe(f.server.port());
  auto r = probe.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(slow1.closed_by_peer());
  REQUIRE(slow2.send("st: x\r\n\r\n"));  // the younger one still completes
  r = slow2.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("a new connection is closed at once only when every one is being answered") {
  tickd::HttpSettings s;
  s.max_connections = 2;
  Fixture f(s);
  f.api_delay = 1000ms;
  Client a(f.server.port());
  Client b(f.server.port());
  REQUIRE(a.send("GET /v1/a HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(b.send("GET /v1/b HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(100ms);  // both are waiting for the API now
  Client c(f.server.port(), 2000ms);
  CHECK(c.closed_by_peer());
  auto r = a.read_reply();
  REQUIRE(r);
  CHECK(r->status == 201);
  r = b.read_reply();
  REQUIRE(r);
  CHECK(r->status == 201);
}

TEST_CASE("a header still incomplete after the header deadline is cut, a slow body is not") {
  tickd::HttpSettings s;
  s.header_timeout = 200ms;
  s.request_timeout = 30s;  // far beyond the client's own 5 s timeout
  Fixture f(s);
  Client slowloris(f.server.port());
  REQUIRE(slowloris.send("GET /metrics HTTP/1.1\r\n"));
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(100ms);
    slowloris.send("X-A: b\r\n");
  }
  CHECK(slowloris.closed_by_peer());  // before: only after request_timeout (30 s)
  CHECK(f.metrics_calls == 0);

  // Header in time, then a body slower than the header deadline: within the request's.
  Client upload(f.server.port());
  REQUIRE(upload.send("POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n{"));
  for (const char* part : {"\"", "\"", "}"}) {
    std::this_thread::sleep_for(150ms);
    REQUIRE(upload.send(part));
  }
  auto r = upload.read_reply();
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(r->body == "POST /v1/x  {\"\"}");

  // Idling between requests is not a slow header either.
  std::this_thread::sleep_for(400ms);
  r = upload.request(get("/healthz"));
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("stop() closes the listener and the open connections") {
  boost::asio::io_context io;
  tickd::HttpServer server(io, "127.0.0.1", 0, {});
  std::thread t([&] { io.run(); });
  const auto port = server.port();
  Client idle(port);
  REQUIRE(idle.connected());
  Client half(port);
  REQUIRE(half.send("GET /hea"));
  std::this_thread::sleep_for(50ms);
  boost::asio::post(io, [&] { server.stop(); });
  CHECK(idle.closed_by_peer());
  CHECK(half.closed_by_peer());
  t.join();  // nothing left on the loop
  Client late(port);
  CHECK_FALSE(late.connected());
}

TEST_CASE("binding an address in use throws an error naming host and port") {
  boost::asio::io_context io;
  tickd::HttpServer first(io, "127.0.0.1", 0, {});
  const auto port = first.port();
  try {
    tickd::HttpServer second(io, "127.0.0.1", port, {});
    FAIL("second bind succeeded");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  }
  CHECK_THROWS_AS(tickd::HttpServer(io, "not an address!", 0, {}), std::runtime_error);
}

TEST_CASE("the server also listens on IPv6 loopback and on a resolved name") {
  boost::asio::io_context io;
  tickd::HttpServer by_name(io, "localhost", 0, {});
  CHECK(by_name.port() != 0);
  try {
    tickd::HttpServer v6(io, "[::1]", 0, {});
    CHECK(v6.port() != 0);
  } catch (const std::runtime_error& e) {
    MESSAGE("no IPv6 loopback here: " << e.what());
  }
}
