#pragma once
// Internal to src/control: the console's list of regions, sorted, searched and paged by the
// replica (GET /v1/regions?view=list&limit=...&offset=...&q=...), so that a page with 10,000
// regions fetches the hundred it shows instead of all of them. The order puts the regions
// that need a look first (list_order.cpp); the query parameters ask for a page
// (list_query.cpp).

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api_routes.hpp"
#include "tickd/db/control_store.hpp"
#include "views.hpp"

namespace tickd::control {

// Why a region needs a look, in the order the list shows them first.
enum class Trouble { invalid, failing, overdue };
inline constexpr std::size_t kTroubles = 3;
std::string_view trouble_name(Trouble t);

// The period of an expression of one of the simple shapes the console puts in words
// (`*/5 * * * *`: 300 s, `0 3 * * *`: a day, `@hourly`), the same shapes and steps as its
// describeCron; nullopt for any other (a step that does not divide its unit, a weekday list,
// a day of the month): those are never called overdue.
std::optional<std::chrono::seconds> fixed_period(std::string_view expression);

// How long past two periods a region without a run is still not overdue: the slack the
// console allowed for the age of its data (one refresh), kept so that the rule did not
// change when it moved here.
inline constexpr std::chrono::seconds kOverdueSlack{4};

// Why `r` (in `state`) needs a look at `now`, or nullopt:
// - invalid: its state is `invalid`;
// - failing: its newest ended run (last_run, or last_ended while last_run is running)
//   failed or was abandoned, whatever its state;
// - overdue: active, with a fixed period, and its newest run (or, without one, its last
//   update) more than two periods plus kOverdueSlack before `now`.
// Reads only the fields ControlStore::pick_regions gives its keys.
std::optional<Trouble> trouble(const RegionView& r, const RegionState& state, Micros now);

// A region in the list's order.
struct Listed {
  const RegionView* region;
  std::optional<Trouble> trouble;
};

// Every region in the list's order at `now`: invalid, failing, overdue, then the rest; by
// code within each (byte order). The pointers are into `regions`.
std::vector<Listed> order_regions(const std::vector<RegionView>& regions, Micros now);

// The page a list query asks for.
inline constexpr int kListPageDefault = 100;
inline constexpr int kListPageMax = 1000;
struct ListQuery {
  int limit = kListPageDefault;  // 1-kListPageMax
  std::int64_t offset = 0;       // regions skipped, in the list's order
  std::string q;                 // a part of the code, any case; empty: every region
};

// The page `query` asks for, or nullopt when it names none of `limit`, `offset` and `q`
// (the whole list by code, as before paging). Throws ControlError(bad_input) naming the
// parameter: not a whole number, out of range, or given without `view=list`.
std::optional<ListQuery> list_query(const Query& query);

// Whether `code` contains `q`, ASCII letters in any case (the search box's filter).
bool code_matches(std::string_view code, std::string_view q);

// What a page says about the whole list besides its regions.
struct PageFacts {
  std::size_t total = 0;     // every region
  std::size_t matching = 0;  // those the search keeps
  std::int64_t offset = 0;
  int limit = kListPageDefault;
  std::array<std::size_t, kTroubles> troubles{};  // of every region, by Trouble
};

// GET /v1/regions?view=list with a page: {"regions": [list region with "trouble"...],
// "total", "matching", "offset", "limit", "troubles": {"invalid", "failing", "overdue"}}.
// `troubles[i]` is the trouble of `page[i]`.
std::string regions_page_document(const std::vector<RegionView>& page,
                                  const std::vector<std::optional<Trouble>>& troubles,
                                  const PageFacts& facts, Micros now);

}  // namespace tickd::control
