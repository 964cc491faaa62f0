#pragma once
// Internal to src/storage: the two backends and the helpers they share.

#include <openssl/evp.h>

#include <string>
#include <string_view>

#include "tickd/metrics/metrics.hpp"
#include "tickd/storage/storage.hpp"
#include "tickd/util/storage_url.hpp"

namespace tickd::storage::detail {

std::unique_ptr<Storage> open_file_storage(const std::filesystem::path& root, Metrics* metrics);
std::unique_ptr<Storage> open_s3_storage(const S3Location& where, const Settings& settings,
                                         Metrics* metrics);

std::string finish_hex(EVP_MD_CTX* ctx);  // lower-case hex of the digest
std::string sha256_hex(std::string_view data);

}  // namespace tickd::storage::detail
