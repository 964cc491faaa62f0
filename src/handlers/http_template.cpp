// {{...}} templates of the `http` column, and keeping what they expand to out of anything
// stored. The env values are the secrets: they are collected while expanding so that every
// text that leaves the handler can be scrubbed of them.

#include <algorithm>
#include <stdexcept>

#include "tickd/handlers/http_spec.hpp"

namespace tickd::http_handler {
namespace {

constexpr std::string_view kEnvPrefix = "env.";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool plain_name(std::string_view n) {
  return n == "region.code" || n == "region.id" || n == "scheduled_for" || n == "attempt";
}

// Calls on_text(literal) and on_name(name) in order; returns why the text is not a template.
template <typename OnText, typename OnName>
std::optional<std::string> walk(std::string_view text, OnText on_text, OnName on_name) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    on_text(text.substr(pos, open - pos));
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      return std::string("'{{' without its '}}'");
    }
    if (auto e = on_name(trim(text.substr(open + 2, close - open - 2)))) return e;
    pos = close + 2;
  }
  if (pos < text.size()) on_text(text.substr(pos));
  return std::nullopt;
}

std::optional<std::string> name_problem(std::string_view name,
                                        const std::vector<std::string>& env_allow) {
  if (plain_name(name)) return std::nullopt;
  if (name.starts_with(kEnvPrefix)) {
    const auto var = name.substr(kEnvPrefix.size());
    if (std::find(env_allow.begin(), env_allow.end(), var) == env_allow.end()) {
      return "{{" + std::string(name) + "}}: " + std::string(var) +
             " is not listed in HTTP_ENV_ALLOW";
    }
    return std::nullopt;
  }
  return "unknown template {{" + std::string(name) +
         "}} (known: region.code, region.id, scheduled_for, attempt, env.NAME)";
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string percent_encode_all(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const unsigned char c : s) {
    if (unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::optional<std::string> check_template(std::string_view text, std::string_view where,
                                          const std::vector<std::string>& env_allow) {
  auto problem = walk(
      text, [](std::string_view) {},
      [&](std::string_view name) { return name_problem(name, env_allow); });
  if (problem) return std::string(where) + ": " + *problem;
  return std::nullopt;
}

std::string expand(std::string_view text, const TemplateValues& values, Encoding encoding,
                   std::vector<std::string>& secrets) {
  std::string out;
  auto put = [&](std::string_view value) {
    out += encoding == Encoding::percent ? percent_encode_all(value) : std::string(value);
  };
  auto problem = walk(
      text, [&](std::string_view literal) { out += literal; },
      [&](std::string_view name) -> std::optional<std::string> {
        if (name == "region.code") {
          put(values.region_code);
        } else if (name == "region.id") {
          put(std::to_string(values.region_id));
        } else if (name == "scheduled_for") {
          put(values.scheduled_for);
        } else if (name == "attempt") {
          put(std::to_string(values.attempt));
        } else if (name.starts_with(kEnvPrefix)) {
          const std::string var(name.substr(kEnvPrefix.size()));
          auto value = values.env ? values.env(var) : std::nullopt;
          if (!value) return "{{env." + var + "}}: " + var + " is not set in tickd's environment";
          if (!value->empty()) secrets.push_back(*value);
          put(*value);
        } else {
          return "unknown template {{" + std::string(name) + "}}";
        }
        return std::nullopt;
      });
  if (problem) throw std::runtime_error(*problem);
  return out;
}

bool varies_per_tick(std::string_view text) {
  bool varies = false;
  walk(
      text, [](std::string_view) {},
      [&](std::string_view name) -> std::optional<std::string> {
        varies = varies || name == "scheduled_for" || name == "attempt";
        return std::nullopt;
      });
  return varies;
}

std::string scrub(std::string s, const std::vector<std::string>& secrets) {
  std::vector<std::string> forms;
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    forms.push_back(secret);
    forms.push_back(percent_encode_all(secret));
  }
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(forms.begin(), forms.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& form : forms) {
    for (auto pos = s.find(form); pos != std::string::npos; pos = s.find(form, pos + 3)) {
      s.replace(pos, form.size(), "***");
    }
  }
  return s;
}

}  // namespace tickd::http_handler
