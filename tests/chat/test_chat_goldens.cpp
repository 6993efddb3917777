// Every golden render byte-identical: chat_goldens.json (real chat templates, rendered by
// @huggingface/jinja and cross-checked with Python jinja2) and chat_feature_goldens.json (engine
// features, rendered by Python jinja2 with transformers' settings).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "prospect/chat/chat_template.h"
#include "prospect/core/fs.h"
#include "test_util.h"

using prospect::chat::ChatTemplate;
using prospect::chat::TemplateRaise;
using ojson = nlohmann::ordered_json;

namespace {

ojson load_goldens(const std::string& file) {
  auto path = prospect::test::golden_dir() / "chat" / file;
  return ojson::parse(prospect::read_text_file(path));
}

// Renders every case of a golden file; returns the number of cases checked.
size_t check_all(const ojson& doc) {
  std::map<std::string, std::unique_ptr<ChatTemplate>> compiled;
  size_t n = 0;
  for (auto& c : doc["cases"]) {
    std::string name = c["name"].get<std::string>();
    std::string tid = c["template"].get<std::string>();
    SCOPED_TRACE(name);
    auto& tpl = compiled[tid];
    if (!tpl) tpl = std::make_unique<ChatTemplate>(doc["templates"][tid].get<std::string>());
    if (c.contains("expected")) {
      std::string got;
      try {
        got = tpl->render_ordered(c["context"]);
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << ": threw " << e.what();
        continue;
      }
      EXPECT_EQ(got, c["expected"].get<std::string>()) << name;
    } else {
      try {
        tpl->render_ordered(c["context"]);
        ADD_FAILURE() << name << ": expected raise_exception(" << c["error"] << ")";
      } catch (const TemplateRaise& e) {
        EXPECT_EQ(e.message(), c["error"].get<std::string>()) << name;
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << ": threw a non-raise error " << e.what();
      }
    }
    ++n;
  }
  return n;
}

}  // namespace

TEST(ChatGoldens, RealTemplatesByteIdentical) {
  ojson doc = load_goldens("chat_goldens.json");
  EXPECT_GE(check_all(doc), 60u);
  // Every family the issue names is covered.
  for (const char* t : {"qwen3", "qwen2_5", "llama3", "llama3_1", "llama3_2_date", "mistral_v0_1", "mistral_v0_2",
                        "mistral_v0_3", "gemma", "chatml", "deepseek_r1"})
    EXPECT_TRUE(doc["templates"].contains(t)) << t;
}

TEST(ChatGoldens, EngineFeaturesMatchPythonJinja2) {
  ojson doc = load_goldens("chat_feature_goldens.json");
  EXPECT_GE(check_all(doc), 25u);
}

TEST(ChatGoldens, EmbeddedQwen3TemplateIsTheCachedOne) {
  auto cfg = prospect::test::qwen3_tokenizer_dir() / "tokenizer_config.json";
  if (!std::filesystem::exists(cfg)) GTEST_SKIP() << "no Qwen3 tokenizer cache (scripts/fetch_assets.sh)";
  ojson doc = load_goldens("chat_goldens.json");
  ojson tc = ojson::parse(prospect::read_text_file(cfg));
  EXPECT_EQ(doc["templates"]["qwen3"].get<std::string>(), tc["chat_template"].get<std::string>());
}
