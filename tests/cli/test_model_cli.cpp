// init -> inspect -> score -> generate through the real binary, checked against the in-process model.
#include <gtest/gtest.h>

#include <fstream>

#include "prospect/core/fs.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/generate.h"
#include "prospect/model/logprobs.h"
#include "test_util.h"

using namespace prospect;
using prospect::test::run_cli;
using prospect::test::TempDir;
using json = nlohmann::json;

TEST(ModelCli, InitInspectScoreGenerate) {
  TempDir tmp;
  const auto dir = tmp / "tiny";
  auto r = run_cli("init --preset tiny --vocab-size 512 --seed 3 --dtype f32 --out '" + dir.string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto init = json::parse(r.out);
  EXPECT_EQ(init["vocab_size"], 512);
  auto cfg = read_json_file(dir / "config.json");
  EXPECT_EQ(cfg["model_type"], "qwen3");
  EXPECT_EQ(cfg["architectures"][0], "Qwen3ForCausalLM");
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  EXPECT_TRUE(std::filesystem::exists(dir / "generation_config.json"));

  r = run_cli("inspect '" + dir.string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto info = json::parse(r.out);
  EXPECT_EQ(info["architecture"], "Qwen3ForCausalLM");
  EXPECT_EQ(info["matches_config"], true);
  EXPECT_EQ(info["num_tensors"], 2 + 11 * 2);
  EXPECT_EQ(info["dtypes"]["F32"], 24);
  auto m = model::load_model(dir, torch::kFloat32, torch::kCPU);
  EXPECT_EQ(info["parameters"].get<int64_t>(), m->num_parameters());
  EXPECT_EQ(init["parameters"].get<int64_t>(), m->num_parameters());

  r = run_cli("score --model '" + dir.string() + "' --ids 1,7,300,42,5");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto sc = json::parse(r.out);
  EXPECT_EQ(sc["ids"], json::array({1, 7, 300, 42, 5}));
  ASSERT_EQ(sc["logprobs"].size(), 5u);
  EXPECT_TRUE(sc["logprobs"][0].is_null());
  auto lp = model::token_logprobs(m, torch::tensor({1, 7, 300, 42, 5}, torch::kInt64).unsqueeze(0))[0];
  for (int t = 1; t < 5; ++t) EXPECT_NEAR(sc["logprobs"][t].get<double>(), lp[t].item<double>(), 1e-6);

  r = run_cli("generate --model '" + dir.string() + "' --ids 1,7,300 --max-new-tokens 5");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto gen = json::parse(r.out);
  model::GenerateOptions go;
  go.max_new_tokens = 5;
  go.eos_ids = model::generation_eos_ids(dir);
  EXPECT_EQ(gen["ids"].get<std::vector<int64_t>>(), model::generate(m, {{1, 7, 300}}, go)[0]);

  // Bad input: out-of-vocabulary id, both --ids and --text, unknown preset.
  r = run_cli("score --model '" + dir.string() + "' --ids 1,512");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("512"), std::string::npos) << r.err;
  EXPECT_NE(run_cli("init --preset huge --out '" + (tmp / "x").string() + "'").rc, 0);
  // init refuses to overwrite a non-empty directory without --force.
  EXPECT_NE(run_cli("init --preset tiny --vocab-size 64 --out '" + dir.string() + "'").rc, 0);
}

TEST(ModelCli, MalformedCheckpointIsOneLineError) {
  TempDir tmp;
  const auto dir = tmp / "m";
  ASSERT_EQ(run_cli("init --preset tiny --vocab-size 128 --dtype bf16 --out '" + dir.string() + "'").rc, 0);
  const auto st = dir / "model.safetensors";
  std::string bytes = read_text_file(st);
  {
    std::ofstream f(st, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), (std::streamsize)bytes.size() / 2);  // truncated
  }
  for (const std::string& cmd : {"score --model '" + dir.string() + "' --ids 1,2", "inspect '" + dir.string() + "'"}) {
    auto r = run_cli(cmd);
    EXPECT_NE(r.rc, 0) << cmd;
    EXPECT_NE(r.err.find(st.string()), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}
