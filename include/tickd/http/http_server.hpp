#pragma once
// The HTTP endpoints: /metrics, /healthz, /readyz, /status on the service's Asio loop.
// Each connection has a deadline and a request size limit, so a slow or malformed
// client cannot hold resources or delay the timers sharing the loop. Anything else
// is 404; a method other than GET/HEAD is 405; a request that does not parse is 400 and
// a request over the size limit is 413, both followed by closing the connection. Framing
// follows RFC 9112: a Transfer-Encoding other than exactly "chunked", or one together with
// Content-Length, is 400 (501 for a coding before chunked), never guessed at; an HTTP/1.1
// request without exactly one Host is 400; `Expect: 100-continue` gets 100 Continue before
// the body is read (or the final status at once when the request is refused anyway), any
// other expectation 417. Each of these closes the connection, with a short text body saying
// what was wrong.
//
// Threading: the server lives on one io_context. The route callbacks run on the thread
// running that io_context. Call stop() and the destructor from that thread, or while the
// io_context is not running. No error is thrown out of the io_context; per-connection
// errors are logged at debug level.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;  // the server runs on its caller's loop; its users need not see Asio
}

namespace tickd {

// A request for the API (paths under /v1/), answered off the event loop.
struct ApiRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query, as sent
  std::string body;
  std::string authorization;  // the Authorization header, as sent ("" when absent)
  std::string peer;           // the client's address
};
struct ApiResponse {
  int status = 200;
  std::string body;  // JSON
};

struct HttpRoutes {
  std::function<std::string()> metrics;      // body of GET /metrics
  std::function<bool()> ready;               // GET /readyz: 200 when true, else 503
  std::function<std::string()> status_json;  // body of GET /status
  // Body of GET /status?code=C: the same document with only region C (percent-decoded);
  // cheap at any number of regions. Falls back to status_json when unset.
  std::function<std::string(std::string_view code)> status_json_for;
  // Requests under /v1/: `respond` must be called exactly once, from any thread; the
  // server writes the answer on its own loop. Unset: 404.
  std::function<void(ApiRequest request, std::function<void(ApiResponse)> respond)> api;
  // Whether a request with this Authorization header may read /status (TICKD_API_AUTH=all);
  // unset: anyone may. Never asked for /metrics, /healthz, /readyz.
  std::function<bool(std::string_view authorization)> may_read;
};

struct HttpSettings {
  // Deadline for reading one whole request from its first byte, for the idle time of a
  // keep-alive connection before its next request, and, separately, for writing one
  // response.
  std::chrono::milliseconds request_timeout{10'000};
  // Deadline for a request's header from its first byte (at most request_timeout): a
  // client trickling its header (slowloris) holds a connection no longer.
  std::chrono::milliseconds header_timeout{5'000};
  std::size_t max_header_bytes = 8 * 1024;  // request line + header fields
  std::size_t max_body_bytes = 8 * 1024;
  // At this many open connections, a new one takes the place of the one worth least: one
  // closing after an error, else the longest idle between requests, else the one that has
  // been sending its request the longest. Only when every connection is being answered is
  // the new one closed at once. So floods of keep-alive or slow clients cannot lock out
  // /healthz, /readyz and /metrics.
  std::size_t max_connections = 256;
};

class HttpServer final {
 public:
  // Binds host:port at once (port 0: any free port); throws std::runtime_error naming
  // the address on failure. host is an IP address ("127.0.0.1", "::1", "[::1]") or a
  // name resolved once, here.
  HttpServer(boost::asio::io_context& io, const std::string& host, std::uint16_t port,
             HttpRoutes routes, HttpSettings settings = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;  // the bound port (useful with port 0)
  void stop();                 // closes the listener and open connections; idempotent

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tickd
