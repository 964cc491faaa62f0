#pragma once
// Internal to src/http: text helpers shared by the metrics and /status renderers.

#include <string>
#include <string_view>

namespace tickd::http_detail {

// Length of the well-formed UTF-8 sequence at s[i] (1-4), or 0 when the bytes there are
// not one (truncated, overlong, surrogate, above U+10FFFF, stray continuation byte).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;

// s with every byte that does not start a well-formed UTF-8 sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);

// Appends s as a JSON string literal (with quotes) to out: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace tickd::http_detail
