// Both storage backends against the same cases: the file backend in a temp directory, the
// S3 backend against tests/storage/s3_peer.py (a SigV4-verifying S3 peer; URL in
// TICKD_TEST_S3_PEER) and against s3rver (TICKD_TEST_S3RVER, when npm could install it).
// run_storage_tests.py starts the peers and runs this binary.

#define DOCTEST_CONFIG_IMPLEMENT
#include "tickd/storage/storage.hpp"

#include <curl/curl.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

namespace fs = std::filesystem;
using tickd::storage::StorageError;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string p = (fs::temp_directory_path() / "tickd-storage-test-XXXXXX").string();
    REQUIRE(::mkdtemp(p.data()) != nullptr);
    path = p;
  }
  ~TempDir() { fs::remove_all(path); }
};

fs::path write_file(const fs::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// The peer's unsigned control endpoint.
std::string control(const std::string& base, const std::string& what,
                    const std::string& body = "") {
  CURL* c = curl_easy_init();
  std::string out;
  const std::string url = base + "/__control/" + what;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  if (!body.empty() || what != "log") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  }
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(d, s * n);
        return s * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  REQUIRE(curl_easy_perform(c) == CURLE_OK);
  curl_easy_cleanup(c);
  return out;
}

std::size_t count_in_log(const std::string& log, const std::string& method) {
  std::size_t n = 0;
  for (auto pos = log.find("\"method\": \"" + method + "\""); pos != std::string::npos;
       pos = log.find("\"method\": \"" + method + "\"", pos + 1)) {
    ++n;
  }
  return n;
}

// Settings for each backend under test; `peer` is the control URL when it has one.
struct Backend {
  std::string name;
  tickd::storage::Settings settings;
  std::string peer;
  bool pages = true;  // s3rver on Node 20 fails listings of several pages
};

tickd::storage::Settings fast(tickd::storage::Settings s) {
  s.backoff_base = std::chrono::milliseconds(10);
  s.connect_timeout = std::chrono::milliseconds(2000);
  return s;
}

std::vector<Backend> backends(const fs::path& root) {
  std::vector<Backend> out;
  tickd::storage::Settings file;
  file.url = "file://" + (root / "objects").string();
  out.push_back({"file", fast(file), "", true});
  if (const auto peer = env("TICKD_TEST_S3_PEER"); !peer.empty()) {
    tickd::storage::Settings s;
    s.url = "s3://tickd-test?endpoint=" + peer + "&region=us-east-1";
    s.access_key_id = "AKIDTICKDTEST";
    s.secret_access_key = "tickd/test+secret=key";
    s.multipart_threshold = 5 << 20;
    out.push_back({"s3-peer", fast(s), peer, true});
  }
  if (const auto s3rver = env("TICKD_TEST_S3RVER"); !s3rver.empty()) {
    tickd::storage::Settings s;
    s.url = "s3://tickd-test?endpoint=" + s3rver + "&region=us-east-1&path_style=true";
    s.access_key_id = "S3RVER";
    s.secret_access_key = "S3RVER";
    s.multipart_threshold = 5 << 20;
    out.push_back({"s3rver", fast(s), "", false});
  }
  return out;
}

const std::vector<std::string> kAwkwardKeys{
    "r/plain.txt",
    "r/with space.txt",
    "r/plus+equals=comma,.txt",
    "r/tilde~bang!quote'paren()star*.txt",
    "r/ünïcødé/日本語.txt",
    "r/percent%41and&amp;#hash?q.txt",
    "r/semi;colon:at@dollar$.txt",
};

}  // namespace

TEST_CASE("keys: what is refused, and why") {
  using tickd::storage::check_key;
  CHECK_FALSE(check_key("a/b/c.wav"));
  CHECK_FALSE(check_key("a/ü b+c.wav"));
  CHECK(check_key("/a/b").value_or("") == "object key '/a/b': starts with '/'");
  CHECK(check_key("a/../b").value_or("") == "object key 'a/../b': has a '..' segment");
  CHECK(check_key("..").value_or("") == "object key '..': has a '..' segment");
  CHECK(check_key("a/./b").value_or("") == "object key 'a/./b': has a '.' segment");
  CHECK(check_key("a//b").value_or("").find("empty segment") != std::string::npos);
  CHECK(check_key("a/").value_or("").find("empty segment") != std::string::npos);
  CHECK(check_key("").value_or("").find("empty") != std::string::npos);
  CHECK_FALSE(check_key(std::string(1024, 'k')));
  CHECK(check_key(std::string(1025, 'k')).value_or("").find("longer than 1024 bytes") !=
        std::string::npos);
  CHECK(check_key("a\nb").value_or("").find("control character") != std::string::npos);
}

TEST_CASE("public URLs: CDN base plus each segment percent-encoded (RFC 3986)") {
  TempDir dir;
  tickd::storage::Settings s;
  s.url = "file://" + dir.path.string();
  const auto storage = tickd::storage::open(s);
  CHECK(tickd::storage::public_url(*storage, "https://cdn.example.com/media/", "r/1/a b+c~é.wav") ==
        "https://cdn.example.com/media/r/1/a%20b%2Bc~%C3%A9.wav");
  CHECK(tickd::storage::public_url(*storage, "", "r/x y") ==
        "file://" + dir.path.string() + "/r/x%20y");
  tickd::storage::Settings s3;
  s3.url = "s3://media?endpoint=http://127.0.0.1:9/&region=auto";
  const auto bucket = tickd::storage::open(s3);
  CHECK(bucket->url("r/a b.wav") == "http://127.0.0.1:9/media/r/a%20b.wav");
  s3.url = "s3://media?region=eu-west-1";
  CHECK(tickd::storage::open(s3)->url("k") == "https://media.s3.eu-west-1.amazonaws.com/k");
}

TEST_CASE("every backend: put, head, get, list, delete, with awkward keys") {
  TempDir dir;
  for (const auto& b : backends(dir.path)) {
    CAPTURE(b.name);
    const auto storage = tickd::storage::open(b.settings);
    std::set<std::string> expected;
    for (std::size_t i = 0; i < kAwkwardKeys.size(); ++i) {
      const auto& key = kAwkwardKeys[i];
      CAPTURE(key);
      const std::string content = "content of " + key + " " + std::to_string(i);
      const auto src = write_file(dir.path / ("src" + std::to_string(i)), content);
      const auto info = storage->put_file(key, src, "text/plain");
      CHECK(info.size == content.size());
      CHECK(info.etag == tickd::storage::md5_hex_of_file(src));
      const auto head = storage->head(key);
      REQUIRE(head.has_value());
      CHECK(head->size == content.size());
      CHECK(head->etag == info.etag);
      const auto out = dir.path / ("out" + std::to_string(i));
      storage->get_file(key, out);
      CHECK(read_file(out) == content);
      expected.insert(key);
    }
    write_file(dir.path / "other", "x");
    storage->put_file("rr/not-in-prefix.txt", dir.path / "other", "");
    std::set<std::string> listed;
    for (const auto& o : storage->list("r/")) listed.insert(o.key);
    CHECK(listed == expected);
    for (const auto& key : kAwkwardKeys) storage->remove(key);
    CHECK(storage->list("r/").empty());
    CHECK_FALSE(storage->head("r/plain.txt").has_value());
    storage->remove("r/plain.txt");  // absent: not an error
    try {
      storage->get_file("r/absent.txt", dir.path / "absent");
      FAIL("expected a 404");
    } catch (const StorageError& e) {
      CHECK(e.status() == 404);
      CHECK(e.permanent());
      CHECK(std::string(e.what()).find("r/absent.txt") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(dir.path / "absent"));
  }
}

TEST_CASE("every backend: a listing of several pages is read to the end") {
  TempDir dir;
  for (const auto& b : backends(dir.path)) {
    if (!b.pages) continue;
    CAPTURE(b.name);
    const auto storage = tickd::storage::open(b.settings);
    const auto src = write_file(dir.path / "small", "s");
    std::set<std::string> expected;
    // The peer answers pages of 3 keys (--page-size 3): 11 keys are 4 pages.
    for (int i = 0; i < 11; ++i) {
      const std::string key = "paged/k" + std::to_string(100 + i) + (i % 2 ? " +~é" : "");
      storage->put_file(key, src, "");
      expected.insert(key);
    }
    std::set<std::string> listed;
    for (const auto& o : storage->list("paged/")) listed.insert(o.key);
    CHECK(listed == expected);
    if (!b.peer.empty()) {
      const auto log = control(b.peer, "log");
      CHECK(log.find("continuation-token=") != std::string::npos);
    }
  }
}

TEST_CASE("every backend: a file above the multipart threshold goes up in parts, intact") {
  TempDir dir;
  for (const auto& b : backends(dir.path)) {
    CAPTURE(b.name);
    const auto storage = tickd::storage::open(b.settings);
    const auto content = random_bytes(12u << 20, 7);  // threshold 5 MiB: 3 parts
    const auto src = write_file(dir.path / "big", content);
    if (!b.peer.empty()) control(b.peer, "reset");
    const auto info = storage->put_file("big/file.bin", src, "application/octet-stream");
    CHECK(info.size == content.size());
    CAPTURE(info.etag);
    if (b.name == "s3-peer") CHECK(info.etag.ends_with("-3"));  // s3rver gives a plain MD5
    storage->get_file("big/file.bin", dir.path / "big.out");
    CHECK(tickd::storage::md5_hex_of_file(dir.path / "big.out") ==
          tickd::storage::md5_hex_of_file(src));
    if (!b.peer.empty()) {
      const auto log = control(b.peer, "log");
      CHECK(count_in_log(log, "PUT") == 3);
      CHECK(count_in_log(log, "POST") == 2);  // create, complete
    }
    storage->remove("big/file.bin");
  }
}

TEST_CASE("S3: 500s are retried until the peer recovers; a 403 is not retried") {
  const auto peer = env("TICKD_TEST_S3_PEER");
  if (peer.empty()) return;
  TempDir dir;
  auto b = backends(dir.path).at(1);
  const auto storage = tickd::storage::open(b.settings);
  const auto src = write_file(dir.path / "f", "retry me");
  control(peer, "reset");
  control(peer, "fail", R"({"method": "PUT", "status": 500, "count": 2})");
  CHECK(storage->put_file("retry/f.txt", src, "").size == 8);
  CHECK(count_in_log(control(peer, "log"), "PUT") == 3);

  control(peer, "reset");
  control(peer, "fail", R"({"method": "PUT", "status": 403, "count": 5})");
  try {
    storage->put_file("retry/g.txt", src, "");
    FAIL("expected a 403");
  } catch (const StorageError& e) {
    CHECK(e.status() == 403);
    CHECK(e.permanent());
    CHECK(std::string(e.what()).find("storage put 'retry/g.txt': HTTP 403") == 0);
  }
  CHECK(count_in_log(control(peer, "log"), "PUT") == 1);

  control(peer, "reset");
  control(peer, "fail", R"({"method": "GET", "status": 503, "count": 100})");
  try {
    storage->list("retry/");
    FAIL("expected a 503");
  } catch (const StorageError& e) {
    CHECK(e.status() == 503);
    CHECK_FALSE(e.permanent());
  }
  CHECK(count_in_log(control(peer, "log"), "GET") == b.settings.max_attempts);
  control(peer, "reset");
}

TEST_CASE("S3: a wrong secret is refused by the verifying peer, and the secret is never shown") {
  const auto peer = env("TICKD_TEST_S3_PEER");
  if (peer.empty()) return;
  TempDir dir;
  auto b = backends(dir.path).at(1);
  b.settings.secret_access_key = "not-the-secret-XYZZY";
  const auto storage = tickd::storage::open(b.settings);
  const auto src = write_file(dir.path / "f", "x");
  try {
    storage->put_file("auth/f.txt", src, "");
    FAIL("expected a 403");
  } catch (const StorageError& e) {
    CHECK(e.status() == 403);
    const std::string what = e.what();
    CHECK(what.find("SignatureDoesNotMatch") != std::string::npos);
    CHECK(what.find("XYZZY") == std::string::npos);
  }
}

TEST_CASE("S3: storage that cannot be reached fails with status 0 after the retries") {
  TempDir dir;
  tickd::storage::Settings s;
  s.url = "s3://b?endpoint=http://127.0.0.1:1&region=us-east-1";
  s.access_key_id = "k";
  s.secret_access_key = "s";
  s.max_attempts = 2;
  const auto storage = tickd::storage::open(fast(s));
  const auto src = write_file(dir.path / "f", "x");
  try {
    storage->put_file("a/b", src, "");
    FAIL("expected an error");
  } catch (const StorageError& e) {
    CHECK(e.status() == 0);
    CHECK_FALSE(e.permanent());
    CHECK(std::string(e.what()).find("after 2 attempt(s)") != std::string::npos);
  }
}

TEST_CASE("every backend: a missing local file is a permanent error naming the path") {
  TempDir dir;
  for (const auto& b : backends(dir.path)) {
    CAPTURE(b.name);
    const auto storage = tickd::storage::open(b.settings);
    try {
      storage->put_file("a/b", dir.path / "does-not-exist.wav", "");
      FAIL("expected an error");
    } catch (const StorageError& e) {
      CHECK(e.permanent());
      CHECK(std::string(e.what()).find((dir.path / "does-not-exist.wav").string()) !=
            std::string::npos);
    }
  }
}

TEST_CASE("file backend: writes leave no temp files and the etag is the content's MD5") {
  TempDir dir;
  tickd::storage::Settings s;
  s.url = "file://" + (dir.path / "root").string();
  const auto storage = tickd::storage::open(s);
  const auto src = write_file(dir.path / "f", "hello");
  CHECK(storage->put_file("x/y/z.txt", src, "").etag == "5d41402abc4b2a76b9719d911017c592");
  CHECK(storage->put_file("x/y/z.txt", src, "").etag == "5d41402abc4b2a76b9719d911017c592");
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path / "root"))
    files += e.is_regular_file();
  CHECK(files == 1);
}

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  doctest::Context context(argc, argv);
  return context.run();
}
