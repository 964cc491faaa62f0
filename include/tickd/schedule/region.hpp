#pragma once
// A row of region_index as tickd needs it (only active rows are ever loaded).

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tickd/schedule/policy.hpp"

namespace tickd {

// The handler names of a region, in order: an immutable list that rows may share. Almost
// every region has the same few lists ('{region}'), so the rows of one read share one copy
// of each instead of holding a vector (and a heap block) apiece.
class HandlerList final {
 public:
  HandlerList() = default;
  // Implicit: a list is its names (rows are built from plain vectors and braced lists).
  HandlerList(std::vector<std::string> names)
      : names_(std::make_shared<const std::vector<std::string>>(std::move(names))) {}
  HandlerList(std::initializer_list<std::string> names)
      : HandlerList(std::vector<std::string>(names)) {}

  const std::vector<std::string>& names() const { return names_ ? *names_ : none(); }
  auto begin() const { return names().begin(); }
  auto end() const { return names().end(); }

  friend bool operator==(const HandlerList& a, const HandlerList& b) {
    return a.names_ == b.names_ || a.names() == b.names();
  }

 private:
  static const std::vector<std::string>& none() {
    static const std::vector<std::string> none;
    return none;
  }

  std::shared_ptr<const std::vector<std::string>> names_;  // null: no handlers
};

// The columns of the `http` and `command` handlers and of notifications (sql/006), as
// loaded: unchecked (the handlers check their own column when the region is validated).
// Few regions set any of them, so a row holds a null pointer unless one is set.
struct RegionExtras {
  std::optional<std::string> http;                    // http: the jsonb column's text
  std::optional<std::vector<std::string>> command;    // command: argv
  std::optional<std::string> notify_url;              // notify_url (none: NOTIFY_URL)
  std::optional<std::vector<std::string>> notify_on;  // notify_on (none: the default events)
  std::optional<std::string> ping_url;                // ping_url

  friend bool operator==(const RegionExtras&, const RegionExtras&) = default;
};

// A region's extras, or none: shared by the copies of a row, compared by value.
class ExtrasRef final {
 public:
  ExtrasRef() = default;
  ExtrasRef(RegionExtras e) : p_(std::make_shared<const RegionExtras>(std::move(e))) {}
  explicit operator bool() const { return p_ != nullptr; }
  const RegionExtras& operator*() const { return p_ ? *p_ : none(); }
  const RegionExtras* operator->() const { return &**this; }
  friend bool operator==(const ExtrasRef& a, const ExtrasRef& b) { return *a == *b; }

 private:
  static const RegionExtras& none() {
    static const RegionExtras none;
    return none;
  }
  std::shared_ptr<const RegionExtras> p_;  // null: none set
};

struct RegionRow {
  std::int64_t id = 0;
  std::string code;
  std::string cron_schedule;
  std::string timezone;
  HandlerList handlers;
  std::optional<std::string> tick_sql;
  RegionPolicy policy{};  // defaults: the behaviour of a row from before the policies
  PauseRef pause{};       // set while paused: the region stays known but does not fire
  ExtrasRef extras{};     // http, command, notify_url, notify_on, ping_url (sql/006)
  // The row version read (PostgreSQL's xmin: the transaction that wrote it); 0 when unknown.
  // A full pass reads only the versions and re-reads the rows whose version moved.
  std::uint32_t version = 0;

  friend bool operator==(const RegionRow&, const RegionRow&) = default;
};

// An active row's id and version, as a full pass reads them first.
struct RegionVersion {
  std::int64_t id = 0;
  std::uint32_t version = 0;
};

// Rows are immutable once loaded and shared: the schedule, the reconcile diff and the
// in-flight ticks of a region hold the same copy.
using RowPtr = std::shared_ptr<const RegionRow>;

}  // namespace tickd
