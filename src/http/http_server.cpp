#include "tickd/http/http_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>

#include "router.hpp"

namespace tickd {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

// After an error response the client may still be sending (an oversized body): read and
// discard for a little while, so closing does not reset the connection before the client
// has read the response.
constexpr std::chrono::milliseconds kLingerTimeout{2000};
constexpr std::size_t kMaxLingerBytes = 64 * 1024;
constexpr std::chrono::milliseconds kAcceptBackoff{100};

std::string describe(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos && !host.starts_with('[');
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

tcp::endpoint resolve(asio::io_context& io, const std::string& host, std::uint16_t port) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";  // ":9464" means every interface, as elsewhere
  error_code ec;
  const auto addr = asio::ip::make_address(h, ec);
  if (!ec) return {addr, port};
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(h, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("http: cannot resolve " + describe(host, port) + ": " +
                             (ec ? ec.message() : std::string("no address")));
  }
  return results.begin()->endpoint();
}

bool is_http_error(const error_code& ec) {
  return ec.category() == make_error_code(http::error::bad_target).category();
}

class HttpSession;

// The acceptor and what every session shares; HttpServer::Impl is this, named.
struct Listener : std::enable_shared_from_this<Listener> {
  Listener(asio::io_context& io_, HttpRoutes routes_, HttpSettings settings_)
      : io(io_), acceptor(io_), backoff(io_), routes(std::move(routes_)), settings(settings_) {}

  void listen(const std::string& host, std::uint16_t port);
  void accept();
  void on_accept(error_code ec, tcp::socket socket);
  void stop();

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  const HttpRoutes routes;
  const HttpSettings settings;
  std::uint16_t bound_port = 0;
  bool stopped = false;
  // Live sessions, for stop(); each session removes itself when destroyed.
  std::unordered_set<HttpSession*> sessions;
};

// One connection: read a request (under the deadline and size limits), route it, write
// the response, repeat while keep-alive holds. Owned by the shared_ptrs in its pending
// handlers, so it lives exactly as long as it has work outstanding.
class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::shared_ptr<Listener> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    server_->sessions.insert(this);
  }
  ~HttpSession() { server_->sessions.erase(this); }
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void start() { read(); }

  void close() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read() {
    const auto& s = server_->settings;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(s.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(static_cast<std::uint64_t>(s.max_body_bytes));
    // One deadline for the whole request, however the bytes trickle in.
    stream_.expires_after(s.request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t /*bytes*/) {
    if (server_->stopped || ec == asio::error::operation_aborted) return;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return shutdown_send();
    }
    if (ec == beast::error::timeout) {
      spdlog::debug("http: {}: request deadline passed, closing", peer());
      return;  // the timed-out stream is already closed
    }
    if (ec == http::error::header_limit || ec == http::error::body_limit ||
        ec == http::error::buffer_overflow) {
      spdlog::debug("http: {}: request too large ({})", peer(), ec.message());
      return send_error(http::status::payload_too_large, "request too large");
    }
    if (is_http_error(ec)) {
      spdlog::debug("http: {}: malformed request ({})", peer(), ec.message());
      return send_error(http::status::bad_request, "bad request");
    }
    if (ec) {
      spdlog::debug("http: {}: read failed: {}", peer(), ec.message());
      return;
    }
    const http_detail::Request& req = parser_->get();
    if (server_->routes.api && http_detail::is_api_target(req.target())) return call_api(req);
    response_ = http_detail::route(req, server_->routes);
    write(false);
  }

  // Answered off the loop (the API reads the database); the answer comes back to the
  // loop, and the session lives until then.
  void call_api(const http_detail::Request& req) {
    ApiRequest call{std::string(req.method_string()), std::string(req.target()), req.body(),
                    std::string(req[http::field::authorization]), peer_address()};
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    const bool head = req.method() == http::verb::head;
    server_->routes.api(std::move(call), [self = shared_from_this(), version, keep_alive,
                                          head](ApiResponse answer) {
      asio::post(self->server_->io, [self, version, keep_alive, head,
                                     answer = std::move(answer)]() mutable {
        if (self->server_->stopped) return;
        self->response_ = http_detail::api_response(version, keep_alive, head, std::move(answer));
        self->write(false);
      });
    });
  }

  void send_error(http::status status, std::string_view text) {
    response_ = http_detail::error_response(status, 11, text);
    write(true);
  }

  void write(bool linger_after) {
    stream_.expires_after(server_->settings.request_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), linger_after](error_code ec, std::size_t) {
                        self->on_write(ec, linger_after);
                      });
  }

  void on_write(error_code ec, bool linger_after) {
    if (server_->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      spdlog::debug("http: {}: write failed: {}", peer(), ec.message());
      return;
    }
    const bool close_after = linger_after || response_->need_eof();
    response_.reset();
    if (linger_after) return linger();
    if (close_after) return shutdown_send();
    read();
  }

  void shutdown_send() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  void linger() {
    shutdown_send();
    stream_.expires_after(
        std::min<std::chrono::milliseconds>(kLingerTimeout, server_->settings.request_timeout));
    drain();
  }

  void drain() {
    stream_.async_read_some(
        asio::buffer(scratch_), [self = shared_from_this()](error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (ec || self->server_->stopped || self->lingered_ > kMaxLingerBytes) {
            return;  // destruction closes the socket
          }
          self->drain();
        });
  }

  std::string peer_address() const {
    error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string();
  }

  std::string peer() const {
    error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Listener> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http_detail::Response> response_;
  std::array<char, 4096> scratch_{};
  std::size_t lingered_ = 0;
};

void Listener::listen(const std::string& host, std::uint16_t port) {
  const tcp::endpoint endpoint = resolve(io, host, port);
  const auto fail = [&](const char* what, const error_code& ec) {
    error_code ignored;
    acceptor.close(ignored);
    throw std::runtime_error("http: cannot listen on " + describe(host, port) + ": " + what + ": " +
                             ec.message());
  };
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) fail("open", ec);
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) fail("set_option", ec);
  acceptor.bind(endpoint, ec);
  if (ec) fail("bind", ec);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen", ec);
  bound_port = acceptor.local_endpoint(ec).port();
  if (ec) fail("local_endpoint", ec);
}

void Listener::accept() {
  acceptor.async_accept(io, [self = shared_from_this()](error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void Listener::on_accept(error_code ec, tcp::socket socket) {
  if (stopped || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors and the like: pause instead of spinning on the shared loop.
    spdlog::debug("http: accept failed: {}", ec.message());
    backoff.expires_after(kAcceptBackoff);
    backoff.async_wait([self = shared_from_this()](error_code wait_ec) {
      if (!wait_ec && !self->stopped) self->accept();
    });
    return;
  }
  if (sessions.size() >= settings.max_connections) {
    spdlog::debug("http: {} connections open, refusing one more", sessions.size());
    error_code ignored;
    socket.close(ignored);
  } else {
    std::make_shared<HttpSession>(std::move(socket), shared_from_this())->start();
  }
  accept();
}

void Listener::stop() {
  if (stopped) return;
  stopped = true;
  error_code ec;
  acceptor.close(ec);
  backoff.cancel();
  // close() does not run handlers inline, so no session leaves the set while we iterate
  // over the copy; they go once their aborted handlers have run.
  const auto live = sessions;
  for (auto* s : live) s->close();
}

}  // namespace

struct HttpServer::Impl final : Listener {
  using Listener::Listener;
};

HttpServer::HttpServer(asio::io_context& io, const std::string& host, std::uint16_t port,
                       HttpRoutes routes, HttpSettings settings)
    : impl_(std::make_shared<Impl>(io, std::move(routes), settings)) {
  impl_->listen(host, port);
  impl_->accept();
}

HttpServer::~HttpServer() { impl_->stop(); }

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop() { impl_->stop(); }

}  // namespace tickd
