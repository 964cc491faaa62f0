#pragma once
// A zone's UTC offsets as next_after() needs them: the tz database's transitions, continued
// after the last one by the zone's POSIX TZ rule (the footer of its TZif file). Hinnant's
// date with USE_OS_TZDB reads only the transitions, which Debian's files list through 2037,
// so without the footer every DST zone would keep its 2037 offset forever. Internal to
// src/cron.

#include <date/tz.h>

#include <chrono>

namespace tickd::cron::detail {

date::sys_info sys_info_at(const date::time_zone& zone, date::sys_seconds t);
date::local_info local_info_at(const date::time_zone& zone, date::local_seconds t);

}  // namespace tickd::cron::detail
