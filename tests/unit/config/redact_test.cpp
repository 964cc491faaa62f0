// The password of a connection string never reaches a log line.

#include <doctest/doctest.h>

#include <string>

#include "tickd/config/config.hpp"
#include "tickd/config/log.hpp"

TEST_CASE("redact_database_url hides the password in every libpq form") {
  struct Row {
    std::string url, redacted;
  };
  for (const Row& r : {
           // URI forms
           Row{"postgres://user:pw@host/db", "postgres://user:***@host/db"},
           Row{"postgresql://user:pw@host:5432/db", "postgresql://user:***@host:5432/db"},
           Row{"postgres://user@host/db", "postgres://user@host/db"},
           Row{"postgres://host/db", "postgres://host/db"},
           Row{"postgres://user:@host/db", "postgres://user:***@host/db"},
           Row{"postgres://user:p%40ss@host/db", "postgres://user:***@host/db"},
           Row{"postgres://user:p@ss@host/db", "postgres://user:***@host/db"},
           Row{"postgres://user:pw@h1:5432,h2:5433/db", "postgres://user:***@h1:5432,h2:5433/db"},
           // multi-host URIs (HA setups), with a query
           Row{"postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write",
               "postgresql://u:***@h1:5432,h2:5433/db?target_session_attrs=read-write"},
           Row{"postgresql://u@h1:5432,h2:5433/db?target_session_attrs=read-write&password=x",
               "postgresql://u@h1:5432,h2:5433/db?target_session_attrs=read-write&password=***"},
           Row{"postgresql://h1:5432,h2:5433/db?target_session_attrs=read-write",
               "postgresql://h1:5432,h2:5433/db?target_session_attrs=read-write"},
           Row{"postgresql://u:p@ss@h1,h2/db?target_session_attrs=primary",
               "postgresql://u:***@h1,h2/db?target_session_attrs=primary"},
           Row{"postgresql://u:pw@[::1]:5432,[::2]:5433/db",
               "postgresql://u:***@[::1]:5432,[::2]:5433/db"},
           Row{"postgresql://h1,h2/db?options=a%40b&password=x",
               "postgresql://h1,h2/db?options=a%40b&password=***"},
           Row{"postgres://host/db?user=u&password=x", "postgres://host/db?user=u&password=***"},
           Row{"postgres://host/db?password=x&sslmode=disable",
               "postgres://host/db?password=***&sslmode=disable"},
           Row{"postgres://u:a@host/db?password=b", "postgres://u:***@host/db?password=***"},
           Row{"postgres://host/db?sslpassword=k", "postgres://host/db?sslpassword=***"},
           Row{"postgres://host/db?options=-csearch_path%3Dx",
               "postgres://host/db?options=-csearch_path%3Dx"},
           // key=value forms
           Row{"host=h password=secret dbname=d", "host=h password=*** dbname=d"},
           Row{"password=secret", "password=***"},
           Row{"host=h password = 'with space' user=u", "host=h password = *** user=u"},
           Row{"password='it\\'s' user=u", "password=*** user=u"},
           Row{"password=back\\ slash user=u", "password=*** user=u"},
           Row{"PASSWORD=x", "PASSWORD=***"},
           Row{"host=h user=u", "host=h user=u"},
           Row{"host=h sslpassword=k", "host=h sslpassword=***"},
           Row{"host=h1,h2 port=5432,5433 password=s target_session_attrs=read-write",
               "host=h1,h2 port=5432,5433 password=*** target_session_attrs=read-write"},
           Row{"host=h password", "host=h password"},
           Row{"", ""},
       }) {
    CAPTURE(r.url);
    CHECK(tickd::redact_database_url(r.url) == r.redacted);
  }
}

TEST_CASE("scrub_password removes a password that an error message echoes") {
  struct Row {
    std::string text, url, scrubbed;
  };
  for (const Row& r : {
           Row{"bad: s3cret here", "postgres://u:s3cret@h/d", "bad: *** here"},
           Row{"decoded p@ss and raw p%40ss", "postgres://u:p%40ss@h/d", "decoded *** and raw ***"},
           Row{"quoted 'with space'", "password='with space'", "quoted ***"},
           Row{"nothing secret", "postgres://u@h/d", "nothing secret"},
           Row{"short pw stays: a b", "postgres://u:a@h/d", "short pw stays: a b"},
       }) {
    CAPTURE(r.text);
    CHECK(tickd::scrub_password(r.text, r.url) == r.scrubbed);
  }
}

TEST_CASE("secret_values hides what libpq may quote of a password it parsed otherwise") {
  // Issue 12's four messages, each with the URL it came from; every one is clean.
  struct Row {
    std::string url, message, secret_part;
  };
  for (const Row& r : {
           Row{"postgres://u:p@ssSECRETTAIL@127.0.0.1/db",
               "could not translate host name \"ssSECRETTAIL@127.0.0.1\" to address", "SECRETTAIL"},
           Row{"postgres://u:pa%ssword%@127.0.0.1/db",
               "invalid percent-encoded token: \"ssword%@127\"", "ssword"},
           // A raw '%' and '@' together: libpq's password ends at the first '@'.
           Row{"postgres://u:pa%ss@wo%rd%@127.0.0.1/db", "invalid percent-encoded token: \"pa%ss\"",
               "pa%ss"},
           Row{"postgres://u:pa%ss@wo%rd%@127.0.0.1/db",
               "invalid percent-encoded token: \"wo%rd%@127.0.0.1\"", "wo%rd%"},
           Row{"postgres://u:a@b%zz@127.0.0.1/db",
               "invalid percent-encoded token: \"b%zz@127.0.0.1\"", "b%zz"},
           Row{"postgres://u:abc?SECRET4@127.0.0.1/db",
               "bad URL postgres://u:abc?SECRET4@127.0.0.1/db", "SECRET4"},
           Row{"password='it''s SECRET7' host=127.0.0.1", "password=***'s SECRET7' rejected",
               "SECRET7"},
       }) {
    CAPTURE(r.url);
    tickd::Config config;
    config.database_url = r.url;
    const auto cleaned = tickd::log::clean_message(r.message, tickd::secret_values(config), true);
    CAPTURE(cleaned);
    CHECK(cleaned.find(r.secret_part) == std::string::npos);
  }
  tickd::Config keys;
  keys.storage_secret_access_key = "AKIA-SECRET-1";
  keys.publish_source_token = "tok-SECRET-2";
  keys.api_token = "api-SECRET-3";
  keys.storage_access_key_id = "ab";  // too short to hide: it would garble every message
  const auto secrets = tickd::secret_values(keys);
  CHECK(secrets == std::vector<std::string>{"AKIA-SECRET-1", "api-SECRET-3", "tok-SECRET-2"});
}
