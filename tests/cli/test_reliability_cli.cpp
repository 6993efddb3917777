// Bad input through the real CLI: each case checks a non-zero exit, one error line naming the
// culprit (file, key, id, size), and that nothing is left behind (no run directory, no output file,
// a resumed run exactly as it was). Assets: tiny random Qwen3 models with the real Qwen3 tokenizer.
#include <gtest/gtest.h>

#include <fstream>

#include "prospect/core/fs.h"
#include "test_util.h"

using namespace prospect::test;
namespace fs = std::filesystem;

namespace {

void copy_tokenizer(const fs::path& to) {
  for (const auto& e : fs::directory_iterator(qwen3_tokenizer_dir()))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') fs::copy_file(e.path(), to / e.path().filename());
}

// A tiny model; `vocab` 0 keeps the preset's (151936, larger than the tokenizer's ids).
fs::path make_model(const fs::path& dir, int vocab = 0) {
  std::string extra = vocab > 0 ? " --vocab-size " + std::to_string(vocab) : "";
  auto r = run_cli("init --preset tiny --dtype f32 --seed 1 --out '" + dir.string() + "'" + extra);
  if (r.rc != 0) throw std::runtime_error("init failed: " + r.err);
  copy_tokenizer(dir);
  return dir;
}

const fs::path& shared_model() {
  static TempDir dir;
  static fs::path m = make_model(dir / "tiny");
  return m;
}

void head_lines(const fs::path& from, const fs::path& to, int n) {
  std::ifstream in(from);
  std::ofstream out(to);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
}

nlohmann::json config(const fs::path& model, const fs::path& tmp, const std::string& loss = "enhanced_kto") {
  head_lines(source_dir() / "data/demo/train.jsonl", tmp / "train.jsonl", 8);
  return {{"model", {{"path", model.string()}, {"dtype", "f32"}, {"device", "cpu"}}},
          {"lora", {{"r", 2}, {"lora_alpha", 4}, {"target_modules", {"q_proj"}}}},
          {"loss", {{"type", loss}, {"beta", 0.1}}},
          {"data", {{"train", (tmp / "train.jsonl").string()}, {"max_length", 48}}},
          {"train", {{"per_device_train_batch_size", 4}, {"max_steps", 2}, {"logging_steps", 1}, {"save_steps", 1}}},
          {"output_dir", (tmp / "run").string()}};
}

fs::path write(const fs::path& p, const nlohmann::json& j) {
  std::ofstream(p) << j.dump(2);
  return p;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Exactly one "error: " line on stderr (logs before it are fine), carrying every fragment, and no
// raw library text (a LibTorch backtrace, std::terminate).
void expect_one_error(const RunResult& r, std::initializer_list<std::string> parts) {
  EXPECT_NE(r.rc, 0);
  std::string line;
  int count = 0;
  for (size_t pos = 0; pos < r.err.size();) {
    size_t nl = r.err.find('\n', pos);
    std::string l = r.err.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (l.rfind("error: ", 0) == 0) line = l, ++count;
    pos = nl == std::string::npos ? r.err.size() : nl + 1;
  }
  EXPECT_EQ(count, 1) << r.err;
  for (const auto& p : parts) EXPECT_NE(line.find(p), std::string::npos) << "missing '" << p << "' in: " << r.err;
  for (const char* raw : {"Exception raised from", "terminate called", "filesystem error"})
    EXPECT_EQ(r.err.find(raw), std::string::npos) << r.err;
}

}  // namespace

TEST(Reliability, MissingModelDirectoryLeavesNoRunDirectory) {
  TempDir tmp;
  auto j = config(tmp / "no-such-model", tmp.path());
  j["model"]["tokenizer"] = shared_model().string();
  auto r = run_cli("train " + q(write(tmp / "c.json", j)) + " --no-progress");
  expect_one_error(r, {"no-such-model", "model directory does not exist"});
  EXPECT_FALSE(fs::exists(tmp / "run"));
  // The dry run applies the same check.
  auto d = run_cli("train " + q(tmp / "c.json") + " --dry-run");
  expect_one_error(d, {"no-such-model", "model directory does not exist"});
}

TEST(Reliability, TokenizerIdsBeyondTheModelVocabularyAreNamedAtDataPreparation) {
  TempDir tmp;
  auto model = make_model(tmp / "small-vocab", 1000);
  auto r = run_cli("train " + q(write(tmp / "c.json", config(model, tmp.path()))) + " --no-progress");
  expect_one_error(r, {"data.train", "token id", "vocab_size 1000"});
  EXPECT_FALSE(fs::exists(tmp / "run"));
  auto s = run_cli("score --model " + q(model) + " --text 'Hello world, this is a test'");
  expect_one_error(s, {"--text", "outside the model's vocabulary [0, 1000)"});
  std::ofstream(tmp / "mc.jsonl") << R"({"context": "Is it?", "choices": ["yes", "no"], "label": 0})" << "\n";
  auto e = run_cli("eval --model " + q(model) + " --task multiple_choice --data " + q(tmp / "mc.jsonl") +
                   " --output " + q(tmp / "out/res.json"));
  expect_one_error(e, {"token id", "vocab_size 1000"});
  EXPECT_FALSE(fs::exists(tmp / "out"));
}

TEST(Reliability, PairedLossOnUnpairedDataFailsInTheDryRun) {
  TempDir tmp;
  auto j = config(shared_model(), tmp.path(), "dpo");
  std::ofstream(tmp / "unpaired.jsonl") << R"({"prompt": "Hi", "completion": " there", "label": true})" << "\n"
                                        << R"({"prompt": "Yo", "completion": " no", "label": false})" << "\n";
  j["data"]["train"] = (tmp / "unpaired.jsonl").string();
  auto d = run_cli("train " + q(write(tmp / "c.json", j)) + " --dry-run");
  expect_one_error(d, {"data.train", "needs paired preference data"});
  auto r = run_cli("train " + q(tmp / "c.json") + " --no-progress");
  expect_one_error(r, {"data.train", "needs paired preference data"});
  EXPECT_FALSE(fs::exists(tmp / "run"));
}

TEST(Reliability, OutputUnderARegularFileIsRefusedBeforeAnyWork) {
  TempDir tmp;
  std::ofstream(tmp / "file") << "x";
  auto j = config(shared_model(), tmp.path());
  j["output_dir"] = (tmp / "file" / "run").string();
  auto r = run_cli("train " + q(write(tmp / "c.json", j)) + " --dry-run");
  expect_one_error(r, {"output_dir", "is not a directory"});
  auto m = run_cli("merge --model " + q(shared_model()) + " --adapter " + q(tmp / "none") + " --out " +
                   q(tmp / "file" / "merged"));
  expect_one_error(m, {"--out", "is not a directory"});
  auto e = run_cli("eval --model " + q(shared_model()) + " --task multiple_choice --data " + q(tmp / "none.jsonl") +
                   " --output " + q(tmp / "file" / "r.json"));
  expect_one_error(e, {"--output", "is not a directory"});
  auto x = run_cli("export --model " + q(tmp / "missing") + " --out " + q(tmp / "new" / "exported"));
  expect_one_error(x, {"missing", "model directory does not exist"});
  EXPECT_FALSE(fs::exists(tmp / "new"));
}

TEST(Reliability, ResumeNamesCheckpointsRelativeToTheRunAndFailsWithoutTouchingIt) {
  TempDir tmp;
  auto c = write(tmp / "c.json", config(shared_model(), tmp.path()));
  auto r = run_cli("train " + q(c) + " --no-progress");
  ASSERT_EQ(r.rc, 0) << r.err;
  const fs::path run = tmp / "run";
  ASSERT_TRUE(fs::is_directory(run / "checkpoint-1"));
  const std::string metrics = prospect::read_text_file(run / "metrics.jsonl");
  const std::string cfg = prospect::read_text_file(run / "config.json");

  // Missing checkpoint: named before data and model load; the run is untouched.
  auto bad = run_cli("train " + q(c) + " --no-progress --resume checkpoint-9 --set train.max_steps=3");
  expect_one_error(bad, {"checkpoint-9", "checkpoint not found"});
  EXPECT_EQ(prospect::read_text_file(run / "metrics.jsonl"), metrics);
  EXPECT_EQ(prospect::read_text_file(run / "config.json"), cfg);

  // A corrupt checkpoint fails at load, also before anything in the run changes.
  fs::copy(run / "checkpoint-1", tmp / "broken", fs::copy_options::recursive);
  std::ofstream(tmp / "broken" / "optimizer.safetensors") << "garbage";
  auto corrupt = run_cli("train " + q(c) + " --no-progress --resume " + q(tmp / "broken") + " --set train.max_steps=3");
  expect_one_error(corrupt, {"optimizer.safetensors"});
  EXPECT_EQ(prospect::read_text_file(run / "metrics.jsonl"), metrics);
  EXPECT_EQ(prospect::read_text_file(run / "config.json"), cfg);

  // What a kill during a checkpoint write leaves is removed by the next start of the run.
  fs::create_directories(run / ".checkpoint-3.tmp-1a2b3c4d");
  std::ofstream(run / ".checkpoint-3.tmp-1a2b3c4d" / "adapter_model.safetensors") << "partial";
  std::ofstream(run / "metrics.jsonl.tmp-deadbeef") << "partial";
  auto ok = run_cli("train " + q(c) + " --no-progress --resume checkpoint-1 --set train.max_steps=3");
  ASSERT_EQ(ok.rc, 0) << ok.err;
  EXPECT_TRUE(fs::is_directory(run / "checkpoint-3"));
  EXPECT_FALSE(fs::exists(run / ".checkpoint-3.tmp-1a2b3c4d"));
  EXPECT_FALSE(fs::exists(run / "metrics.jsonl.tmp-deadbeef"));
  auto last = prospect::read_json_file(run / "trainer_state.json");
  EXPECT_EQ(last["global_step"], 3);
}

TEST(Reliability, GenerateRespectsMaxPositionEmbeddings) {
  TempDir tmp;
  fs::copy(shared_model(), tmp / "m", fs::copy_options::recursive);
  auto cfg = prospect::read_json_file(tmp / "m" / "config.json");
  cfg["max_position_embeddings"] = 8;
  prospect::write_json_file_atomic(tmp / "m" / "config.json", cfg);
  auto r = run_cli("generate --model " + q(tmp / "m") + " --ids 1,2,3,4,5,6,7,8 --max-new-tokens 2");
  expect_one_error(r, {"8 tokens", "max_position_embeddings is 8"});
  // 5 prompt tokens + 10 requested: bounded to the 3 positions left, with a warning.
  auto g = run_cli("generate --model " + q(tmp / "m") + " --ids 1,2,3,4,5 --max-new-tokens 10");
  ASSERT_EQ(g.rc, 0) << g.err;
  auto out = nlohmann::json::parse(g.out);
  EXPECT_LE(out["ids"].size(), 3u);
  EXPECT_NE(g.err.find("max_position_embeddings 8"), std::string::npos) << g.err;
}

TEST(Reliability, DecodeRejectsIdsOutsideTheVocabulary) {
  auto r = run_cli("tokenize --tokenizer " + q(qwen3_tokenizer_dir()) + " --decode 9707,99999999");
  expect_one_error(r, {"--decode", "99999999", "not in the tokenizer's vocabulary"});
  auto ok = run_cli("tokenize --tokenizer " + q(qwen3_tokenizer_dir()) + " --decode 9707");
  EXPECT_EQ(ok.rc, 0) << ok.err;
  auto m = run_cli("tokenize --tokenizer /nonexistent/tok --text hi");
  expect_one_error(m, {"/nonexistent/tok", "tokenizer directory does not exist"});
}
