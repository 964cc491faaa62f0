// Issue 12, item 8: PUBLISH_SOURCE_TOKEN goes only to PUBLISH_SOURCE_HOSTS, over https unless
// an item allows plain http.
#include "tickd/handlers/source_token.hpp"

#include <doctest/doctest.h>

using tickd::handlers::source_token_allowed;

TEST_CASE("the token goes to a listed host over https only") {
  const std::vector<std::string> hosts{"img.example.com", "cdn.example.com:8443"};
  CHECK(source_token_allowed("https://img.example.com/a.jpg", hosts));
  CHECK(source_token_allowed("https://IMG.example.com:443/a.jpg", hosts));  // any port
  CHECK(source_token_allowed("https://cdn.example.com:8443/a.jpg", hosts));
  CHECK_FALSE(source_token_allowed("https://cdn.example.com/a.jpg", hosts));  // port 443
  CHECK_FALSE(source_token_allowed("http://img.example.com/a.jpg", hosts));   // plain http
  CHECK_FALSE(source_token_allowed("https://evil.example.org/a.jpg", hosts));
  CHECK_FALSE(source_token_allowed("https://img.example.com.evil.org/a.jpg", hosts));
  // User info naming a listed host does not make the real host listed.
  CHECK_FALSE(source_token_allowed("https://img.example.com@evil.org/a.jpg", hosts));
  CHECK_FALSE(source_token_allowed("ftp://img.example.com/a.jpg", hosts));
  CHECK_FALSE(source_token_allowed("img.example.com/a.jpg", hosts));
}

TEST_CASE("plain http only for an item that says http://") {
  const std::vector<std::string> hosts{"http://127.0.0.1:8080", "http://[::1]"};
  CHECK(source_token_allowed("http://127.0.0.1:8080/a.jpg", hosts));
  CHECK(source_token_allowed("https://127.0.0.1:8080/a.jpg", hosts));  // https is always fine
  CHECK_FALSE(source_token_allowed("http://127.0.0.1:8081/a.jpg", hosts));
  CHECK(source_token_allowed("http://[::1]:9000/a.jpg", hosts));
}

TEST_CASE("no list: nobody gets the token") {
  CHECK_FALSE(source_token_allowed("https://img.example.com/a.jpg", {}));
  CHECK_FALSE(source_token_allowed("https://img.example.com/a.jpg", {"http://"}));
}
