#pragma once
// The work queues that the upload and publish handlers take jobs from (sql/002_work_queues.sql).

#include <string_view>

namespace tickd {

enum class Queue { upload, publish };

constexpr std::string_view to_string(Queue q) { return q == Queue::upload ? "upload" : "publish"; }

}  // namespace tickd
