#pragma once
// The documentation of tickd's configuration, rendered from the table that also parses and
// checks every key (src/config/keys.cpp). The README's configuration table is
// config_markdown_table() verbatim (`meson compile -C build config-table` rewrites it), and a
// unit test checks README.md and config/tickd.example.toml against config_key_docs().

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tickd {

struct ConfigKeyDoc {
  std::string env;            // "CONCURRENCY"
  std::string toml;           // "concurrency"
  std::string default_value;  // markdown: "4", "`info`", "none", "`DATABASE_URL`"
  // The default as a value the key takes ("4", "info"); nullopt when the key has none or it
  // is derived (DATABASE_LISTEN_URL, TICKD_REPLICA_ID).
  std::optional<std::string> literal_default;
  std::string accepted;  // markdown: "1 – 1000000", "`text`, `json`"
  std::string meaning;   // markdown, one line
  bool integer = false;  // the TOML value is an integer (else a string)
};

// Every key, in the order the README and the example file list them.
std::vector<ConfigKeyDoc> config_key_docs();

// The README's table: a header row, the rule, then one row per key; every line ends in '\n'.
std::string config_markdown_table();

// `readme` with its configuration table (the lines from the table's header row to the first
// line that does not start with '|') replaced by config_markdown_table(); nullopt when
// `readme` has no such table. The README is current when this returns it unchanged.
std::optional<std::string> with_config_table(std::string_view readme);

}  // namespace tickd
