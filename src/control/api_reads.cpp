// The /v1 reads: the documents of `tickd region list|show --json` and `tickd runs --json`
// (views.cpp), from the query parameters.

#include <algorithm>
#include <initializer_list>

#include "api_routes.hpp"
#include "cli_common.hpp"
#include "region_list.hpp"
#include "views.hpp"

namespace tickd::control {
namespace {

// A misspelt parameter would otherwise be ignored silently, and its filter with it.
void only_known(const Query& query, std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : query) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw ControlError(ControlError::Kind::bad_input, "unknown query parameter '" + name + "'");
    }
  }
}

std::optional<std::string> param(const Query& query, std::string_view name) {
  const auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

ApiResponse ok(std::string body) { return {200, std::move(body)}; }

// A page of the list in its order (region_list.hpp): the order and the counts from every
// region's keys, the full views of the page's regions only.
ApiResponse regions_page(ControlStore& store, const ListQuery& query,
                         const std::optional<std::string>& code) {
  const auto now = now_micros();
  PageFacts facts;
  facts.offset = query.offset;
  facts.limit = query.limit;
  std::vector<std::optional<Trouble>> troubles;
  const auto page = store.pick_regions([&](const std::vector<RegionView>& keys) {
    facts.total = keys.size();
    facts.troubles = {};
    troubles.clear();
    std::vector<std::int64_t> ids;
    std::int64_t index = 0;  // among the matching ones
    for (const auto& listed : order_regions(keys, now)) {
      if (listed.trouble) ++facts.troubles[static_cast<std::size_t>(*listed.trouble)];
      const auto& region_code = listed.region->code;
      if (code && region_code.find(*code) == std::string::npos) continue;
      if (!code_matches(region_code, query.q)) continue;
      if (index >= query.offset && index - query.offset < query.limit) {
        ids.push_back(listed.region->id);
        troubles.push_back(listed.trouble);
      }
      ++index;
    }
    facts.matching = static_cast<std::size_t>(index);
    return ids;
  });
  return ok(regions_page_document(page, troubles, facts, now));
}

ApiResponse runs_page(ControlStore& store, const std::optional<std::string>& code,
                      const Query& query) {
  const auto filter =
      run_filter({code, param(query, "status"), param(query, "since"), param(query, "limit"),
                  param(query, "before"), param(query, "cursor")});
  return ok(runs_document(store.runs(filter), filter.limit));
}

}  // namespace

ApiResponse json_error(int status, std::string_view message) {
  json::Writer w;
  w.begin_object().key("error").value(message).end_object();
  return {status, std::move(w).str()};
}

ApiResponse get_regions(ControlStore& store, const Query& query) {
  only_known(query, {"code", "view", "limit", "offset", "q"});
  const auto view = param(query, "view");
  if (view && *view != "full" && *view != "list") {
    throw ControlError(ControlError::Kind::bad_input, "view: '" + *view + "' is not full or list");
  }
  if (const auto page = list_query(query)) return regions_page(store, *page, param(query, "code"));
  auto regions = store.regions();
  // `code`: the regions whose code contains it (a search box's filter, not a lookup).
  if (const auto part = param(query, "code")) {
    std::erase_if(regions,
                  [&](const RegionView& r) { return r.code.find(*part) == std::string::npos; });
  }
  if (view == "list") return ok(regions_list_document(regions, now_micros()));
  return ok(regions_document(regions, now_micros()));
}

ApiResponse get_region(ControlStore& store, const std::string& code) {
  const auto region = store.region(code);
  if (!region) {
    throw ControlError(ControlError::Kind::not_found, "no region with code '" + code + "'");
  }
  RunFilter filter;
  filter.code = code;
  filter.limit = kShowRuns;
  const auto runs = store.runs(filter);
  const auto audit = store.audit(region->id, kShowAudit);
  return ok(
      region_document(*region, region_state(*region, now_micros(), kShowNextFires), runs, audit));
}

ApiResponse get_region_runs(ControlStore& store, const std::string& code, const Query& query) {
  only_known(query, {"status", "since", "limit", "before", "cursor"});
  return runs_page(store, code, query);
}

ApiResponse get_runs(ControlStore& store, const Query& query) {
  only_known(query, {"region", "status", "since", "limit", "before", "cursor"});
  return runs_page(store, param(query, "region"), query);
}

ApiResponse get_replicas(ControlStore& store, std::chrono::milliseconds fresh) {
  return ok(replicas_document(store.replicas(fresh)));
}

}  // namespace tickd::control
