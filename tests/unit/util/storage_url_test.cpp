// STORAGE_URL's syntax: what each form parses to, and the words a refused one gets (config
// prefixes them with the variable or key, storage with "STORAGE_URL: ").

#include "tickd/util/storage_url.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

using tickd::storage::FileLocation;
using tickd::storage::Location;
using tickd::storage::parse_storage_url;
using tickd::storage::S3Location;
using tickd::storage::StorageUrlError;

S3Location s3(std::string_view url) {
  const auto parsed = parse_storage_url(url);
  if (const auto* e = std::get_if<StorageUrlError>(&parsed)) FAIL("refused: " << e->message);
  const auto* loc = std::get_if<S3Location>(&std::get<Location>(parsed));
  REQUIRE(loc != nullptr);
  return *loc;
}

std::string refusal(std::string_view url) {
  const auto parsed = parse_storage_url(url);
  if (const auto* e = std::get_if<StorageUrlError>(&parsed)) return e->message;
  FAIL("accepted " << url);
  return "";
}

}  // namespace

TEST_CASE("file:///abs/dir names a directory") {
  const auto parsed = parse_storage_url("file:///var/lib/tickd");
  REQUIRE(std::holds_alternative<Location>(parsed));
  CHECK(std::get<FileLocation>(std::get<Location>(parsed)).root == "/var/lib/tickd");
}

TEST_CASE("s3:// without an endpoint is AWS in its region, virtual-hosted") {
  const S3Location b = s3("s3://b");
  CHECK(b.bucket == "b");
  CHECK(b.region == "us-east-1");
  CHECK(b.endpoint == "https://s3.us-east-1.amazonaws.com");
  CHECK_FALSE(b.path_style);
  CHECK(s3("s3://media?region=eu-west-1").endpoint == "https://s3.eu-west-1.amazonaws.com");
}

TEST_CASE("s3:// with an endpoint is path-style unless told otherwise") {
  const S3Location b = s3("s3://b?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true");
  CHECK(b.endpoint == "http://127.0.0.1:9000");
  CHECK(b.path_style);
  CHECK(s3("s3://b?endpoint=http://127.0.0.1:9000/").endpoint == "http://127.0.0.1:9000");
  CHECK(s3("s3://b?endpoint=http://127.0.0.1:9000").path_style);
  CHECK_FALSE(s3("s3://b?endpoint=https://x.example&path_style=false").path_style);
  CHECK(s3("s3://b?endpoint=https%3A%2F%2Fx.example&region=auto").endpoint == "https://x.example");
}

TEST_CASE("STORAGE_URL: refused forms say what is wrong") {
  struct Row {
    std::string url, message;
  };
  for (const Row& r : {
           Row{"file://relative",
               "file:// needs an absolute directory, e.g. file:///var/lib/tickd/storage"},
           Row{"file://",
               "file:// needs an absolute directory, e.g. file:///var/lib/tickd/storage"},
           Row{"s3://", "s3:// needs a bucket name: s3://BUCKET?endpoint=URL&region=R"},
           Row{"s3://a/b", "the bucket name 'a/b' contains '/'"},
           Row{"s3://b?path_style=maybe", "path_style must be true or false"},
           Row{"s3://b?endpoint=ftp://x", "endpoint must start with http:// or https://"},
           Row{"s3://b?endpoint=http://x/path",
               "endpoint must be scheme://host[:port] without a path"},
           Row{"s3://b?region=", "region must not be empty"},
           Row{"s3://b?colour=blue",
               "unknown parameter 'colour' (known: endpoint, region, path_style)"},
           Row{"http://x",
               "expected file:///abs/dir or "
               "s3://BUCKET?endpoint=URL&region=R&path_style=true|false"},
       }) {
    CAPTURE(r.url);
    CHECK(refusal(r.url) == r.message);
  }
}
