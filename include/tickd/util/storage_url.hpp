#pragma once
// STORAGE_URL's syntax, as a pure function: config checks the URL at start and storage opens
// what it names, with this one parser (src/util, so config needs nothing of storage).
//
//   file:///abs/dir                                         a directory
//   s3://BUCKET?endpoint=URL&region=R&path_style=true|false any S3-compatible store
//
// Query values are percent-decoded. Without an endpoint the location is AWS
// (https://s3.REGION.amazonaws.com, virtual-hosted); with one, path_style defaults to true.

#include <filesystem>
#include <string>
#include <string_view>
#include <variant>

namespace tickd::storage {

struct FileLocation {
  std::filesystem::path root;  // absolute
};

struct S3Location {
  std::string bucket;
  std::string endpoint;  // scheme://host[:port], no trailing slash
  std::string region = "us-east-1";
  bool path_style = false;
};

using Location = std::variant<FileLocation, S3Location>;

// What is wrong with a STORAGE_URL, e.g. "path_style must be true or false". The URL itself
// is not repeated: the caller says where it came from.
struct StorageUrlError {
  std::string message;
};

std::variant<Location, StorageUrlError> parse_storage_url(std::string_view url);

}  // namespace tickd::storage
