// The README's configuration table, from the key table.

#include "tickd/config/config_docs.hpp"

#include "keys.hpp"

namespace tickd {

std::vector<ConfigKeyDoc> config_key_docs() {
  const Config defaults;
  std::vector<ConfigKeyDoc> out;
  for (const config_keys::Key& key : config_keys::keys()) {
    const bool integer = key.value.type == config_keys::Type::integer;
    std::optional<std::string> literal;
    if (key.default_doc.empty()) {
      if (auto shown = key.value.show(defaults); !shown.empty()) literal = std::move(shown);
    }
    std::string default_value(key.default_doc);
    if (literal) {
      default_value = integer ? *literal : "`" + *literal + "`";
    } else if (default_value.empty()) {
      default_value = "none";
    }
    std::string accepted(key.value.accepted);
    if (integer) {
      accepted = std::to_string(key.value.min) + " – " + std::to_string(key.value.max);
    }
    out.push_back(ConfigKeyDoc{.env = std::string(key.env),
                               .toml = std::string(key.toml),
                               .default_value = std::move(default_value),
                               .literal_default = std::move(literal),
                               .accepted = std::move(accepted),
                               .meaning = std::string(key.meaning),
                               .integer = integer});
  }
  return out;
}

std::string config_markdown_table() {
  std::string out =
      "| environment variable | TOML key | default | meaning | accepted |\n"
      "| --- | --- | --- | --- | --- |\n";
  for (const ConfigKeyDoc& key : config_key_docs()) {
    out += "| `" + key.env + "` | `" + key.toml + "` | " + key.default_value + " | " + key.meaning +
           " | " + key.accepted + " |\n";
  }
  return out;
}

std::optional<std::string> with_config_table(std::string_view readme) {
  constexpr std::string_view kHeader = "| environment variable | TOML key |";
  std::size_t begin = 0;
  while (begin < readme.size() && !readme.substr(begin).starts_with(kHeader)) {
    const auto eol = readme.find('\n', begin);
    if (eol == std::string_view::npos) return std::nullopt;
    begin = eol + 1;
  }
  if (begin >= readme.size()) return std::nullopt;
  std::size_t end = begin;
  while (end < readme.size() && readme[end] == '|') {
    const auto eol = readme.find('\n', end);
    end = eol == std::string_view::npos ? readme.size() : eol + 1;
  }
  std::string out(readme.substr(0, begin));
  out += config_markdown_table();
  out += readme.substr(end);
  return out;
}

}  // namespace tickd
