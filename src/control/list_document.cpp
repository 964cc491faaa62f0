// The document of one page of the console's list: its regions as the whole list writes
// them, each with why it needs a look, and what the page says about the whole list.

#include "region_list.hpp"

namespace tickd::control {

std::string regions_page_document(const std::vector<RegionView>& page,
                                  const std::vector<std::optional<Trouble>>& troubles,
                                  const PageFacts& facts, Micros now) {
  json::Writer w;
  w.begin_object().key("regions").begin_array();
  for (std::size_t i = 0; i < page.size(); ++i) {
    w.begin_object();
    write_list_fields(w, page[i], region_state(page[i], now, 1));
    w.key("trouble");
    if (i < troubles.size() && troubles[i]) {
      w.value(trouble_name(*troubles[i]));
    } else {
      w.null();
    }
    w.end_object();
  }
  w.end_array();
  w.key("total").value(static_cast<std::int64_t>(facts.total));
  w.key("matching").value(static_cast<std::int64_t>(facts.matching));
  w.key("offset").value(facts.offset);
  w.key("limit").value(std::int64_t{facts.limit});
  w.key("troubles").begin_object();
  for (const auto t : {Trouble::invalid, Trouble::failing, Trouble::overdue}) {
    w.key(trouble_name(t))
        .value(static_cast<std::int64_t>(facts.troubles[static_cast<std::size_t>(t)]));
  }
  w.end_object().end_object();
  return std::move(w).str();
}

}  // namespace tickd::control
