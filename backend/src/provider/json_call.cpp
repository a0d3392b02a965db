#include "provider/json_call.hpp"

#include "util/json_depth.hpp"

namespace quill::provider {

JsonCall::JsonCall(http::CurlMulti& multi, Kind kind, http::HttpRequest request, std::string host,
                   std::string model, Done done)
    : kind_(kind),
      host_(std::move(host)),
      url_(request.url),
      model_(std::move(model)),
      done_(std::move(done)),
      transfer_(
          multi, std::move(request),
          [this](long, std::string_view bytes) {
            if (body_.size() + bytes.size() > kMaxBody) {
              too_big_ = true;
              return false;
            }
            body_.append(bytes);
            return true;
          },
          [this](const http::HttpResult& result) { finish(result); }) {}

void JsonCall::finish(const http::HttpResult& result) {
  using Outcome = http::HttpResult::Outcome;
  auto done = std::move(done_);
  if (result.outcome == Outcome::Aborted) return;  // the owner is going away
  if (too_big_) return done(std::nullopt, bad_stream(kind_, "answer larger than 16 MiB"));
  if (result.outcome != Outcome::Complete)
    return done(std::nullopt, transfer_failure(kind_, result, host_));
  if (result.status >= 400 || result.status < 200) {
    return done(std::nullopt, http_status(kind_, result.status, body_, model_, url_));
  }
  // The nesting limit (util/json_depth.hpp), checked before a DOM is built.
  if (!util::json_depth_within(body_, util::kMaxProviderJsonDepth)) {
    return done(std::nullopt,
                bad_stream(kind_, "answer nested deeper than " +
                                      std::to_string(util::kMaxProviderJsonDepth) + " levels"));
  }
  auto answer = nlohmann::json::parse(body_, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return done(std::nullopt, bad_stream(kind_, "answer is not a JSON object"));
  }
  done(std::move(answer), std::nullopt);  // last: the owner may destroy us
}

}  // namespace quill::provider
