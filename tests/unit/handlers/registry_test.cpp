// HandlerRegistry::check: why a region's handler list cannot run.

#include <doctest/doctest.h>

#include "tickd/handlers/handler.hpp"

namespace {

class Nothing final : public tickd::Handler {
 public:
  tickd::HandlerCounts run(const tickd::TickContext&) override { return {}; }
};

tickd::HandlerRegistry registry() {
  tickd::HandlerRegistry r;
  r.add("region", std::make_unique<Nothing>());
  r.add("sync", std::make_unique<Nothing>());
  return r;
}

}  // namespace

std::optional<std::string> check(const tickd::HandlerRegistry& r,
                                 std::vector<std::string> handlers) {
  tickd::RegionRow row;
  row.handlers = std::move(handlers);
  return r.check(row);
}

TEST_CASE("a handler list runs only when every name is a known handler") {
  const auto r = registry();
  CHECK_FALSE(check(r, {"region", "sync"}));
  CHECK(check(r, {}) == "handlers: the list is empty");
  CHECK(check(r, {"region", "nope"}) == "handlers: unknown handler 'nope' (known: region, sync)");
  // '{region,NULL}': the NULL reads as an empty name, and is refused rather than dropped.
  CHECK(check(r, {"region", ""}) == "handlers: an element is NULL or empty");
}
