// PostgreSQL array literals, as batches are passed to $n::bigint[] and $n::text[].

#include "../../../src/db/pg_array.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using tickd::db::id_array;
using tickd::db::text_array;

TEST_CASE("id_array writes the numbers between braces") {
  CHECK(id_array({}) == "{}");
  CHECK(id_array({7}) == "{7}");
  CHECK(id_array({1, -2, 9'223'372'036'854'775'807}) == "{1,-2,9223372036854775807}");
}

TEST_CASE("text_array quotes every element and escapes quote and backslash only") {
  CHECK(text_array(std::vector<std::string>{}) == "{}");
  CHECK(text_array(std::vector<std::string>{"a", ""}) == R"({"a",""})");
  CHECK(text_array(std::vector<std::string>{"say \"hi\"", "back\\slash"}) ==
        R"({"say \"hi\"","back\\slash"})");
  CHECK(text_array(std::vector<std::string>{"a,b", "{c}", " d ", "NULL", "caf\xc3\xa9"}) ==
        "{\"a,b\",\"{c}\",\" d \",\"NULL\",\"caf\xc3\xa9\"}");
}

TEST_CASE("text_array writes nullopt as NULL") {
  const std::vector<std::optional<std::string>> items{"ok", std::nullopt, "x\"y"};
  CHECK(text_array(items) == R"({"ok",NULL,"x\"y"})");
}

TEST_CASE("text_array takes a projection") {
  struct Object {
    std::string key;
    int size;
  };
  const std::vector<Object> listed{{"r/1.wav", 1}, {"r/\"2\".wav", 2}};
  CHECK(text_array(listed, &Object::key) == R"({"r/1.wav","r/\"2\".wav"})");
}
