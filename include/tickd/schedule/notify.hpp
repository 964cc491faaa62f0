#pragma once
// Who is told of a region's events (spec: "Notifications"; sql/006_handlers.sql): pure
// functions of its row and the replica's NOTIFY_URL. The database keeps a copy of the default
// events in tickd_wants_event(); keep the two in step.

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "tickd/schedule/region.hpp"

namespace tickd {

// Every event a region may be notified of, and those notify_on = NULL means.
inline constexpr std::array<std::string_view, 6> kNotifyEvents = {
    "failed", "abandoned", "missed", "recovered", "cancelled", "ok"};
inline constexpr std::array<std::string_view, 4> kDefaultNotifyEvents = {"failed", "abandoned",
                                                                         "missed", "recovered"};

// Where the region's events go: its notify_url, else `default_url` (NOTIFY_URL); none when
// both are unset.
std::optional<std::string> notify_target(const RegionRow& row, std::string_view default_url);

// Whether the region's notify_on lists `event` (notify_on NULL: the default events).
bool wants_event(const RegionRow& row, std::string_view event);

// Why the row's notify_url, notify_on or ping_url cannot be used, naming the column, if so.
std::optional<std::string> check_notify(const RegionRow& row);

}  // namespace tickd
