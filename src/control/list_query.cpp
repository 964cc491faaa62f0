// The query parameters of a page of the console's list (GET /v1/regions?view=list&limit=...).

#include <algorithm>
#include <cctype>

#include "region_list.hpp"

namespace tickd::control {
namespace {

const std::string* find(const Query& query, std::string_view name) {
  const auto it = query.find(name);
  return it == query.end() ? nullptr : &it->second;
}

}  // namespace

std::optional<ListQuery> list_query(const Query& query) {
  const auto* limit = find(query, "limit");
  const auto* offset = find(query, "offset");
  const auto* q = find(query, "q");
  if (!limit && !offset && !q) return std::nullopt;
  // A page is of the list's order, problems first; the full view stays the whole list by code.
  if (const auto* view = find(query, "view"); !view || *view != "list") {
    const char* given = limit ? "limit" : offset ? "offset" : "q";
    throw ControlError(ControlError::Kind::bad_input,
                       std::string(given) + ": pages are of view=list only");
  }
  ListQuery out;
  if (limit) {
    const auto n = whole_number("limit", *limit);
    if (n < 1 || n > kListPageMax) {
      throw ControlError(
          ControlError::Kind::bad_input,
          "limit: " + std::to_string(n) + " is out of range 1-" + std::to_string(kListPageMax));
    }
    out.limit = static_cast<int>(n);
  }
  if (offset) {
    out.offset = whole_number("offset", *offset);
    if (out.offset < 0) {
      throw ControlError(ControlError::Kind::bad_input,
                         "offset: " + std::to_string(out.offset) + " is negative");
    }
  }
  if (q) out.q = *q;
  return out;
}

bool code_matches(std::string_view code, std::string_view q) {
  const auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  return std::search(code.begin(), code.end(), q.begin(), q.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != code.end() ||
         q.empty();
}

}  // namespace tickd::control
