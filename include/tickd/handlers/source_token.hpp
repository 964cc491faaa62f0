#pragma once
// Whether a publish source may receive PUBLISH_SOURCE_TOKEN (issue 12, item 8): only a host
// the operator listed in PUBLISH_SOURCE_HOSTS, and only over https unless the item says
// `http://` (a source on a trusted network without TLS).

#include <string>
#include <string_view>
#include <vector>

namespace tickd::handlers {

// `hosts`: PUBLISH_SOURCE_HOSTS split, each "host", "host:port" (that port only) or either
// prefixed "http://" (plain http allowed too). Empty: no host receives the token.
bool source_token_allowed(std::string_view url, const std::vector<std::string>& hosts);

}  // namespace tickd::handlers
