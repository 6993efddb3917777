// `prospect data inspect|convert`, and the model card's recipe (configs/qwen3-0.6b-enhanced-kto.json:
// "Qwen/Qwen3-0.6B" + "HuggingFaceH4/ultrafeedback_binarized:train_prefs") resolved offline against a
// fake Hugging Face cache holding a tiny model and the golden parquet. A short run from the hub ids
// must be the same run as from a local directory + the JSONL of the same rows.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "prospect/core/fs.h"
#include "test_util.h"

using namespace prospect::test;
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

const std::string kCommit = "c0ffee0123456789abcdef0123456789abcdef01";
const std::string kDataCommit = "da7a000123456789abcdef0123456789abcdef01";

fs::path pq_dir() { return golden_dir() / "data" / "parquet"; }

// Copies `from` into the repo's blobs/ and links it from snapshots/<commit>/<rel>, as huggingface_hub does.
void add_cached_file(const fs::path& repo, const std::string& commit, const fs::path& from, const std::string& rel) {
  static int n = 0;
  fs::create_directories(repo / "blobs");
  const fs::path blob = repo / "blobs" / ("b" + std::to_string(n++));
  fs::copy_file(from, blob);
  const fs::path link = repo / "snapshots" / commit / rel;
  fs::create_directories(link.parent_path());
  fs::create_symlink(fs::relative(blob, link.parent_path()), link);
  fs::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << commit;
}

// A hub cache with a tiny random Qwen3 named Qwen/Qwen3-0.6B (plus its local copy) and the golden
// UltraFeedback rows as both splits of HuggingFaceH4/ultrafeedback_binarized.
struct FakeHub {
  TempDir dir;
  fs::path cache = dir / "hub", local_model = dir / "tiny";
  FakeHub() {
    auto r = run_cli("init --preset tiny --dtype f32 --seed 3 --out '" + local_model.string() + "'");
    if (r.rc != 0) throw std::runtime_error("init failed: " + r.err);
    for (const auto& e : fs::directory_iterator(qwen3_tokenizer_dir()))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') fs::copy_file(e.path(), local_model / e.path().filename());
    const fs::path model = cache / "models--Qwen--Qwen3-0.6B";
    for (const auto& e : fs::directory_iterator(local_model))
      add_cached_file(model, kCommit, e.path(), e.path().filename().string());
    const fs::path ds = cache / "datasets--HuggingFaceH4--ultrafeedback_binarized";
    add_cached_file(ds, kDataCommit, pq_dir() / "uf_pw_snappy_v1_dict.parquet", "data/train_prefs-00000-of-00001.parquet");
    add_cached_file(ds, kDataCommit, pq_dir() / "uf_hy_gzip_v2.parquet", "data/test_prefs-00000-of-00001.parquet");
  }
  std::string env() const { return "HF_HUB_CACHE='" + cache.string() + "' "; }
};

const FakeHub& fake_hub() {
  static FakeHub hub;
  return hub;
}

// The model card's recipe, shrunk to two CPU steps on the tiny model.
std::string recipe_args(const fs::path& out) {
  return "train '" + (source_dir() / "configs" / "qwen3-0.6b-enhanced-kto.json").string() +
         "' --no-progress --set model.device=cpu --set model.dtype=f32 --set data.max_length=64"
         " --set data.max_eval_examples=8 --set train.max_steps=2 --set train.per_device_train_batch_size=4"
         " --set train.gradient_accumulation_steps=1 --set train.logging_steps=1 --set train.save_steps=0"
         " --set train.eval_steps=0 --set train.gradient_checkpointing=false --set train.merge_at_end=false"
         " --set output_dir='" + out.string() + "'";
}

// Loss-side numbers of each logged step (timings differ between runs).
std::vector<std::map<std::string, double>> step_metrics(const fs::path& run) {
  std::vector<std::map<std::string, double>> out;
  for (const auto& j : read_jsonl_rows(run / "metrics.jsonl")) {
    std::map<std::string, double> m;
    for (auto& [k, v] : j.items())
      if (v.is_number() && k.find("time") == std::string::npos && k.find("per_second") == std::string::npos &&
          k.find("runtime") == std::string::npos)
        m[k] = v.get<double>();
    out.push_back(m);
  }
  return out;
}

}  // namespace

TEST(DataCli, InspectShowsSchemaRowCountAndFirstRows) {
  auto r = run_cli("data inspect '" + (pq_dir() / "uf_pw_gzip_v2_dict.parquet").string() + "' --rows 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = ojson::parse(r.out);
  EXPECT_EQ(j["num_rows"], 40);
  EXPECT_EQ(j["files"][0]["row_groups"], 3);
  EXPECT_EQ(j["schema"]["messages"], "list<struct<content: string, role: string>>");
  EXPECT_EQ(j["schema"]["score_chosen"], "double");
  const auto want = read_jsonl_rows(pq_dir() / "uf.jsonl");
  ASSERT_EQ(j["first_rows"].size(), 2u);
  EXPECT_EQ(j["first_rows"][0], want[0]);
  EXPECT_EQ(j["first_rows"][1], want[1]);
}

TEST(DataCli, ConvertShardsToJsonlAndFailCleanly) {
  TempDir tmp;
  auto r = run_cli("data convert '" + (pq_dir() / "shards").string() + "' '" + (tmp / "out.jsonl").string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(read_jsonl_rows(tmp / "out.jsonl"), read_jsonl_rows(pq_dir() / "uf.jsonl"));

  // A truncated shard: one error line naming the file, nonzero exit, no output and no temp file left.
  const std::string full = prospect::read_text_file(pq_dir() / "uf_pw_snappy_v1_dict.parquet");
  fs::create_directories(tmp / "in");
  fs::copy_file(pq_dir() / "shards" / "uf_part-00000-of-00002.parquet", tmp / "in" / "a.parquet");
  std::ofstream(tmp / "in" / "b.parquet", std::ios::binary) << full.substr(0, full.size() / 2) << "PAR1";
  r = run_cli("data convert '" + (tmp / "in").string() + "' '" + (tmp / "bad.jsonl").string() + "'");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find((tmp / "in" / "b.parquet").string()), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const auto& e : fs::directory_iterator(tmp.path())) EXPECT_EQ(e.path().filename().string().find("bad.jsonl"), std::string::npos);
}

TEST(DataCli, ModelCardRecipeResolvesInTheHubCache) {
  const FakeHub& hub = fake_hub();
  auto r = run_command(hub.env() + "'" + cli_path().string() + "' " + recipe_args(hub.dir / "dry") + " --dry-run");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = ojson::parse(r.out);
  EXPECT_EQ(j["model"]["repo_id"], "Qwen/Qwen3-0.6B");
  EXPECT_EQ(j["model"]["revision"], kCommit);
  EXPECT_EQ(j["model"]["path"], (hub.cache / "models--Qwen--Qwen3-0.6B" / "snapshots" / kCommit).string());
  ASSERT_EQ(j["datasets"].size(), 2u);
  EXPECT_EQ(j["datasets"][0]["id"], "HuggingFaceH4/ultrafeedback_binarized");
  EXPECT_EQ(j["datasets"][0]["split"], "train_prefs");
  EXPECT_EQ(j["datasets"][0]["revision"], kDataCommit);
  EXPECT_EQ(j["train_data"]["rows"], 40);

  // Without the cache: one error naming where it looked and the download command.
  TempDir empty;
  r = run_command("HF_HUB_CACHE='" + empty.path().string() + "' '" + cli_path().string() + "' " +
                  recipe_args(empty / "run") + " --dry-run");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("huggingface-cli download Qwen/Qwen3-0.6B"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((empty / "models--Qwen--Qwen3-0.6B").string()), std::string::npos) << r.err;
}

TEST(DataCli, HubParquetRunEqualsLocalJsonlRunAndRecordsRevisions) {
  const FakeHub& hub = fake_hub();
  TempDir tmp;
  auto a = run_command(hub.env() + "'" + cli_path().string() + "' " + recipe_args(tmp / "hub_run"));
  ASSERT_EQ(a.rc, 0) << a.err;
  const std::string jsonl = (pq_dir() / "uf.jsonl").string();
  auto b = run_command(hub.env() + "'" + cli_path().string() + "' " + recipe_args(tmp / "local_run") +
                       " --set model.path='" + hub.local_model.string() + "' --set data.train='" + jsonl +
                       "' --set data.eval='" + jsonl + "'");
  ASSERT_EQ(b.rc, 0) << b.err;
  const auto ma = step_metrics(tmp / "hub_run"), mb = step_metrics(tmp / "local_run");
  ASSERT_GE(ma.size(), 2u);
  EXPECT_EQ(ma, mb);  // bit-identical: same rows, same order, same model

  auto run = prospect::read_json_file(tmp / "hub_run" / "prospect_run.json");
  EXPECT_EQ(run["base_model"], "Qwen/Qwen3-0.6B");
  EXPECT_EQ(run["base_model_revision"], kCommit);
  EXPECT_EQ(run["datasets"][0]["revision"], kDataCommit);
  auto adapter = prospect::read_json_file(tmp / "hub_run" / "adapter" / "adapter_config.json");
  EXPECT_EQ(adapter["base_model_name_or_path"], "Qwen/Qwen3-0.6B");

  auto c = run_cli("card '" + (tmp / "hub_run").string() + "' --date 2026-01-01");
  ASSERT_EQ(c.rc, 0) << c.err;
  const std::string card = prospect::read_text_file(tmp / "hub_run" / "README.md");
  EXPECT_NE(card.find("base_model: Qwen/Qwen3-0.6B"), std::string::npos) << card;
  EXPECT_NE(card.find("datasets:\n- HuggingFaceH4/ultrafeedback_binarized\n"), std::string::npos) << card;
  EXPECT_NE(card.find("| Base model revision | " + kCommit), std::string::npos) << card;
  EXPECT_NE(card.find("HuggingFaceH4/ultrafeedback_binarized:train_prefs@" + kDataCommit), std::string::npos) << card;
}
