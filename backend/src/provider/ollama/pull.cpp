#include "provider/ollama/pull.hpp"

#include "util/json_access.hpp"
#include "util/json_depth.hpp"
#include "util/size_text.hpp"

namespace quill::ollama {

using nlohmann::json;
using provider::Kind;

PullCall::PullCall(http::CurlMulti& multi, http::HttpRequest request, std::string host,
                   std::string model, Progress progress, Done done,
                   std::chrono::milliseconds interval)
    : host_(std::move(host)),
      model_(std::move(model)),
      progress_(std::move(progress)),
      done_(std::move(done)),
      interval_(interval),
      transfer_(
          multi, std::move(request),
          [this](long status, std::string_view bytes) { return on_data(status, bytes); },
          [this](const http::HttpResult& result) { finish(result); }) {}

bool PullCall::on_data(long status, std::string_view bytes) {
  if (status != 200) {
    if (error_body_.size() < 64 * 1024) error_body_.append(bytes);
    return true;
  }
  // Inside libcurl's callback: nothing may escape; a throw ends the pull with an error.
  try {
    const bool fits = lines_.feed(bytes, [this](std::string_view line) {
      if (!failure_) on_line(line);
    });
    if (!fits)
      failure_ = provider::bad_stream(
          Kind::Ollama, "a line longer than " + util::size_text(http::LineSplitter::kMaxLine));
  } catch (const std::exception& e) {
    failure_ = provider::bad_stream(Kind::Ollama, std::string("internal error: ") + e.what());
  }
  return !failure_;
}

void PullCall::on_line(std::string_view line) {
  if (line.empty()) return;
  if (!util::json_depth_within(line, util::kMaxProviderJsonDepth)) {
    failure_ = provider::bad_stream(Kind::Ollama, "a pull line nested too deep");
    return;
  }
  const json parsed = json::parse(line, nullptr, false);
  util::JsonReader reader(parsed);
  const auto error = reader.string("error");
  const auto status = reader.string("status");
  const auto digest = reader.string("digest");
  const auto total = reader.count("total");
  const auto completed = reader.count("completed");
  if (!reader.ok()) {
    failure_ = provider::bad_stream(Kind::Ollama, "pull progress: " + reader.problem());
    return;
  }
  if (error) {
    failure_ =
        provider::ProviderFailure{"http", "pulling " + model_ + " failed: " + *error, *error};
    return;
  }
  json out = {{"model", model_}, {"status", status.value_or("")}};
  if (digest) out["digest"] = *digest;
  if (total) out["total"] = *total;
  if (completed) out["completed"] = *completed;
  if (status == "success") succeeded_ = true;
  const auto now = std::chrono::steady_clock::now();
  if (out["status"] != last_status_ || now - last_sent_ >= interval_ || succeeded_) {
    last_status_ = out["status"];
    last_sent_ = now;
    held_.reset();
    progress_(out);
  } else {
    held_ = std::move(out);  // reported if nothing newer comes before the end
  }
}

void PullCall::finish(const http::HttpResult& result) {
  using Outcome = http::HttpResult::Outcome;
  auto done = std::move(done_);
  if (result.outcome == Outcome::Aborted || !done) return;  // cancelled: the owner answered
  try {
    if (held_) progress_(*std::exchange(held_, std::nullopt));
  } catch (const std::exception&) {
    held_.reset();  // a lost progress line; the answer still goes out
  }
  if (result.status >= 400)
    return done(provider::http_status(Kind::Ollama, result.status, error_body_, model_));
  if (failure_) return done(failure_);
  if (result.outcome != Outcome::Complete)
    return done(provider::transfer_failure(Kind::Ollama, result, host_));
  if (!succeeded_)
    return done(provider::interrupted("the pull ended before Ollama said it succeeded"));
  done(std::nullopt);  // last: the owner may destroy us
}

}  // namespace quill::ollama
