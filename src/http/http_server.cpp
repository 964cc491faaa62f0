#include "tickd/http/http_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "router.hpp"

namespace tickd {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;
using Clock = std::chrono::steady_clock;

// After an error response the client may still be sending (an oversized body): read and
// discard for a little while, so closing does not reset the connection before the client
// has read the response.
constexpr std::chrono::milliseconds kLingerTimeout{2000};
constexpr std::size_t kMaxLingerBytes = 64 * 1024;
constexpr std::chrono::milliseconds kAcceptBackoff{100};
// The first read of a request, before the parser sees it: what a small request fits in.
constexpr std::size_t kFirstRead = 1024;

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

// Why a request is refused before it is routed: the status and a short text saying what was
// wrong. The connection is closed after such an answer.
struct Refusal {
  http::status status;
  std::string text;
};

// The elements of a comma-separated header list (RFC 9110 section 5.6.1), over every line of
// the field, without surrounding whitespace; empty elements are skipped, as the RFC asks.
std::vector<std::string_view> list_elements(const http_detail::Request& req, http::field f) {
  std::vector<std::string_view> out;
  const auto [first, last] = req.equal_range(f);
  for (auto it = first; it != last; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) out.push_back(item);
    }
  }
  return out;
}

std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 40;  // the text echoes what the client sent: keep it short
  return "'" + std::string(s.substr(0, kMax)) + (s.size() > kMax ? "...'" : "'");
}

// RFC 9112 section 6: the only framing we accept besides Content-Length is a Transfer-Encoding
// of exactly "chunked". Anything else is ambiguous, and a proxy in front of us may read the
// body differently (request smuggling): refuse it and close, never guess.
std::optional<Refusal> check_framing(const http_detail::Request& req) {
  if (req.find(http::field::transfer_encoding) == req.end()) return std::nullopt;
  const auto bad = [](std::string text) {
    return Refusal{http::status::bad_request, "bad request: " + std::move(text)};
  };
  if (req.version() < 11) return bad("Transfer-Encoding in an HTTP/1.0 request");
  if (req.find(http::field::content_length) != req.end()) {
    return bad("Transfer-Encoding together with Content-Length");
  }
  const auto codings = list_elements(req, http::field::transfer_encoding);
  if (codings.empty()) return bad("empty Transfer-Encoding");
  if (!beast::iequals(codings.back(), "chunked")) {
    return bad("Transfer-Encoding must be \"chunked\", not " +
               quoted(req[http::field::transfer_encoding]));
  }
  for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
    if (beast::iequals(codings[i], "chunked")) return bad("chunked applied more than once");
  }
  if (codings.size() > 1) {
    // Well-framed, but a coding we cannot undo: RFC 9112 section 6.1 asks for 501.
    return Refusal{http::status::not_implemented, "transfer coding " + quoted(codings.front()) +
                                                      " is not supported (only chunked)"};
  }
  return std::nullopt;
}

// RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0.
std::optional<Refusal> check_host(const http_detail::Request& req) {
  const auto hosts = req.count(http::field::host);
  if (hosts > 1)
    return Refusal{http::status::bad_request, "bad request: more than one Host header"};
  if (hosts == 0 && req.version() >= 11) {
    return Refusal{http::status::bad_request,
                   "bad request: HTTP/1.1 request without a Host header"};
  }
  return std::nullopt;
}

// RFC 9110 section 10.1.1. 100-continue is the only expectation there is; HTTP/1.0 clients
// cannot have meant it, so it is ignored there.
enum class Expect { nothing, continue_ };
std::variant<Expect, Refusal> check_expect(const http_detail::Request& req) {
  Expect expect = Expect::nothing;
  for (const auto item : list_elements(req, http::field::expect)) {
    if (!beast::iequals(item, "100-continue")) {
      return Refusal{
          http::status::expectation_failed,
          "expectation failed: only Expect: 100-continue is supported, not " + quoted(item)};
    }
    if (req.version() >= 11) expect = Expect::continue_;
  }
  return expect;
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

class HttpSession;

// The acceptor and what every session shares; HttpServer::Impl is this, named.
struct Listener : std::enable_shared_from_this<Listener> {
  Listener(asio::io_context& io_, HttpRoutes routes_, HttpSettings settings_)
      : io(io_), acceptor(io_), backoff(io_), routes(std::move(routes_)), settings(settings_) {}

  void listen(const std::string& host, std::uint16_t port);
  void accept();
  void on_accept(error_code ec, tcp::socket socket);
  bool evict_one();
  void stop();

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  const HttpRoutes routes;
  const HttpSettings settings;
  std::uint16_t bound_port = 0;
  bool stopped = false;
  // Open sessions, for the cap, eviction and stop(); each session removes itself when
  // closed or destroyed.
  std::unordered_set<HttpSession*> sessions;
};

// Where a connection is. At the cap, one lingering after an error is given up first for a
// new connection, one being answered never.
enum class Phase { lingering, idle, reading, answering };

// One connection: read a request (under the deadlines and size limits), route it, write
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

  // Closes at once; pending handlers end with operation_aborted and release the session.
  void close() {
    closed_ = true;
    server_->sessions.erase(this);
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  // Lower is given up first when the cap is reached: a lingering one, then the one that
  // has gone longest without a request answered. Idle keep-alive and half-sent (slowloris)
  // alike: a fresh connection, a probe's, is last in line whichever the flood is made of.
  std::optional<std::pair<bool, Clock::time_point>> eviction_rank() const {
    if (phase_ == Phase::answering) return std::nullopt;
    return std::pair{phase_ != Phase::lingering, progress_};
  }
  Phase phase() const { return phase_; }

  std::string peer() const {
    error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }

 private:
  void enter(Phase phase) { phase_ = phase; }

  void read() {
    const auto& s = server_->settings;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(s.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(static_cast<std::uint64_t>(s.max_body_bytes));
    enter(Phase::idle);
    progress_ = Clock::now();
    if (buffer_.size() > 0) return read_header();  // pipelined: the next request is here
    // Idle until the first byte: the keep-alive limit. The request's own deadlines start
    // with its first byte, so waiting here costs a client nothing but its place at the cap.
    stream_.expires_after(s.request_timeout);
    stream_.async_read_some(
        buffer_.prepare(kFirstRead),
        beast::bind_front_handler(&HttpSession::on_first_bytes, shared_from_this()));
  }

  void on_first_bytes(error_code ec, std::size_t n) {
    if (server_->stopped || closed_ || ec == asio::error::operation_aborted) return;
    if (ec == asio::error::eof) return shutdown_send();
    if (ec == beast::error::timeout) {
      spdlog::debug("http: {}: idle past the keep-alive limit, closing", peer());
      return;  // the timed-out stream is already closed
    }
    if (ec) {
      spdlog::debug("http: {}: read failed: {}", peer(), ec.message());
      return;
    }
    buffer_.commit(n);
    read_header();
  }

  void read_header() {
    const auto& s = server_->settings;
    enter(Phase::reading);
    // The header has a short deadline of its own (a client trickling it, slowloris, holds
    // its connection no longer); the whole request, body included, the longer one.
    const auto now = Clock::now();
    request_deadline_ = now + s.request_timeout;
    stream_.expires_at(std::min(now + s.header_timeout, request_deadline_));
    // The header first, alone: framing, Host and Expect are judged before any body byte is
    // read, so a smuggled request never reaches the parser and 100-continue can be answered.
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::on_header, shared_from_this()));
  }

  void on_header(error_code ec, std::size_t /*bytes*/) {
    if (failed(ec)) return;
    const http_detail::Request& req = parser_->get();
    if (auto refusal = check_framing(req)) return refuse(*refusal);
    if (auto refusal = check_host(req)) return refuse(*refusal);
    const auto expect = check_expect(req);
    if (const auto* refusal = std::get_if<Refusal>(&expect)) return refuse(*refusal);
    if (parser_->is_done()) return on_request();
    if (std::get<Expect>(expect) == Expect::continue_) {
      // Only the API reads a body. Anything else is answered now, without the body the
      // client is holding back, and the connection closed (RFC 9110 section 10.1.1).
      if (!(server_->routes.api && http_detail::is_api_target(req.target()))) {
        response_ = http_detail::route(req, server_->routes);
        response_->keep_alive(false);
        return write(true);
      }
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](error_code wec, std::size_t) {
                                 if (self->server_->stopped || self->closed_ || wec) return;
                                 self->read_body();
                               });
    }
    read_body();
  }

  void read_body() {
    stream_.expires_at(request_deadline_);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_body, shared_from_this()));
  }

  void on_body(error_code ec, std::size_t /*bytes*/) {
    if (failed(ec)) return;
    on_request();
  }

  void on_request() {
    enter(Phase::answering);
    const http_detail::Request& req = parser_->get();
    if (server_->routes.api && http_detail::is_api_target(req.target())) return call_api(req);
    response_ = http_detail::route(req, server_->routes);
    write(false);
  }

  // Handles a failed read (true) or says there was none (false).
  bool failed(const error_code& ec) {
    if (server_->stopped || closed_ || ec == asio::error::operation_aborted) return true;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      shutdown_send();
      return true;
    }
    if (ec == beast::error::timeout) {
      spdlog::debug("http: {}: request deadline passed, closing", peer());
      return true;  // the timed-out stream is already closed
    }
    const auto& s = server_->settings;
    if (ec == http::error::header_limit) {
      refuse({http::status::payload_too_large,
              "request too large: header over " + std::to_string(s.max_header_bytes) + " bytes"});
      return true;
    }
    if (ec == http::error::body_limit) {
      refuse({http::status::payload_too_large,
              "request too large: body over " + std::to_string(s.max_body_bytes) + " bytes"});
      return true;
    }
    if (ec == http::error::buffer_overflow) {
      refuse({http::status::payload_too_large, "request too large"});
      return true;
    }
    if (ec == http::error::bad_content_length || ec == http::error::bad_transfer_encoding) {
      // Beast also lands here for Content-Length together with a chunked Transfer-Encoding.
      refuse({http::status::bad_request,
              "bad request: " + ec.message() +
                  " (Content-Length must be one number; Transfer-Encoding exactly \"chunked\"; "
                  "not both)"});
      return true;
    }
    if (is_http_error(ec)) {
      refuse({http::status::bad_request, "bad request: " + ec.message()});
      return true;
    }
    if (ec) {
      spdlog::debug("http: {}: read failed: {}", peer(), ec.message());
      return true;
    }
    return false;
  }

  void refuse(const Refusal& refusal) {
    spdlog::debug("http: {}: {} {}", peer(), static_cast<unsigned>(refusal.status), refusal.text);
    send_error(refusal.status, refusal.text);
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
        if (self->server_->stopped || self->closed_) return;
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
    enter(Phase::answering);
    stream_.expires_after(server_->settings.request_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), linger_after](error_code ec, std::size_t) {
                        self->on_write(ec, linger_after);
                      });
  }

  void on_write(error_code ec, bool linger_after) {
    if (server_->stopped || closed_ || ec == asio::error::operation_aborted) return;
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
    enter(Phase::lingering);
    shutdown_send();
    stream_.expires_after(
        std::min<std::chrono::milliseconds>(kLingerTimeout, server_->settings.request_timeout));
    drain();
  }

  void drain() {
    stream_.async_read_some(
        asio::buffer(scratch_), [self = shared_from_this()](error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (ec || self->server_->stopped || self->closed_ || self->lingered_ > kMaxLingerBytes) {
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

  beast::tcp_stream stream_;
  std::shared_ptr<Listener> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http_detail::Response> response_;
  std::array<char, 4096> scratch_{};
  std::size_t lingered_ = 0;
  Phase phase_ = Phase::idle;
  Clock::time_point progress_ = Clock::now();  // accepted, or last request answered
  Clock::time_point request_deadline_;
  bool closed_ = false;
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
  // At the cap, the newcomer takes the place of the connection that is worth least: a
  // flood of idle keep-alive clients or of half-sent requests (slowloris) must not lock
  // out a health probe. Refused only when every connection is being answered.
  if (sessions.size() >= settings.max_connections && !evict_one()) {
    spdlog::debug("http: {} connections open, all being answered: refusing one more",
                  sessions.size());
    error_code ignored;
    socket.close(ignored);
  } else {
    std::make_shared<HttpSession>(std::move(socket), shared_from_this())->start();
  }
  accept();
}

bool Listener::evict_one() {
  HttpSession* victim = nullptr;
  std::optional<std::pair<bool, Clock::time_point>> lowest;
  for (auto* s : sessions) {
    const auto rank = s->eviction_rank();
    if (rank && (!lowest || *rank < *lowest)) {
      victim = s;
      lowest = rank;
    }
  }
  if (!victim) return false;
  static constexpr std::array kPhase{"closing", "idle", "sending its request"};
  spdlog::debug("http: {} connections open: closing {} ({}) for a new one", sessions.size(),
                victim->peer(), kPhase.at(static_cast<std::size_t>(victim->phase())));
  victim->close();
  return true;
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
