// parse(): expression text -> Expr. Grammar in README.md ("Cron expressions").

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "text.hpp"
#include "tickd/cron/cron.hpp"

namespace tickd::cron {
namespace {

using detail::cat;

enum class Field { second, minute, hour, day_of_month, month, day_of_week };

struct FieldInfo {
  std::string_view name;
  int min;
  int max;
};

constexpr std::array<FieldInfo, 6> kFields = {{
    {"second", 0, 59},
    {"minute", 0, 59},
    {"hour", 0, 23},
    {"day-of-month", 1, 31},
    {"month", 1, 12},
    {"day-of-week", 0, 7},
}};

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

// A piece of the input and where it starts (1-based column).
struct Token {
  std::string_view text;
  std::size_t column;

  Token sub(std::size_t pos, std::size_t n = std::string_view::npos) const {
    return {text.substr(pos, n), column + pos};
  }
};

using Error = std::optional<ParseError>;

ParseError error_at(std::size_t column, std::string message) {
  message += cat(" (column ", column, ")");
  return {std::move(message), column};
}

ParseError field_error(Field f, const Token& at, std::string_view what) {
  std::string message{kFields[static_cast<std::size_t>(f)].name};
  message += ": ";
  message += what;
  return error_at(at.column, std::move(message));
}

std::string quoted(std::string_view s) { return cat("'", s, "'"); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (upper(a[i]) != upper(b[i])) return false;
  }
  return true;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// Digits to int, saturating well above every field's range.
int to_int(std::string_view digits) {
  int v = 0;
  for (char c : digits) {
    v = v * 10 + (c - '0');
    if (v > 99999) return 99999;
  }
  return v;
}

// A plain number in [lo, hi], used for step sizes, L-n, nW and #k.
std::variant<int, ParseError> number_in(Field f, const Token& tok, int lo, int hi,
                                        std::string_view what) {
  if (tok.text.empty()) return field_error(f, tok, cat(what, " is missing"));
  if (!all_digits(tok.text)) {
    return field_error(f, tok, cat(what, " '", tok.text, "' is not a number"));
  }
  const int v = to_int(tok.text);
  if (v < lo || v > hi) {
    return field_error(f, tok, cat(what, " ", tok.text, " is out of range ", lo, "-", hi));
  }
  return v;
}

// A single value of field f: a number in range, or a month / weekday name.
std::variant<int, ParseError> value_of(Field f, const Token& tok) {
  const FieldInfo& info = kFields[static_cast<std::size_t>(f)];
  if (tok.text.empty()) return field_error(f, tok, "a value is missing");
  if (all_digits(tok.text)) {
    const int v = to_int(tok.text);
    if (v < info.min || v > info.max) {
      return field_error(f, tok, cat(tok.text, " is out of range ", info.min, "-", info.max));
    }
    return v;
  }
  if (f == Field::month) {
    for (std::size_t i = 0; i < kMonthNames.size(); ++i) {
      if (iequals(tok.text, kMonthNames[i])) return static_cast<int>(i) + 1;
    }
    return field_error(f, tok, cat(quoted(tok.text), " is not a number or a month name (JAN-DEC)"));
  }
  if (f == Field::day_of_week) {
    for (std::size_t i = 0; i < kDayNames.size(); ++i) {
      if (iequals(tok.text, kDayNames[i])) return static_cast<int>(i);
    }
    return field_error(f, tok,
                       cat(quoted(tok.text), " is not a number or a weekday name (SUN-SAT)"));
  }
  return field_error(f, tok, cat(quoted(tok.text), " is not a number"));
}

class FieldParser {
 public:
  FieldParser(Field f, Expr& e) : f_(f), e_(e) {}

  Error field(const Token& tok) {
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = tok.text.find(',', start);
      const Token el = tok.sub(start, comma == std::string_view::npos ? comma : comma - start);
      if (el.text.empty()) return field_error(f_, el, "empty list element");
      if (Error err = element(el)) return err;
      if (comma == std::string_view::npos) return std::nullopt;
      start = comma + 1;
    }
  }

 private:
  void set(int v) {
    switch (f_) {
      case Field::second:
        e_.seconds |= std::uint64_t{1} << v;
        break;
      case Field::minute:
        e_.minutes |= std::uint64_t{1} << v;
        break;
      case Field::hour:
        e_.hours |= std::uint32_t{1} << v;
        break;
      case Field::day_of_month:
        e_.days_of_month |= std::uint32_t{1} << v;
        break;
      case Field::month:
        e_.months = static_cast<std::uint16_t>(e_.months | (1u << v));
        break;
      case Field::day_of_week:
        e_.days_of_week = static_cast<std::uint8_t>(e_.days_of_week | (1u << (v % 7)));
        break;
    }
  }

  Error element(const Token& el) {
    if (f_ == Field::day_of_month) {
      if (auto handled = dom_extension(el)) return *handled;
    } else if (f_ == Field::day_of_week) {
      if (auto handled = dow_extension(el)) return *handled;
    }
    return range_with_step(el);
  }

  // L, L-n, LW, nW. Returns nullopt when el is none of these.
  std::optional<Error> dom_extension(const Token& el) {
    const std::string_view s = el.text;
    if (iequals(s, "L")) {
      e_.dom_last_offsets |= 1u;
      return Error{};
    }
    if (iequals(s, "LW")) {
      e_.dom_last_weekday = true;
      return Error{};
    }
    if (s.size() >= 2 && upper(s[0]) == 'L' && s[1] == '-') {
      auto n = number_in(f_, el.sub(2), 0, 30, "offset");
      if (auto* err = std::get_if<ParseError>(&n)) return Error{std::move(*err)};
      e_.dom_last_offsets |= 1u << std::get<int>(n);
      return Error{};
    }
    if (s.size() >= 2 && upper(s.back()) == 'W' && all_digits(s.substr(0, s.size() - 1))) {
      auto d = number_in(f_, el.sub(0, s.size() - 1), 1, 31, "day");
      if (auto* err = std::get_if<ParseError>(&d)) return Error{std::move(*err)};
      e_.dom_nearest_weekday |= 1u << std::get<int>(d);
      return Error{};
    }
    return std::nullopt;
  }

  // wL, w#k (and croner's w#L). Returns nullopt when el is none of these.
  std::optional<Error> dow_extension(const Token& el) {
    const std::string_view s = el.text;
    const std::size_t hash = s.find('#');
    if (hash != std::string_view::npos) {
      auto w = value_of(f_, el.sub(0, hash));
      if (auto* err = std::get_if<ParseError>(&w)) return Error{std::move(*err)};
      const int day = std::get<int>(w) % 7;
      const Token k_tok = el.sub(hash + 1);
      if (iequals(k_tok.text, "L")) {
        e_.dow_last = static_cast<std::uint8_t>(e_.dow_last | (1u << day));
        return Error{};
      }
      auto k = number_in(f_, k_tok, 1, 5, "occurrence");
      if (auto* err = std::get_if<ParseError>(&k)) return Error{std::move(*err)};
      e_.dow_nth[static_cast<std::size_t>(day)] = static_cast<std::uint8_t>(
          e_.dow_nth[static_cast<std::size_t>(day)] | (1u << (std::get<int>(k) - 1)));
      return Error{};
    }
    if (s.size() >= 2 && upper(s.back()) == 'L') {
      auto w = value_of(f_, el.sub(0, s.size() - 1));
      if (auto* err = std::get_if<ParseError>(&w)) return Error{std::move(*err)};
      e_.dow_last = static_cast<std::uint8_t>(e_.dow_last | (1u << (std::get<int>(w) % 7)));
      return Error{};
    }
    return std::nullopt;
  }

  // *, ?, v, a-b, each optionally followed by /n.
  Error range_with_step(const Token& el) {
    const FieldInfo& info = kFields[static_cast<std::size_t>(f_)];
    // Day-of-week: * and a/n run to 6 (Saturday); 7 is Sunday again (croner, Vixie).
    const int open_max = f_ == Field::day_of_week ? 6 : info.max;
    const std::size_t slash = el.text.find('/');
    const Token base = el.sub(0, slash);
    int step = 1;
    if (slash != std::string_view::npos) {
      const Token step_tok = el.sub(slash + 1);
      auto n = number_in(f_, step_tok, 1, open_max - info.min + 1, "step");
      if (auto* err = std::get_if<ParseError>(&n)) return std::move(*err);
      step = std::get<int>(n);
    }
    int lo = info.min;
    int hi = open_max;
    if (base.text == "*" || base.text == "?") {
      // lo, hi as set
    } else {
      const std::size_t dash = base.text.find('-');
      auto a = value_of(f_, base.sub(0, dash));
      if (auto* err = std::get_if<ParseError>(&a)) return std::move(*err);
      lo = std::get<int>(a);
      if (dash != std::string_view::npos) {
        auto b = value_of(f_, base.sub(dash + 1));
        if (auto* err = std::get_if<ParseError>(&b)) return std::move(*err);
        hi = std::get<int>(b);
        // "MON-SUN", "SAT-SUN": a range that ends with the name SUN ends on Sunday 7.
        if (f_ == Field::day_of_week && hi == 0 && lo > 0 &&
            !all_digits(base.text.substr(dash + 1))) {
          hi = 7;
        }
        if (hi < lo) {
          return field_error(f_, base, cat("range ", base.text, " goes backwards"));
        }
      } else if (slash == std::string_view::npos) {
        hi = lo;
      } else if (lo > hi) {
        hi = lo;  // "7/n" in day-of-week: Sunday only
      }
    }
    for (int v = lo; v <= hi; v += step) set(v);
    return std::nullopt;
  }

  Field f_;
  Expr& e_;
};

std::variant<Expr, ParseError> parse_fields(const std::array<Token, 6>& tokens, std::size_t n) {
  Expr e;
  std::size_t first = 0;
  if (n == 5) {
    e.seconds = 1;  // second 0
    first = 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto f = static_cast<Field>(i + first);
    if (Error err = FieldParser(f, e).field(tokens[i])) return std::move(*err);
  }
  const Token& dom = tokens[n - 3];
  const Token& dow = tokens[n - 1];
  e.dom_restricted = dom.text != "*" && dom.text != "?";
  e.dow_restricted = dow.text != "*" && dow.text != "?";
  e.all_hours = e.hours == (std::uint32_t{1} << 24) - 1;
  return e;
}

}  // namespace

std::variant<Expr, ParseError> parse(std::string_view text) {
  std::array<Token, 6> tokens{};
  std::size_t n = 0;
  std::size_t extra_column = 0;  // where a 7th field starts
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i == text.size()) break;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (n < tokens.size()) {
      tokens[n] = Token{text.substr(start, i - start), start + 1};
    } else if (n == tokens.size()) {
      extra_column = start + 1;
    }
    ++n;
  }
  if (n == 0) return error_at(1, "the expression is empty");
  if (tokens[0].text.starts_with('@')) {
    if (n > 1) {
      return error_at(tokens[1].column, cat("a macro such as ", tokens[0].text,
                                            " stands alone, found ", quoted(tokens[1].text)));
    }
    for (const Macro& m : kMacros) {
      if (iequals(tokens[0].text, m.name)) return parse(m.expansion);
    }
    return error_at(tokens[0].column,
                    cat("unknown macro ", quoted(tokens[0].text),
                        " (known: @yearly @annually @monthly @weekly @daily @midnight @hourly)"));
  }
  if (n > tokens.size()) {
    return error_at(extra_column, cat("expected 5 or 6 fields, found ", n));
  }
  if (n < 5) {
    return error_at(text.size() + 1, cat("expected 5 or 6 fields, found ", n));
  }
  return parse_fields(tokens, n);
}

}  // namespace tickd::cron
