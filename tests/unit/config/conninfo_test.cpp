// with_connection_defaults: tickd's libpq defaults are appended where the user set none,
// in both libpq forms, multi-host URIs included; the user's own settings pass through.

#include <doctest/doctest.h>

#include <string>

#include "tickd/db/database.hpp"

namespace {
const std::string kAll =
    "application_name=tickd&connect_timeout=5&keepalives=1&keepalives_idle=5&"
    "keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000";
const std::string kAllPairs =
    "application_name=tickd connect_timeout=5 keepalives=1 keepalives_idle=5 "
    "keepalives_interval=2 keepalives_count=3 tcp_user_timeout=10000";
}  // namespace

TEST_CASE("with_connection_defaults appends to a URI's query") {
  struct Row {
    std::string url, expected;
  };
  for (const Row& r : {
           Row{"postgres://u@db/tickd", "postgres://u@db/tickd?" + kAll},
           Row{"postgresql://u:pw@db:5432/tickd?sslmode=disable",
               "postgresql://u:pw@db:5432/tickd?sslmode=disable&" + kAll},
           // Multi-host (HA: Patroni, pg_auto_failover, managed services): the host list is
           // not a parameter, target_session_attrs passes through.
           Row{"postgresql://h1:5432,h2:5433/tickd?target_session_attrs=read-write",
               "postgresql://h1:5432,h2:5433/tickd?target_session_attrs=read-write&" + kAll},
           Row{"postgresql://u:pw@h1:5432,h2:5433/tickd",
               "postgresql://u:pw@h1:5432,h2:5433/tickd?" + kAll},
           Row{"postgresql://h1,h2?target_session_attrs=primary",
               "postgresql://h1,h2?target_session_attrs=primary&" + kAll},
           Row{"postgresql://[::1]:5432,[::2]:5433/tickd?target_session_attrs=read-write",
               "postgresql://[::1]:5432,[::2]:5433/tickd?target_session_attrs=read-write&" + kAll},
           // libpq accepts a query that ends in '?' or '&': no empty parameter may follow.
           Row{"postgresql://h1,h2/tickd?", "postgresql://h1,h2/tickd?" + kAll},
           Row{"postgresql://h1,h2/tickd?sslmode=disable&",
               "postgresql://h1,h2/tickd?sslmode=disable&" + kAll},
       }) {
    CAPTURE(r.url);
    CHECK(tickd::with_connection_defaults(r.url) == r.expected);
  }
}

TEST_CASE("with_connection_defaults keeps what a URI sets, and only parameters count") {
  CHECK(tickd::with_connection_defaults(
            "postgresql://h1,h2/d?target_session_attrs=read-write&application_name=x&"
            "connect_timeout=2&keepalives=0&keepalives_idle=9&keepalives_interval=9&"
            "keepalives_count=9&tcp_user_timeout=1") ==
        "postgresql://h1,h2/d?target_session_attrs=read-write&application_name=x&"
        "connect_timeout=2&keepalives=0&keepalives_idle=9&keepalives_interval=9&"
        "keepalives_count=9&tcp_user_timeout=1");
  // keepalives_idle is set, keepalives is not (one is not a prefix match of the other).
  CHECK(tickd::with_connection_defaults("postgres://h/d?keepalives_idle=9") ==
        "postgres://h/d?keepalives_idle=9&application_name=tickd&connect_timeout=5&"
        "keepalives=1&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000");
  // "connect_timeout=" inside another parameter's value sets nothing.
  CHECK(tickd::with_connection_defaults("postgres://h/d?options=-cconnect_timeout=1") ==
        "postgres://h/d?options=-cconnect_timeout=1&" + kAll);
  // A percent-encoded name is the name.
  CHECK(tickd::with_connection_defaults("postgres://h/d?application%5Fname=x") ==
        "postgres://h/d?application%5Fname=x&connect_timeout=5&keepalives=1&keepalives_idle=5&"
        "keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000");
}

TEST_CASE("with_connection_defaults appends to key=value strings") {
  CHECK(tickd::with_connection_defaults(
            "host=h1,h2 port=5432,5433 target_session_attrs=read-write") ==
        "host=h1,h2 port=5432,5433 target_session_attrs=read-write " + kAllPairs);
  CHECK(tickd::with_connection_defaults("") == kAllPairs);
  CHECK(tickd::with_connection_defaults("host=h ") == "host=h " + kAllPairs);
  // Blanks around '=' still name the key: the user's keepalives = 0 is not overridden.
  CHECK(tickd::with_connection_defaults("host=h keepalives = 0 connect_timeout =2") ==
        "host=h keepalives = 0 connect_timeout =2 application_name=tickd keepalives_idle=5 "
        "keepalives_interval=2 keepalives_count=3 tcp_user_timeout=10000");
  // A value that reads "key=..." names no key.
  CHECK(tickd::with_connection_defaults("host=h options='-c keepalives_idle=9 -c x=\\'y\\''") ==
        "host=h options='-c keepalives_idle=9 -c x=\\'y\\'' " + kAllPairs);
}
