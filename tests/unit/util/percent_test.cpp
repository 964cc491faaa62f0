// Percent-decoding, as DATABASE_URL keys and the STORAGE_URL query are read.

#include "tickd/util/percent.hpp"

#include <doctest/doctest.h>

#include <string>

TEST_CASE("percent_decode turns %XY into the byte and leaves everything else") {
  struct Row {
    std::string in, out;
  };
  for (const Row& r : {
           Row{"", ""},
           Row{"plain", "plain"},
           Row{"pass%77ord", "password"},
           Row{"%41%62", "Ab"},
           Row{"lower %2f upper %2F", "lower / upper /"},
           Row{"http%3A%2F%2Fh%3A9000", "http://h:9000"},
           Row{"a+b", "a+b"},
           Row{"%e2%82%ac", "\xe2\x82\xac"},
           Row{"nul %00 byte", std::string("nul \0 byte", 10)},
           Row{"100%", "100%"},
           Row{"%4", "%4"},
           Row{"%zz %4g", "%zz %4g"},
           Row{"%%41", "%A"},
           Row{"%2541", "%41"},
       }) {
    CAPTURE(r.in);
    CHECK(tickd::percent_decode(r.in) == r.out);
  }
}

TEST_CASE("percent_decode reads '+' as a blank in a form's query only") {
  using tickd::Plus;
  CHECK(tickd::percent_decode("a+b%2Bc", Plus::literal) == "a+b+c");
  CHECK(tickd::percent_decode("a+b%2Bc", Plus::space) == "a b+c");
  CHECK(tickd::percent_decode("+%20+", Plus::space) == "   ");
}
