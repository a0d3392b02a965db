// Backend benchmarks (figures, not pass/fail): the fake Ollama server -> quill-backend -> a
// framed reader standing in for Neovim.
//   1. throughput: one answer of N tokens sent as fast as the fake can, tokens/s and the
//      backend's CPU time per token;
//   2. latency: tokens at a steady rate, each stamped by the fake with its send time
//      (CLOCK_MONOTONIC); the reader measures send -> notification read. That includes the
//      kernel's loopback and pipe hops, so it bounds what the backend adds from above. At a
//      rate slower than the backend's 16 ms frame (50 tok/s) every token leaves at once, so
//      this is what the backend adds; at 1000 tok/s tokens wait for their frame by design
//      (at most 16 ms), so that figure shows the pacing.
// Usage: backend_bench [--tokens N] [--latency-tokens N] [--rate R] [--wire ollama|openai]
//   (--rate: one latency run; --wire openai: the same through the fake's /v1, SSE)

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend_process.hpp"
#include "fake_ollama_process.hpp"

using quill::test::BackendProcess;
using quill::test::FakeOllamaProcess;
using quill::test::json;
using namespace std::chrono_literals;

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// utime + stime of a process, in seconds, from /proc.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i)
    fields >> skip;  // fields 3..13
  long utime = 0, stime = 0;
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

bool g_openai = false;  // --wire openai

void start(BackendProcess& backend, const std::string& url) {
  json params = {{"workspaceRoot", "/tmp"}, {"provider", {{"host", url}}}};
  if (g_openai) {
    params["endpoints"] = {{"v1", {{"kind", "openai"}, {"url", url + "/v1"}}}};
    params["endpoint"] = "v1";
  }
  backend.request(1, "initialize", params);
  if (!backend.read_response(1)) throw std::runtime_error("initialize failed");
}

json send_params(int id, const std::string& model) {
  return {{"chatId", "bench" + std::to_string(id)},
          {"model", model},
          {"messages", json::array({{{"role", "user"}, {"content", "go"}}})}};
}

void throughput(int tokens) {
  FakeOllamaProcess fake;
  BackendProcess backend({"--log-level", "warn"});
  start(backend, fake.url());
  const double cpu_before = cpu_seconds(backend.pid());
  const auto t0 = std::chrono::steady_clock::now();
  backend.request(2, "chat/send",
                  send_params(2, "text?tokens=" + std::to_string(tokens) + "&rate=0"));
  std::size_t bytes = 0;
  int messages = 0;
  for (;;) {
    auto m = backend.read_message(60s);
    if (!m) throw std::runtime_error("no answer");
    if (m->value("method", "") == "chat/token") {
      bytes += (*m)["params"]["text"].get<std::string>().size();
      ++messages;
    } else if (m->value("id", 0) == 2) {
      break;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds(backend.pid()) - cpu_before;
  std::printf("throughput: %d tokens (%zu bytes) in %.3f s = %.0f tokens/s end to end\n", tokens,
              bytes, secs, tokens / secs);
  std::printf("throughput: %d chat/token notifications (%.1f tokens each, coalesced)\n", messages,
              static_cast<double>(tokens) / messages);
  std::printf("throughput: backend CPU %.3f s = %.2f us/token (%.0f tokens per CPU-second)\n", cpu,
              cpu * 1e6 / tokens, tokens / cpu);
}

void latency(int tokens, int rate) {
  FakeOllamaProcess fake;
  BackendProcess backend({"--log-level", "warn"});
  start(backend, fake.url());
  const double cpu_before = cpu_seconds(backend.pid());
  backend.request(2, "chat/send",
                  send_params(2, "text?tokens=" + std::to_string(tokens) +
                                     "&rate=" + std::to_string(rate) + "&stamp=1"));
  std::vector<double> ms;
  int messages = 0;
  for (;;) {
    auto m = backend.read_message(60s);
    if (!m) throw std::runtime_error("no answer");
    const std::int64_t read_at = now_ns();
    if (m->value("method", "") == "chat/token") {
      ++messages;
      // Stamped tokens look like "i:ns " ; several may share one notification.
      std::istringstream items((*m)["params"]["text"].get<std::string>());
      std::string item;
      while (items >> item) {
        const auto colon = item.find(':');
        if (colon == std::string::npos) continue;
        ms.push_back(static_cast<double>(read_at - std::stoll(item.substr(colon + 1))) / 1e6);
      }
    } else if (m->value("id", 0) == 2) {
      break;
    }
  }
  if (ms.empty()) throw std::runtime_error("no stamped tokens (does fake-ollama support stamp=1?)");
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) {
    return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))];
  };
  std::printf(
      "latency: %zu tokens at %d tokens/s, fake write -> editor read: p50 %.3f ms, p99 %.3f ms, "
      "max %.3f ms\n",
      ms.size(), rate, pct(0.50), pct(0.99), ms.back());
  const double cpu = cpu_seconds(backend.pid()) - cpu_before;
  std::printf("latency: %d chat/token notifications; backend CPU %.2f us/token\n", messages,
              cpu * 1e6 / static_cast<double>(ms.size()));
}

}  // namespace

int main(int argc, char** argv) {
  int tokens = 200000;
  int latency_tokens = 0;
  int rate = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--wire") {
      g_openai = std::string(argv[i + 1]) == "openai";
      continue;
    }
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--tokens") tokens = value;
    if (flag == "--latency-tokens") latency_tokens = value;
    if (flag == "--rate") rate = value;
  }
  try {
    std::printf("wire: %s\n", g_openai ? "openai (SSE, /v1/chat/completions)" : "ollama (NDJSON)");
    throughput(tokens);
    if (rate > 0) {
      latency(latency_tokens > 0 ? latency_tokens : 3000, rate);
    } else {
      latency(latency_tokens > 0 ? latency_tokens : 500, 50);     // below the frame rate
      latency(latency_tokens > 0 ? latency_tokens : 3000, 1000);  // paced
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "backend_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
