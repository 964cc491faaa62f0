#pragma once
// Internal to src/storage: the two backends and the helpers they share.

#include <openssl/evp.h>

#include <string>
#include <string_view>
#include <variant>

#include "tickd/metrics.hpp"
#include "tickd/storage.hpp"

namespace tickd::storage::detail {

// s3://BUCKET?endpoint=URL&region=R&path_style=true|false
struct S3Location {
  std::string bucket;
  std::string endpoint;  // scheme://host[:port], no trailing slash
  std::string region = "us-east-1";
  bool path_style = false;
};
std::variant<S3Location, std::string> parse_s3_url(std::string_view url);

std::unique_ptr<Storage> open_file_storage(const std::filesystem::path& root, Metrics* metrics);
std::unique_ptr<Storage> open_s3_storage(const S3Location& where, const Settings& settings,
                                         Metrics* metrics);

std::string finish_hex(EVP_MD_CTX* ctx);  // lower-case hex of the digest
std::string sha256_hex(std::string_view data);

}  // namespace tickd::storage::detail
