// next_after(): the next fire instant, found by skipping whole fields in local (wall-clock)
// time, then mapped to an instant with the contract's DST rules.

#include <date/tz.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <optional>

#include "calendar.hpp"
#include "tickd/cron/cron.hpp"
#include "zone_rules.hpp"

namespace tickd::cron {
namespace {

using detail::kSecondsPerDay;

// Bits v and above.
constexpr std::uint64_t from_bit(unsigned v) { return v >= 64 ? 0 : ~std::uint64_t{0} << v; }

unsigned lowest(std::uint64_t mask) { return static_cast<unsigned>(std::countr_zero(mask)); }

// Days of the month that starts on day number `first` (days since 1970-01-01) and has `len`
// days, as a mask with bit d for day d.
std::uint64_t day_mask(const Expr& e, std::int64_t first, unsigned len) {
  const std::uint64_t valid = from_bit(1) & ~from_bit(len + 1);
  if (!e.dom_restricted && !e.dow_restricted) return valid;
  const unsigned first_wd = detail::weekday_from_days(first);
  const unsigned last_wd = (first_wd + len - 1) % 7;

  std::uint64_t dom = 0;
  if (e.dom_restricted) {
    dom = e.days_of_month;
    for (std::uint32_t k = e.dom_last_offsets; k != 0; k &= k - 1) {
      const unsigned back = lowest(k);
      if (back < len) dom |= std::uint64_t{1} << (len - back);
    }
    for (std::uint32_t w = e.dom_nearest_weekday; w != 0; w &= w - 1) {
      const unsigned d = lowest(w);
      if (d > len) break;
      const unsigned wd = (first_wd + d - 1) % 7;
      unsigned target = d;
      if (wd == 6) target = d == 1 ? 3 : d - 1;        // Saturday: Friday, or Monday the 3rd
      if (wd == 0) target = d == len ? d - 2 : d + 1;  // Sunday: Monday, or Friday before
      dom |= std::uint64_t{1} << target;
    }
    if (e.dom_last_weekday) {
      const unsigned back = last_wd == 6 ? 1 : last_wd == 0 ? 2 : 0;
      dom |= std::uint64_t{1} << (len - back);
    }
  }

  std::uint64_t dow = 0;
  if (e.dow_restricted) {
    // Replicate the 7 weekday bits so that bit i means weekday i % 7; day d has weekday
    // (first_wd + d - 1) % 7.
    std::uint64_t pattern = e.days_of_week;
    pattern |= pattern << 7;
    pattern |= pattern << 14;
    pattern |= pattern << 28;
    dow = (pattern >> first_wd) << 1;
    for (unsigned w = e.dow_last; w != 0; w &= w - 1) {
      const unsigned wd = static_cast<unsigned>(std::countr_zero(w));
      dow |= std::uint64_t{1} << (len - (last_wd + 7 - wd) % 7);
    }
    for (unsigned wd = 0; wd < 7; ++wd) {
      const unsigned first_day = 1 + (wd + 7 - first_wd) % 7;
      for (unsigned k = e.dow_nth[wd]; k != 0; k &= k - 1) {
        const unsigned d = first_day + 7 * static_cast<unsigned>(std::countr_zero(k));
        if (d <= len) dow |= std::uint64_t{1} << d;
      }
    }
  }

  if (e.dom_restricted && e.dow_restricted) return (dom | dow) & valid;  // Vixie: either
  return (e.dom_restricted ? dom : dow) & valid;
}

// The first matching time of day at or after H:M:S, in seconds since midnight.
std::optional<std::int64_t> next_time_of_day(const Expr& e, unsigned hour, unsigned minute,
                                             unsigned second) {
  for (;;) {
    const std::uint64_t hours = e.hours & from_bit(hour);
    if (hours == 0) return std::nullopt;
    if (const unsigned h = lowest(hours); h != hour) {
      hour = h;
      minute = 0;
      second = 0;
    }
    const std::uint64_t minutes = e.minutes & from_bit(minute);
    if (minutes == 0) {
      ++hour;
      minute = 0;
      second = 0;
      continue;
    }
    if (const unsigned m = lowest(minutes); m != minute) {
      minute = m;
      second = 0;
    }
    const std::uint64_t seconds = e.seconds & from_bit(second);
    if (seconds == 0) {
      ++minute;
      second = 0;
      continue;
    }
    return std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + lowest(seconds);
  }
}

// The first local (wall-clock) time at or after `start` that matches e, if it is at most
// `limit`. Both are seconds since 1970-01-01T00:00:00 local.
std::optional<std::int64_t> next_local(const Expr& e, std::int64_t start, std::int64_t limit) {
  const std::int64_t start_day = detail::floor_div(start, kSecondsPerDay);
  const std::int64_t limit_day = detail::floor_div(limit, kSecondsPerDay);
  const auto second_of_day = static_cast<unsigned>(start - start_day * kSecondsPerDay);
  const detail::Civil civil = detail::civil_from_days(start_day);
  std::int64_t year = civil.year;
  unsigned month = civil.month;
  unsigned day = civil.day;
  unsigned hour = second_of_day / 3600;
  unsigned minute = second_of_day / 60 % 60;
  unsigned second = second_of_day % 60;
  for (;;) {
    const std::uint64_t months = e.months & from_bit(month);
    if (months == 0) {
      ++year;
      month = 1;
      day = 1;
      hour = minute = second = 0;
      if (detail::days_from_civil(year, 1, 1) > limit_day) return std::nullopt;
      continue;
    }
    if (const unsigned m = lowest(months); m != month) {
      month = m;
      day = 1;
      hour = minute = second = 0;
    }
    const std::int64_t first = detail::days_from_civil(year, month, 1);
    if (first > limit_day) return std::nullopt;
    const std::uint64_t days =
        day_mask(e, first, detail::days_in_month(year, month)) & from_bit(day);
    if (days == 0) {
      if (++month > 12) {
        ++year;
        month = 1;
      }
      day = 1;
      hour = minute = second = 0;
      continue;
    }
    if (const unsigned d = lowest(days); d != day) {
      day = d;
      hour = minute = second = 0;
    }
    if (const auto time = next_time_of_day(e, hour, minute, second)) {
      const std::int64_t local = (first + day - 1) * kSecondsPerDay + *time;
      if (local > limit) return std::nullopt;
      return local;
    }
    ++day;
    hour = minute = second = 0;
  }
}

std::chrono::sys_seconds instant(std::int64_t s) {
  return std::chrono::sys_seconds{std::chrono::seconds{s}};
}

std::int64_t count(std::chrono::sys_seconds s) { return s.time_since_epoch().count(); }

// Real-time rule: walk the zone's segments of constant UTC offset; within each, local time
// is a plain shift of real time.
std::optional<std::chrono::sys_seconds> next_real_time(const Expr& e, const date::time_zone& zone,
                                                       std::int64_t t, std::int64_t horizon) {
  std::int64_t s = t + 1;
  for (;;) {
    const date::sys_info info = detail::sys_info_at(zone, instant(s));
    const std::int64_t offset = info.offset.count();
    const std::int64_t end = count(info.end);  // exclusive
    const std::int64_t segment_last = end - 1 + offset;
    if (const auto local = next_local(e, s + offset, std::min(horizon, segment_last))) {
      return instant(*local - offset);
    }
    if (segment_last >= horizon) return std::nullopt;
    s = std::max(end, s + 1);
  }
}

// Longer than any DST overlap: a local time at least this long after its segment's start
// cannot also belong to the previous segment.
constexpr std::int64_t kLongestOverlap = 2 * kSecondsPerDay;

// Wall-clock rule: match local times; a time in a gap fires at the end of the gap, a time that
// occurs twice fires at its first occurrence.
std::optional<std::chrono::sys_seconds> next_wall_clock(const Expr& e, const date::time_zone& zone,
                                                        std::int64_t t, std::int64_t horizon) {
  const date::sys_info info = detail::sys_info_at(zone, instant(t));
  const std::int64_t offset = info.offset.count();
  const std::int64_t begin = count(info.begin);
  const std::int64_t end = count(info.end);
  std::int64_t from = t + offset + 1;
  for (;;) {
    const auto local = next_local(e, from, horizon);
    if (!local) return std::nullopt;
    // Fast path: inside t's own segment and clear of an overlap at its start.
    if (const std::int64_t guess = *local - offset;
        guess < end && guess - begin >= kLongestOverlap) {
      return instant(guess);
    }
    const date::local_info li =
        detail::local_info_at(zone, date::local_seconds{std::chrono::seconds{*local}});
    std::int64_t fire = 0;
    std::int64_t resume = *local + 1;
    switch (li.result) {
      case date::local_info::unique:
        fire = *local - li.first.offset.count();
        break;
      case date::local_info::nonexistent:
        fire = count(li.second.begin);
        break;
      case date::local_info::ambiguous:
        fire = *local - li.first.offset.count();
        // Every later time of the overlap also fires at its first occurrence, before t.
        resume = std::max(resume, count(li.second.begin) + li.first.offset.count());
        break;
    }
    if (fire > t) return instant(fire);
    from = resume;
  }
}

// Far enough to see every pattern: the Gregorian calendar repeats every 400 years.
constexpr std::int64_t kSearchSpan = (146097 + 2 * 366) * kSecondsPerDay;

}  // namespace

std::optional<std::chrono::sys_seconds> next_after(const Expr& e, const date::time_zone* zone,
                                                   std::chrono::sys_seconds t) {
  std::int64_t ts = count(t);
  if (ts >= detail::kMaxSeconds) return std::nullopt;
  ts = std::max(ts, detail::kMinSearchSeconds);
  const std::int64_t horizon = std::min(detail::kMaxSeconds, ts + kSearchSpan);
  const auto next =
      e.all_hours ? next_real_time(e, *zone, ts, horizon) : next_wall_clock(e, *zone, ts, horizon);
  // West of UTC, the last local seconds of year 9999 are already in year 10000 UTC.
  if (next && count(*next) > detail::kMaxSeconds) return std::nullopt;
  return next;
}

}  // namespace tickd::cron
