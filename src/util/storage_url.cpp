// STORAGE_URL parsing. Kept free of I/O and of the storage backends so that config can
// refuse a bad URL at start with the same words storage would use.

#include "tickd/util/storage_url.hpp"

#include "tickd/util/percent.hpp"

namespace tickd::storage {
namespace {

std::variant<Location, StorageUrlError> parse_s3(std::string_view url) {
  const auto fail = [](std::string message) { return StorageUrlError{std::move(message)}; };
  url.remove_prefix(5);  // "s3://"
  const auto q = url.find('?');
  S3Location loc;
  loc.bucket = std::string(url.substr(0, q));
  if (loc.bucket.empty())
    return fail("s3:// needs a bucket name: s3://BUCKET?endpoint=URL&region=R");
  if (loc.bucket.find('/') != std::string::npos) {
    return fail("the bucket name '" + loc.bucket + "' contains '/'");
  }
  bool path_style_set = false;
  if (q != std::string_view::npos) {
    std::string_view rest = url.substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const auto pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      const auto eq = pair.find('=');
      const std::string name(pair.substr(0, eq));
      const std::string value =
          eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
      if (name == "endpoint") {
        if (!value.starts_with("http://") && !value.starts_with("https://")) {
          return fail("endpoint must start with http:// or https://");
        }
        loc.endpoint = value;
        while (loc.endpoint.size() > 8 && loc.endpoint.back() == '/') loc.endpoint.pop_back();
        if (loc.endpoint.find('/', loc.endpoint.find("://") + 3) != std::string::npos) {
          return fail("endpoint must be scheme://host[:port] without a path");
        }
      } else if (name == "region") {
        if (value.empty()) return fail("region must not be empty");
        loc.region = value;
      } else if (name == "path_style") {
        if (value != "true" && value != "false") return fail("path_style must be true or false");
        loc.path_style = value == "true";
        path_style_set = true;
      } else {
        return fail("unknown parameter '" + name + "' (known: endpoint, region, path_style)");
      }
    }
  }
  if (loc.endpoint.empty()) {
    loc.endpoint = "https://s3." + loc.region + ".amazonaws.com";
  } else if (!path_style_set) {
    loc.path_style = true;  // a custom endpoint (MinIO, R2, a test peer) usually has no bucket DNS
  }
  return loc;
}

}  // namespace

std::variant<Location, StorageUrlError> parse_storage_url(std::string_view url) {
  if (url.starts_with("file://")) {
    const auto path = url.substr(7);
    if (path.empty() || path.front() != '/') {
      return StorageUrlError{
          "file:// needs an absolute directory, e.g. file:///var/lib/tickd/storage"};
    }
    return FileLocation{std::filesystem::path(path)};
  }
  if (url.starts_with("s3://")) return parse_s3(url);
  return StorageUrlError{
      "expected file:///abs/dir or s3://BUCKET?endpoint=URL&region=R&path_style=true|false"};
}

}  // namespace tickd::storage
