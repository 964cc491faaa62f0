#pragma once
// Percent-decoding (RFC 3986) for the URLs tickd reads: DATABASE_URL query keys, the
// STORAGE_URL query and the query of an HTTP request. The encoder for object keys is
// tickd::storage::percent_encode.

#include <string>
#include <string_view>

namespace tickd {

// How '+' reads: as itself in a URI (RFC 3986), as a blank in an HTML form's query
// (application/x-www-form-urlencoded).
enum class Plus { literal, space };

// s with each "%XY" (two hex digits, either case) replaced by the byte 0xXY. A '%' not
// followed by two hex digits stays as it is. Never fails: the bytes need not be UTF-8.
std::string percent_decode(std::string_view s, Plus plus = Plus::literal);

}  // namespace tickd
