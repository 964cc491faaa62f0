#pragma once
// The HTTP endpoints: /metrics, /healthz, /readyz, /status on the service's Asio loop.
// Each connection has a deadline and a request size limit, so a slow or malformed
// client cannot hold resources or delay the timers sharing the loop. Anything else
// is 404; a method other than GET/HEAD is 405.

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tickd {

struct HttpRoutes {
  std::function<std::string()> metrics;      // body of GET /metrics
  std::function<bool()> ready;               // GET /readyz: 200 when true, else 503
  std::function<std::string()> status_json;  // body of GET /status
};

class HttpServer final {
 public:
  // Binds host:port at once; throws std::runtime_error naming the address on failure.
  HttpServer(boost::asio::io_context& io, const std::string& host, std::uint16_t port,
             HttpRoutes routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;  // the bound port (useful with port 0)
  void stop();                 // closes the listener and open connections

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tickd
