#pragma once
// JSON text: the one escaper and writer behind the log lines, /status, job_run.details and
// publish_jobs.variants. Strings always come out as valid JSON: quotes, backslashes and
// control characters escaped, bytes that are not well-formed UTF-8 replaced by U+FFFD
// (each such byte by one "\ufffd"), well-formed UTF-8 passed through as it is.

#include <cstdint>
#include <string>
#include <string_view>

namespace tickd::json {

// Length of the well-formed UTF-8 sequence at s[i] (1-4), or 0 when the bytes there are
// not one (truncated, overlong, surrogate, above U+10FFFF, stray continuation byte).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept;

// s with every byte that does not start a well-formed UTF-8 sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);

// s, or, when longer than `max_bytes`, its first `max_bytes` followed by
// "... (N bytes in all)": for values from outside that a log line or a document shows
// (a 5 MB expression must not make a 5 MB line).
std::string shorten(std::string_view s, std::size_t max_bytes);
// Appends s as the inside of a JSON string literal (without quotes) to out.
void append_escaped(std::string& out, std::string_view s);

// s as the inside of a JSON string literal (without quotes).
std::string escape(std::string_view s);

// Appends s as a JSON string literal (with quotes) to out.
void append_string(std::string& out, std::string_view s);

// Writes one JSON value front to back: objects, arrays, keys and scalars, commas put in by itself.
// It checks nothing: a key outside an object or an unclosed object is the caller's mistake.
//
//   Writer w;
//   w.begin_object().key("ok").value(true).key("n").value(std::int64_t{3}).end_object();
//   w.str() == R"({"ok":true,"n":3})"
class Writer final {
 public:
  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view k);
  Writer& null();
  // A value that is JSON text already (e.g. a jsonb column as PostgreSQL prints it): the
  // caller vouches for it.
  Writer& raw(std::string_view json);
  Writer& value(std::string_view s);
  Writer& value(const char* s) { return value(std::string_view(s)); }
  Writer& value(bool b);
  Writer& value(std::int64_t n);
  // As std::to_string writes a double (fixed, six decimals), which is what job_run.details
  // has always held.
  Writer& value(double d);

  const std::string& str() const& { return out_; }
  std::string str() && { return std::move(out_); }

 private:
  void separate();
  Writer& literal(std::string_view text);  // a number, true or false, as it is
  std::string out_;
  bool need_comma_ = false;
};

}  // namespace tickd::json
