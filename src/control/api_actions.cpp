// POST /v1/regions/{code}/trigger, /pause, /resume, /cancel, /backfill.

#include <nlohmann/json.hpp>

#include "api_routes.hpp"
#include "tickd/util/json.hpp"

namespace tickd::control {
namespace {

using Kind = ControlError::Kind;

// The body's fields, checked: a JSON object (or nothing), only the fields this action
// takes, each a string (dry_run a boolean) of bounded length.
struct Body {
  std::optional<std::string> reason, by, from, to;
  bool dry_run = false;
};

std::string text_field(const nlohmann::json& value, std::string_view name, std::size_t max) {
  if (!value.is_string()) {
    throw ControlError(Kind::bad_input, "\"" + std::string(name) + "\" must be a string");
  }
  auto s = value.get<std::string>();
  if (s.size() > max) {
    throw ControlError(Kind::bad_input, "\"" + std::string(name) + "\" is longer than " +
                                            std::to_string(max) + " bytes");
  }
  if (std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    throw ControlError(Kind::bad_input,
                       "\"" + std::string(name) + "\" must not contain control characters");
  }
  return s;
}

Body parse_body(std::string_view text, std::string_view action) {
  Body body;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return body;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ControlError(Kind::bad_input, std::string("the body is not JSON: ") + e.what());
  }
  if (!doc.is_object()) throw ControlError(Kind::bad_input, "the body must be a JSON object");
  for (const auto& [key, value] : doc.items()) {
    if (key == "by") {
      body.by = text_field(value, key, 200);
      if (body.by->empty()) throw ControlError(Kind::bad_input, "\"by\" must not be empty");
    } else if (key == "reason" && action == "pause") {
      body.reason = text_field(value, key, 1000);
    } else if ((key == "from" || key == "to") && action == "backfill") {
      (key == "from" ? body.from : body.to) = text_field(value, key, 64);
    } else if (key == "dry_run" && action == "backfill") {
      if (!value.is_boolean()) throw ControlError(Kind::bad_input, "\"dry_run\" must be a boolean");
      body.dry_run = value.get<bool>();
    } else {
      throw ControlError(Kind::bad_input, "unknown field \"" + json::sanitize_utf8(key) +
                                              "\" for " + std::string(action));
    }
  }
  return body;
}

Micros time_field(const std::optional<std::string>& value, std::string_view name) {
  if (!value) throw ControlError(Kind::bad_input, "\"" + std::string(name) + "\" is required");
  auto parsed = parse_time(*value);
  if (const auto* error = std::get_if<std::string>(&parsed)) {
    throw ControlError(Kind::bad_input, "\"" + std::string(name) + "\": " + *error);
  }
  return std::get<Micros>(parsed);
}

ApiResponse answer(int status, const ActionResult& r, std::string_view action) {
  json::Writer w;
  w.begin_object().key("action").value(action).key("region").value(r.code);
  w.key("message").value(r.message);
  if (r.request_id) w.key("request_id").value(*r.request_id);
  if (r.run_id) w.key("run_id").value(*r.run_id);
  if (action == "backfill") {
    w.key("instants").begin_array();
    for (const auto& t : r.instants) w.value(format_time(t));
    w.end_array();
    w.key("already_run").value(static_cast<std::int64_t>(r.already_run));
  }
  w.end_object();
  return {status, std::move(w).str()};
}

}  // namespace

ApiResponse post_action(ControlStore& store, const std::string& code, std::string_view action,
                        std::string_view body_text, const std::string& actor) {
  const Body body = parse_body(body_text, action);
  // The caller names itself in the body; the audit keeps where the call came from too.
  const std::string by = body.by ? *body.by + " (" + actor + ")" : actor;
  if (action == "pause") return answer(200, store.pause(code, body.reason, by), action);
  if (action == "resume") return answer(200, store.resume(code, by), action);
  if (action == "trigger") return answer(202, store.trigger(code, by), action);
  if (action == "cancel") return answer(202, store.cancel(code, by), action);
  // backfill
  const auto from = time_field(body.from, "from");
  const auto to = time_field(body.to, "to");
  return answer(body.dry_run ? 200 : 202, store.backfill(code, from, to, body.dry_run, by), action);
}

}  // namespace tickd::control
