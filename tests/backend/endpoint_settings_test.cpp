// parse_endpoints: the endpoint settings of initialize and settings/update, every field checked,
// every refusal naming what is wrong; and what a well-formed set becomes.

#include "server/endpoint_settings.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace quill::server {
namespace {

using rpc::json;

std::string refusal(const json& params) {
  std::string error;
  const auto endpoints = parse_endpoints(params, &error);
  EXPECT_FALSE(endpoints.has_value()) << params;
  return error;
}

TEST(EndpointSettingsTest, NamedEndpointsBesideTheOllamaOne) {
  std::string error;
  const auto e = parse_endpoints(
      {{"provider", {{"host", "gpu:7000"}}},
       {"endpoints",
        {{"local", {{"kind", "openai"}, {"url", "http://127.0.0.1:8080/v1/"}}},
         {"gw",
          {{"kind", "openai"},
           {"url", "https://u:p@llm.example.com/v1"},
           {"headers", {{"X-Team", "a"}}}}},
         {"key", {{"kind", "openai"}, {"url", "https://x/v1"}, {"apiKeyEnv", "LLM_KEY"}}}}},
       {"endpoint", "local"},
       {"timeouts", {{"idleMs", 7}}}},
      &error);
  ASSERT_TRUE(e.has_value()) << error;
  EXPECT_EQ(e->default_name, "local");
  EXPECT_EQ(e->by_name.size(), 4u);
  const auto& ollama = e->by_name.at("ollama");
  EXPECT_EQ(ollama.kind, provider::Kind::Ollama);
  EXPECT_EQ(ollama.host, "http://gpu:7000");
  const auto& local = *e->find("");
  EXPECT_EQ(local.name, "local");
  EXPECT_EQ(local.kind, provider::Kind::OpenAI);
  EXPECT_EQ(local.host, "http://127.0.0.1:8080/v1");  // no trailing slash: paths are appended
  EXPECT_EQ(local.timeouts.idle, std::chrono::milliseconds(7));
  const auto& gw = e->by_name.at("gw");
  EXPECT_EQ(gw.host, "https://llm.example.com:443/v1");  // credentials out of the URL
  EXPECT_EQ(gw.headers.at("Authorization"), "Basic dTpw");
  EXPECT_EQ(gw.headers.at("X-Team"), "a");
  EXPECT_EQ(e->by_name.at("key").api_key_env, "LLM_KEY");
  const std::string line = describe(*e);
  EXPECT_NE(line.find("local* (openai http://127.0.0.1:8080/v1)"), std::string::npos) << line;
  EXPECT_EQ(line.find("u:p"), std::string::npos);
}

TEST(EndpointSettingsTest, EveryBadFieldIsNamed) {
  const json openai = {{"kind", "openai"}, {"url", "http://h/v1"}};
  auto with = [&](json extra) {
    json e = openai;
    e.update(extra);
    return json{{"endpoints", {{"x", e}}}};
  };
  struct Case {
    json params;
    const char* names;
  } cases[] = {
      {{{"endpoints", json::array()}}, "endpoints must be an object"},
      {{{"endpoints", {{"a b", openai}}}}, "'a b' is not an endpoint name"},
      {{{"endpoints", {{std::string(65, 'n'), openai}}}}, "is not an endpoint name"},
      {{{"endpoints", {{"x", 5}}}}, "endpoints.x must be an object"},
      {with({{"kind", "anthropic"}}), "endpoints.x.kind must be \"ollama\" or \"openai\""},
      {with({{"kind", 3}}), "endpoints.x.kind must be a string"},
      {with({{"url", nullptr}}), "endpoints.x.url must start with http:// or https://"},
      {with({{"url", "127.0.0.1:8080"}}), "endpoints.x.url must start with http://"},
      {with({{"url", "http://h h/v1"}}), "endpoints.x.url: "},
      {with({{"url", "http://h:99999/v1"}}), "endpoints.x.url: bad port"},
      {with({{"headers", {{"Bad:Name", "v"}}}}), "endpoints.x.headers: 'Bad:Name' is not a header"},
      {with({{"headers", {{"A", "v\r\nX: y"}}}}),
       "endpoints.x.headers.A must be a string without CR"},
      {with({{"apiKeyEnv", "1KEY"}}), "endpoints.x.apiKeyEnv must be an environment variable"},
      {with({{"apiKeyEnv", "K"}, {"headers", {{"authorization", "Bearer y"}}}}),
       "apiKeyEnv and an Authorization header"},
      {with({{"apiKeyEnv", "K"}, {"url", "http://u:p@h/v1"}}), "the url has credentials"},
      {{{"endpoints", {{"x", {{"kind", "ollama"}, {"url", "ftp://h"}}}}}},
       "endpoints.x.url 'ftp://h': unsupported scheme"},
      {{{"endpoint", "nope"}}, "endpoint: no endpoint named 'nope'"},
      {{{"endpoint", 5}}, "endpoint must be a string"},
      {{{"provider", "h"}}, "provider must be an object"},
      {{{"timeouts", {{"idleMs", -1}}}}, "timeouts.idleMs must be an integer"},
  };
  for (const Case& c : cases) {
    const std::string error = refusal(c.params);
    EXPECT_NE(error.find(c.names), std::string::npos) << c.params << " -> " << error;
  }
  json many = json::object();
  for (int i = 0; i < 65; ++i)
    many["e" + std::to_string(i)] = openai;
  EXPECT_NE(refusal({{"endpoints", many}}).find("at most 64"), std::string::npos);
}

TEST(EndpointSettingsTest, AnOllamaEndpointNamedOllamaReplacesTheImplicitOne) {
  std::string error;
  ::setenv("OLLAMA_HOST", "not a host", 1);  // not read: the named one has its url
  const auto e = parse_endpoints(
      {{"endpoints", {{"ollama", {{"kind", "ollama"}, {"url", "http://box:1"}}}}}}, &error);
  ::unsetenv("OLLAMA_HOST");
  ASSERT_TRUE(e.has_value()) << error;
  EXPECT_EQ(e->by_name.size(), 1u);
  EXPECT_EQ(e->find("")->host, "http://box:1");
}

}  // namespace
}  // namespace quill::server
