// `sync`: lists the region's prefix (<code>/) and reconciles its PENDING file_upload rows:
// found objects become UPLOADED (size, etag), rows older than SYNC_MISSING_AFTER_MS whose
// object is absent become MISSING. Objects without a row are only counted.

#include <spdlog/spdlog.h>

#include "tickd/db/database.hpp"
#include "work_shared.hpp"

namespace tickd::work {
namespace {

class SyncHandler final : public Handler {
 public:
  explicit SyncHandler(std::shared_ptr<WorkShared> shared) : shared_(std::move(shared)) {}

  HandlerCounts run(const TickContext& tick) override {
    auto& storage = shared_->storage();
    const auto objects = storage.list(tick.region.code + "/");  // throws: the tick fails
    std::vector<ListedObject> listed;
    listed.reserve(objects.size());
    for (const auto& o : objects) listed.push_back({o.key, o.size, o.etag});
    QueueStore store(tick.db);
    const auto c =
        store.sync_expected(tick.region.id, listed, shared_->config().sync_missing_after);
    if (c.missing > 0) {
      spdlog::warn("region {}: {} expected object(s) still absent after {} ms, marked MISSING",
                   tick.region.code, c.missing, shared_->config().sync_missing_after.count());
    }
    return {{"listed", static_cast<std::int64_t>(listed.size())},
            {"uploaded", c.uploaded},
            {"missing", c.missing},
            {"pending", c.pending},
            {"unexpected", c.unexpected}};
  }

 private:
  std::shared_ptr<WorkShared> shared_;
};

}  // namespace

std::unique_ptr<Handler> make_sync_handler(std::shared_ptr<WorkShared> shared) {
  return std::make_unique<SyncHandler>(std::move(shared));
}

}  // namespace tickd::work
