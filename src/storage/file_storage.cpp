// The file:// backend: one file per object under a root directory. Writes go to a temp
// file in the target directory and are renamed into place, so readers never see half an
// object. The etag (MD5 hex, as S3 gives for a single-part object) is computed while
// copying and kept in an extended attribute when the file system has them.

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include "backends.hpp"

namespace tickd::storage::detail {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEtagXattr = "user.tickd.md5";
constexpr std::string_view kTempPrefix = ".tickd-tmp-";

class Fd final {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string temp_name() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(kTempPrefix);
  for (int i = 0; i < 12; ++i) s += kAlnum[rng() % 36];
  return s;
}

class FileStorage final : public Storage {
 public:
  FileStorage(fs::path root, Metrics* metrics) : root_(std::move(root)), metrics_(metrics) {}

  ObjectInfo put_file(const std::string& key, const fs::path& path, std::string_view) override {
    const auto target = object_path("put", key);
    try {
      ObjectInfo info = copy_atomically("put", key, path, target, true);
      count(StorageOp::put, true, info.size);
      return info;
    } catch (...) {
      count(StorageOp::put, false);
      throw;
    }
  }

  void get_file(const std::string& key, const fs::path& path) override {
    const auto source = object_path("get", key);
    try {
      struct stat st {};
      if (::stat(source.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        throw StorageError("storage get '" + key + "': no such object (404)", 404, true);
      }
      const auto info = copy_atomically("get", key, source, path, false);
      count(StorageOp::get, true, info.size);
    } catch (...) {
      count(StorageOp::get, false);
      throw;
    }
  }

  std::optional<ObjectInfo> head(const std::string& key) override {
    const auto p = object_path("head", key);
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      count(StorageOp::head, true);
      return std::nullopt;
    }
    ObjectInfo info{key, static_cast<std::uint64_t>(st.st_size), etag_of(p)};
    count(StorageOp::head, true);
    return info;
  }

  std::vector<ObjectInfo> list(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    // Walk only the directory the prefix names, not the whole root.
    const auto slash = prefix.rfind('/');
    const fs::path start = slash == std::string::npos ? root_ : root_ / prefix.substr(0, slash);
    std::error_code ec;
    if (!fs::is_directory(start, ec)) {
      count(StorageOp::list, true);
      return out;
    }
    try {
      for (auto it = fs::recursive_directory_iterator(start);
           it != fs::recursive_directory_iterator(); ++it) {
        if (!it->is_regular_file()) continue;
        if (it->path().filename().string().starts_with(kTempPrefix)) continue;
        std::string key = it->path().lexically_relative(root_).generic_string();
        if (!key.starts_with(prefix)) continue;
        struct stat st {};
        if (::stat(it->path().c_str(), &st) != 0) continue;  // removed meanwhile
        out.push_back(
            {std::move(key), static_cast<std::uint64_t>(st.st_size), etag_of(it->path())});
      }
    } catch (const fs::filesystem_error& e) {
      count(StorageOp::list, false);
      throw StorageError("storage list '" + prefix + "': " + e.code().message(), 0, false);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    count(StorageOp::list, true);
    return out;
  }

  void remove(const std::string& key) override {
    const auto p = object_path("delete", key);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      count(StorageOp::remove, false);
      throw StorageError("storage delete '" + key + "': " + std::strerror(errno), 0, false);
    }
    count(StorageOp::remove, true);
  }

  std::string url(const std::string& key) const override {
    return "file://" + percent_encode((root_ / key).generic_string(), true);
  }

 private:
  fs::path object_path(const char* op, const std::string& key) const {
    if (auto problem = check_key(key)) {
      throw StorageError(std::string("storage ") + op + ": " + *problem, 400, true);
    }
    return root_ / key;
  }

  // `bytes`: what a put wrote or a get read.
  void count(StorageOp op, bool ok, std::uint64_t bytes = 0) {
    if (metrics_ == nullptr) return;
    metrics_->count_storage_request(op, ok);
    if (bytes > 0) {
      metrics_->count_storage_bytes(op == StorageOp::put ? Transfer::upload : Transfer::download,
                                    bytes);
    }
  }

  // Copies `from` to a temp file next to `to`, then renames it over `to`. Computes the MD5
  // while copying and, for objects, keeps it as an extended attribute.
  ObjectInfo copy_atomically(const char* op, const std::string& key, const fs::path& from,
                             const fs::path& to, bool is_object) {
    const auto fail = [&](const std::string& what, int err, bool permanent) -> StorageError {
      return StorageError(
          std::string("storage ") + op + " '" + key + "': " + what + ": " + std::strerror(err), 0,
          permanent);
    };
    Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) {
      const int err = errno;
      throw fail("cannot read " + from.string(), err,
                 err == ENOENT || err == EACCES || err == EISDIR);
    }
    std::error_code ec;
    fs::create_directories(to.parent_path(), ec);
    if (ec)
      throw StorageError(std::string("storage ") + op + " '" + key + "': cannot create " +
                             to.parent_path().string() + ": " + ec.message(),
                         0, false);
    const fs::path temp = to.parent_path() / temp_name();
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (out.get() < 0) throw fail("cannot create " + temp.string(), errno, false);
    const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md5(EVP_MD_CTX_new(),
                                                                      &EVP_MD_CTX_free);
    EVP_DigestInit_ex(md5.get(), EVP_md5(), nullptr);
    std::array<char, 1 << 17> buf{};
    std::uint64_t total = 0;
    try {
      while (true) {
        const ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0) {
          if (errno == EINTR) continue;
          throw fail("cannot read " + from.string(), errno, false);
        }
        if (n == 0) break;
        EVP_DigestUpdate(md5.get(), buf.data(), static_cast<std::size_t>(n));
        for (ssize_t done = 0; done < n;) {
          const ssize_t w =
              ::write(out.get(), buf.data() + done, static_cast<std::size_t>(n - done));
          if (w < 0) {
            if (errno == EINTR) continue;
            throw fail("cannot write " + temp.string(), errno, false);
          }
          done += w;
        }
        total += static_cast<std::uint64_t>(n);
      }
      std::string etag = finish_hex(md5.get());
      if (is_object) {
        // Best effort: without xattrs the etag is recomputed when asked for.
        (void)::fsetxattr(out.get(), kEtagXattr, etag.data(), etag.size(), 0);
      }
      if (::close(out.release()) != 0) throw fail("cannot write " + temp.string(), errno, false);
      if (::rename(temp.c_str(), to.c_str()) != 0) {
        throw fail("cannot rename into " + to.string(), errno, false);
      }
      return ObjectInfo{key, total, std::move(etag)};
    } catch (...) {
      ::unlink(temp.c_str());
      throw;
    }
  }

  static std::string etag_of(const fs::path& p) {
    std::array<char, 64> buf{};
    const ssize_t n = ::getxattr(p.c_str(), kEtagXattr, buf.data(), buf.size());
    if (n == 32) return std::string(buf.data(), 32);
    return md5_hex_of_file(p);
  }

  const fs::path root_;
  Metrics* const metrics_;
};

}  // namespace

std::unique_ptr<Storage> open_file_storage(const std::filesystem::path& root, Metrics* metrics) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) {
    throw StorageError("storage: cannot create " + root.string() + ": " + ec.message(), 0, false);
  }
  return std::make_unique<FileStorage>(root.lexically_normal(), metrics);
}

}  // namespace tickd::storage::detail
