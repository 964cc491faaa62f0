// The `http` handler: one HTTP request per tick, as the region's `http` column describes it.
// The env values its templates use are secrets: the expanded URL and headers are never
// stored or logged, and every text that leaves here (error, body head) is scrubbed of them.

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <stdexcept>

#include "http_request.hpp"
#include "tickd/cron/timestamp.hpp"
#include "tickd/db/database.hpp"
#include "tickd/db/http_state_store.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/handlers/http_spec.hpp"
#include "tickd/util/json.hpp"

namespace tickd {
namespace {

using namespace http_handler;

constexpr std::chrono::milliseconds kConnectTimeout{10'000};
constexpr std::size_t kBodyHeadBytes = 1024;

std::string rfc3339(std::chrono::sys_time<std::chrono::microseconds> t) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  std::string out = cron::format_rfc3339(seconds);
  if (const auto us = (t - seconds).count(); us != 0) {
    std::string fraction = std::to_string(1'000'000 + us).substr(1);  // six digits
    out.insert(out.size() - 1, "." + fraction);
  }
  return out;
}

std::string json_string(std::string_view s) {
  json::Writer w;
  w.value(s);
  return std::move(w).str();
}

std::string json_int(std::int64_t n) {
  json::Writer w;
  w.value(n);
  return std::move(w).str();
}

bool has_header(const std::vector<std::pair<std::string, std::string>>& headers,
                std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) {
    if (h.first.size() != lower_name.size()) return false;
    for (std::size_t i = 0; i < h.first.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(h.first[i])) != lower_name[i]) return false;
    }
    return true;
  });
}

class HttpHandler final : public Handler {
 public:
  explicit HttpHandler(const Config& config)
      : limits_{split_config_list(config.http_allowed_hosts),
                split_config_list(config.http_env_allow)} {}

  std::optional<std::string> check(const RegionRow& row) const override {
    if (!row.extras->http) return "http: the region's http column is not set";
    auto parsed = parse_spec(*row.extras->http, limits_);
    if (auto* error = std::get_if<std::string>(&parsed)) return *error;
    return std::nullopt;
  }

  // A request may have reached its peer before a crash: run again only while max_attempts
  // allows another attempt.
  bool repeatable() const override { return false; }

  HandlerCounts run(const TickContext& tick, HandlerNotes& notes) override {
    if (!tick.region.extras->http) {
      throw HandlerError("the region's http column is not set", HandlerError::Retry::never);
    }
    auto parsed = parse_spec(*tick.region.extras->http, limits_);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      throw HandlerError(*error, HandlerError::Retry::never);
    }
    const HttpSpec& spec = std::get<HttpSpec>(parsed);

    std::vector<std::string> secrets;
    Request request = expand_request(tick, spec, secrets);
    const bool conditional = spec.conditional && !varies_per_tick(spec.url);
    std::optional<HttpState> state;
    if (conditional) state = load_state(tick, spec, request);

    const auto remaining = tick.remaining();
    if (remaining <= std::chrono::milliseconds(0) || tick.should_stop()) {
      throw std::runtime_error("not started");
    }
    request.timeout = std::min(spec.timeout.value_or(remaining), remaining);
    request.connect_timeout = kConnectTimeout;
    request.max_redirects = spec.follow_redirects ? kMaxRedirects : 0;
    request.keep_body_bytes = kBodyHeadBytes;
    request.cancelled = [&tick] { return tick.cut_short() || tick.stop.stop_requested(); };
    request.host_allowed = [this](const std::string& host, const std::string& authority) {
      return host_allowed(host, authority, limits_.allowed_hosts);
    };

    const Response response = perform(request);
    notes.add("bytes", json_int(static_cast<std::int64_t>(response.bytes)));
    if (response.answered()) notes.add("status", json_int(response.status));

    if (!response.answered()) {
      notes.add("not_modified", "false");
      fail_transport(tick, spec, request, response, secrets);
    }
    const Outcome outcome = classify(response.status, conditional, spec.ok_statuses);
    notes.add("not_modified", outcome == Outcome::not_modified ? "true" : "false");
    if (outcome == Outcome::ok || outcome == Outcome::not_modified) {
      if (conditional) save_state(tick, spec, state, response, secrets);
      return {};
    }
    // The head of the body says why the peer refused; it may echo what was sent.
    notes.add("body", json_string(scrub(json::sanitize_utf8(response.body_head), secrets)));
    std::string what = "HTTP " + std::to_string(response.status);
    if (const auto reason = reason_phrase(response.status); !reason.empty()) {
      what += " " + std::string(reason);
    }
    if (outcome == Outcome::retry) {
      std::optional<std::chrono::milliseconds> after;
      if (const auto value = response.header("retry-after")) {
        after = parse_retry_after(*value, std::chrono::system_clock::now());
      }
      throw HandlerError(what, HandlerError::Retry::policy, after);
    }
    if (response.status >= 300 && response.status < 400) {
      what += spec.follow_redirects
                  ? " (after " + std::to_string(response.redirects) + " redirects)"
                  : " (redirects are not followed: set follow_redirects)";
    }
    throw HandlerError(what, HandlerError::Retry::never);
  }

 private:
  Request expand_request(const TickContext& tick, const HttpSpec& spec,
                         std::vector<std::string>& secrets) const {
    TemplateValues values;
    values.region_code = tick.region.code;
    values.region_id = tick.region.id;
    values.scheduled_for = rfc3339(tick.scheduled_for);
    values.attempt = tick.run != nullptr ? tick.run->attempt : 1;
    values.env = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      if (v == nullptr) return std::nullopt;
      return std::string(v);
    };
    Request request;
    try {
      request.url = expand(spec.url, values, Encoding::percent, secrets);
      request.method = spec.method;
      for (const auto& [name, value] : spec.headers) {
        auto expanded = expand(value, values, Encoding::none, secrets);
        if (expanded.find_first_of("\r\n") != std::string::npos) {
          throw std::runtime_error("headers: '" + name + "': the expanded value contains CR or LF");
        }
        request.headers.emplace_back(name, std::move(expanded));
      }
      if (spec.body) request.body = expand(*spec.body, values, Encoding::none, secrets);
    } catch (const std::runtime_error& e) {
      // The environment does not change between attempts: another one would fail the same.
      throw HandlerError(scrub(e.what(), secrets), HandlerError::Retry::never);
    }
    return request;
  }

  // The validators of the last answer, added to `request`. Losing them costs one full
  // response, so a database that cannot be read does not stop the request.
  static std::optional<HttpState> load_state(const TickContext& tick, const HttpSpec& spec,
                                             Request& request) {
    std::optional<HttpState> state;
    try {
      state = HttpStateStore(tick.db).load(tick.region.id);
    } catch (const DbError& e) {
      spdlog::warn("region {}: http: could not read http_state ({}); sending unconditionally",
                   tick.region.code, e.what());
      return std::nullopt;
    }
    if (!state || state->url != spec.url) return state;  // validators of another URL
    if (state->etag && !has_header(request.headers, "if-none-match")) {
      request.headers.emplace_back("If-None-Match", *state->etag);
    }
    if (state->last_modified && !has_header(request.headers, "if-modified-since")) {
      request.headers.emplace_back("If-Modified-Since", *state->last_modified);
    }
    return state;
  }

  static void save_state(const TickContext& tick, const HttpSpec& spec,
                         const std::optional<HttpState>& before, const Response& response,
                         const std::vector<std::string>& secrets) {
    // A validator that echoes a secret is not kept: nothing secret goes to the database.
    auto validator = [&](const char* name) -> std::optional<std::string> {
      auto v = response.header(name);
      if (v && (v->empty() || scrub(*v, secrets) != *v)) v.reset();
      return v;
    };
    HttpState next{spec.url, validator("etag"), validator("last-modified")};
    const bool same_url = before && before->url == spec.url;
    if (response.status == 304 && same_url) {
      // A 304 need not repeat the validators: the ones sent still hold.
      if (!next.etag) next.etag = before->etag;
      if (!next.last_modified) next.last_modified = before->last_modified;
    }
    if (!next.etag && !next.last_modified && !before) return;  // nothing to keep or clear
    if (same_url && next.etag == before->etag && next.last_modified == before->last_modified) {
      return;
    }
    try {
      HttpStateStore(tick.db).save(tick.region.id, next);
    } catch (const DbError& e) {
      // The request succeeded; the next tick is merely unconditional.
      spdlog::warn("region {}: http: could not save http_state ({})", tick.region.code, e.what());
    }
  }

  [[noreturn]] static void fail_transport(const TickContext& tick, const HttpSpec& spec,
                                          const Request& request, const Response& response,
                                          const std::vector<std::string>& secrets) {
    using Retry = HandlerError::Retry;
    if (response.refused_host) {
      throw HandlerError("redirected to host '" + scrub(*response.refused_host, secrets) +
                             "', which is not in HTTP_ALLOWED_HOSTS (not called)",
                         Retry::never);
    }
    if (response.bad_redirect) {
      throw HandlerError("redirected to a URL that is not http:// or https:// (not followed)",
                         Retry::never);
    }
    if (response.aborted) {
      // The runner words a timeout or a cancel of the attempt itself; this says what stopped.
      if (tick.stop.stop_requested() && !tick.cut_short()) {
        throw std::runtime_error("request aborted: tickd is shutting down");
      }
      throw std::runtime_error("request aborted");
    }
    if (response.timed_out) {
      const bool own = spec.timeout && request.timeout == *spec.timeout;
      throw HandlerError("timed out after " + std::to_string(request.timeout.count()) + " ms" +
                             (own ? " (the http column's timeout_ms)" : "") + ": " +
                             scrub(response.curl_error, secrets),
                         Retry::policy);
    }
    throw HandlerError("request failed: " + scrub(response.curl_error, secrets),
                       response.malformed ? Retry::never : Retry::policy);
  }

  SpecLimits limits_;
};

}  // namespace

std::unique_ptr<Handler> make_http_handler(const Config& config) {
  return std::make_unique<HttpHandler>(config);
}

}  // namespace tickd
