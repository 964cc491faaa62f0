// One HTTP exchange over a libcurl easy handle. Redirects are followed here rather than by
// libcurl (CURLOPT_FOLLOWLOCATION) because each hop's host must be checked against
// HTTP_ALLOWED_HOSTS before it is connected to, and libcurl has no hook between hops.

#include "http_request.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "tickd/handlers/http_spec.hpp"

namespace tickd::http_handler {
namespace {

std::once_flag curl_init_once;

struct Transfer {
  const Request* request;
  Response* response;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return std::string(s);
}

size_t on_body(char* data, size_t size, size_t nmemb, void* userdata) {
  auto& t = *static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  t.response->bytes += n;
  auto& head = t.response->body_head;
  if (head.size() < t.request->keep_body_bytes) {
    head.append(data, std::min(n, t.request->keep_body_bytes - head.size()));
  }
  return n;  // the rest is read and dropped: only its size matters
}

size_t on_header(char* data, size_t size, size_t nmemb, void* userdata) {
  auto& t = *static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  const std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response (an interim 1xx, or the next hop): its headers replace the last ones.
    t.response->headers.clear();
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
    t.response->headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return n;
}

int on_progress(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& t = *static_cast<Transfer*>(userdata);
  if (t.request->cancelled && t.request->cancelled()) {
    t.response->aborted = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

using Easy = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using Headers = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

Headers header_list(const std::vector<std::pair<std::string, std::string>>& headers, bool body) {
  curl_slist* list = nullptr;
  auto append = [&list](const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (next == nullptr) {
      curl_slist_free_all(list);
      throw std::runtime_error("out of memory building the request headers");
    }
    list = next;
  };
  bool expect = false;
  for (const auto& [name, value] : headers) {
    // "Name;" is libcurl's spelling of a header sent with an empty value ("Name:" drops it).
    append(value.empty() ? name + ";" : name + ": " + value);
    expect = expect || lower(name) == "expect";
  }
  // No "Expect: 100-continue" round trip before a body: the peer answers the body anyway.
  if (body && !expect) append("Expect:");
  return Headers(list, &curl_slist_free_all);
}

void set_method(CURL* c, const std::string& method, const std::optional<std::string>& body) {
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, nullptr);
  curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  if (method == "HEAD" && !body) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    return;
  }
  // A POST, PUT or PATCH without a body still says so (Content-Length: 0): some servers
  // wait for a body, or refuse the request, without it.
  static const std::string kEmpty;
  const bool empty_body = !body && (method == "POST" || method == "PUT" || method == "PATCH");
  const std::string* sent = body ? &*body : empty_body ? &kEmpty : nullptr;
  if (sent != nullptr) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(sent->size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, sent->data());
  }
  if (method != (sent != nullptr ? "POST" : "GET")) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

Response perform(const Request& request) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Easy easy(curl_easy_init(), &curl_easy_cleanup);
  if (!easy) throw std::runtime_error("libcurl: cannot make an easy handle");
  CURL* c = easy.get();
  Response response;
  Transfer transfer{&request, &response};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // worker threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "tickd");
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);

  const auto deadline = std::chrono::steady_clock::now() + request.timeout;
  std::string url = request.url;
  std::string method = request.method;
  std::optional<std::string> body = request.body;
  auto headers = request.headers;
  auto current = url_host(url);
  for (;;) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      response.curl_code = CURLE_OPERATION_TIMEDOUT;
      response.curl_error = curl_easy_strerror(CURLE_OPERATION_TIMEDOUT);
      response.timed_out = true;
      return response;
    }
    const Headers list = header_list(headers, body.has_value());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    set_method(c, method, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min(left, request.connect_timeout).count()));
    response.headers.clear();
    response.body_head.clear();
    errbuf[0] = '\0';
    const CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      response.curl_code = rc;
      response.curl_error = std::string(curl_easy_strerror(rc)) +
                            (errbuf[0] != '\0' ? std::string(" (") + errbuf + ")" : "");
      response.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
      response.malformed = rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL;
      return response;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    if (!is_redirect(response.status) || response.redirects >= request.max_redirects) {
      return response;
    }
    char* location = nullptr;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
    if (location == nullptr) return response;  // a 3xx without a Location is the answer
    const std::string next(location);
    const auto next_host = url_host(next);
    if (!next_host) {
      response.bad_redirect = true;
      return response;
    }
    if (request.host_allowed && !request.host_allowed(next_host->host, next_host->authority)) {
      response.refused_host = next_host->host;
      return response;
    }
    // As browsers and libcurl do: 303 turns into a GET, and so does a POST answered with
    // 301 or 302; 307 and 308 repeat the request as it was.
    if ((response.status == 303 && method != "HEAD") ||
        ((response.status == 301 || response.status == 302) && method == "POST")) {
      method = "GET";
      body.reset();
    }
    if (!current || current->authority != next_host->authority) {
      // Credentials meant for one host are not handed to another (libcurl's rule too).
      std::erase_if(headers, [](const auto& h) {
        const auto name = lower(h.first);
        return name == "authorization" || name == "cookie" || name == "proxy-authorization";
      });
    }
    current = next_host;
    url = next;
    ++response.redirects;
  }
}

}  // namespace tickd::http_handler
