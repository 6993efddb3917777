// GGUF export checked by real llama.cpp: the pinned node-llama-cpp prebuilt CPU binary
// (scripts/fetch_llama_cpp.sh) loads each exported file and returns per-position log-probs
// (tests/gguf/llama_logprobs.mjs), compared with `prospect score` on the same ids.
//
// Tolerances (max |Δ log p| over all positions). llama.cpp's CPU matmul rounds the activations to the
// weight type's "vec_dot" type before each product (F16 -> f16, BF16 -> bf16, Q8_0/Q5_0 -> Q8_0 blocks,
// Q4_K/Q6_K -> Q8_K blocks), so each of the N = 7L + 1 matmuls of a token sees a relative error ε_w from
// the stored weights plus ε_a from its input. To first order the logits move by
// δz ≈ ε·σ_z·√N (independent errors add in quadrature) and |δ log p| ≤ 2·max|δz|; with the test model's
// logit spread σ_z ≈ 3 (initializer_range 0.1, hidden 256), L = 2 (N = 15) and a 3σ tail:
//   tol = 2 · 3 · σ_z · √N · (ε_w + ε_a) ≈ 70 · (ε_w + ε_a)
//   f32    ε = 0 (only summation order)                        -> 1e-4 (the bound)
//   f16    ε_w = ε_a = 2^-12 (RNE half ulp, relative)         -> 70 · 4.9e-4 ≈ 0.034 -> 0.04
//   bf16   ε_w = ε_a = 2^-9                                    -> 70 · 3.9e-3 ≈ 0.27  -> 0.3
//   q8_0   ε = step/√12 relative rms, step = 2·amax/255 ≈ 2.5σ/127 -> ε ≈ 0.0057 each -> 0.8
//   q4_k_m q4_K ε_w ≈ 0.08 (16 levels), Q8_K activations 0.0057   -> 70 · 0.086 ≈ 6 (loose: the mean
//          error is far smaller; it only catches a wrong block layout, which gives errors of O(10)).
// Because these are worst-case sums, the tests also require the mean |Δ log p| to stay well below them.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "prospect/core/fs.h"
#include "prospect/io/gguf_writer.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/lora/lora.h"
#include "prospect/model/causal_lm.h"
#include "test_util.h"

namespace {

using namespace prospect;
using prospect::test::run_cli;
using prospect::test::run_command;
using prospect::test::TempDir;
using json = nlohmann::json;

fs::path llama_pkg() { return test::source_dir() / ".cache" / "node-llama-cpp"; }

// Skips (with the reason) only when node itself is missing; a missing package is a setup error.
bool need_llama() {
  if (run_command("node --version").rc != 0) {
    std::cout << "[  SKIPPED ] node is not installed: the GGUF checks against llama.cpp need node and "
                 "scripts/fetch_llama_cpp.sh\n";
    return false;
  }
  EXPECT_TRUE(fs::is_directory(llama_pkg() / "node_modules" / "node-llama-cpp"))
      << "node-llama-cpp is missing: run scripts/fetch_llama_cpp.sh";
  return fs::is_directory(llama_pkg() / "node_modules" / "node-llama-cpp");
}

json llama_run(const json& req, const fs::path& dir) {
  const auto f = dir / "llama_req.json";
  std::ofstream(f) << req.dump();
  const auto r = run_command("node '" + (test::source_dir() / "tests" / "gguf" / "llama_logprobs.mjs").string() + "' '" +
                             f.string() + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  return r.rc == 0 ? json::parse(r.out) : json();
}

std::string join_ids(const std::vector<int64_t>& ids) {
  std::string s;
  for (auto i : ids) s += (s.empty() ? "" : ",") + std::to_string(i);
  return s;
}

std::vector<double> prospect_score(const fs::path& model, const std::vector<int64_t>& ids, const std::string& adapter = "") {
  const auto r = run_cli("score --model '" + model.string() + "' --ids " + join_ids(ids) +
                         (adapter.empty() ? "" : " --adapter '" + adapter + "'"));
  EXPECT_EQ(r.rc, 0) << r.err;
  std::vector<double> lp;
  if (r.rc != 0) return lp;
  const json j = json::parse(r.out);  // kept alive: a range-for over parse(...)["logprobs"] would dangle
  for (const auto& v : j["logprobs"]) lp.push_back(v.is_null() ? NAN : v.get<double>());
  return lp;
}

struct Diff {
  double max = 0, mean = 0;
};
// llama.cpp's log-probs of every sequence against Prospect's (position 0 has none).
Diff compare(const json& llama, const std::vector<std::vector<double>>& ours) {
  Diff d;
  int n = 0;
  for (size_t s = 0; s < ours.size(); ++s) {
    const auto& l = llama["logprobs"][s];
    EXPECT_EQ(l.size(), ours[s].size());
    for (size_t i = 1; i < ours[s].size() && i < l.size(); ++i) {
      const double e = std::fabs(l[i].get<double>() - ours[s][i]);
      d.max = std::max(d.max, std::isfinite(e) ? e : 1e9);
      d.mean += e, ++n;
    }
  }
  d.mean /= std::max(1, n);
  return d;
}

// GPT-2's byte -> printable-codepoint table (bytes_to_unicode), UTF-8 encoded.
std::vector<std::string> byte_tokens() {
  std::vector<int> cps(256, -1);
  for (int b = '!'; b <= '~'; ++b) cps[b] = b;
  for (int b = 0xA1; b <= 0xAC; ++b) cps[b] = b;
  for (int b = 0xAE; b <= 0xFF; ++b) cps[b] = b;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (cps[b] < 0) cps[b] = 256 + n++;
  std::vector<std::string> out;
  for (int cp : cps) {
    std::string s;
    if (cp < 0x80) s += (char)cp;
    else s += (char)(0xC0 | (cp >> 6)), s += (char)(0x80 | (cp & 0x3F));
    out.push_back(s);
  }
  return out;
}

// A small but complete byte-level BPE tokenizer (Qwen2 pre-tokenizer) for a 512-row vocabulary: the
// 256 byte tokens, a few merges, three special tokens, the rest padding rows.
void write_small_tokenizer(const fs::path& dir) {
  json vocab = json::object();
  const auto bytes = byte_tokens();
  for (int i = 0; i < 256; ++i) vocab[bytes[i]] = i;
  const std::vector<std::pair<std::string, std::string>> merges = {{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}};
  for (size_t i = 0; i < merges.size(); ++i) vocab[merges[i].first + merges[i].second] = 256 + (int)i;
  json m = json::array();
  for (const auto& [a, b] : merges) m.push_back({a, b});
  json added = json::array();
  const char* specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  for (int i = 0; i < 3; ++i)
    added.push_back({{"id", 300 + i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  json tj = {{"version", "1.0"},
             {"added_tokens", added},
             {"normalizer", nullptr},
             {"pre_tokenizer",
              {{"type", "Sequence"},
               {"pretokenizers",
                {{{"type", "Split"},
                  {"pattern", {{"Regex", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                  {"behavior", "Isolated"}, {"invert", false}},
                 {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}}},
             {"post_processor", nullptr},
             {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
             {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"byte_fallback", false},
                        {"vocab", vocab}, {"merges", m}}}};
  std::ofstream(dir / "tokenizer.json") << tj.dump();
  json tc = {{"add_bos_token", false}, {"bos_token", nullptr}, {"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"},
             {"chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}"}};
  std::ofstream(dir / "tokenizer_config.json") << tc.dump();
}

// A random model with a 512-token vocabulary and rows of 256 (so the k-quants apply) except the MLP
// width 320 (ffn_down rows fall back to Q5_0/Q8_0), larger weights than HF's default so that the
// log-probs vary (initializer_range 0.1).
void make_small_model(const fs::path& dir, const std::string& type, uint64_t seed = 1) {
  auto c = model::ModelConfig::preset("tiny");
  c.model_type = type;
  c.architectures = {type == "qwen3" ? "Qwen3ForCausalLM" : type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  c.vocab_size = 512, c.hidden_size = 256, c.intermediate_size = 320, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 64;
  c.qk_norm = type == "qwen3";
  c.qkv_bias = type == "qwen2";
  c.attention_bias = false;
  c.tie_word_embeddings = type != "llama";
  c.bos_token_id = 300, c.eos_token_id = 302;
  c.initializer_range = 0.1;
  c.raw = c.to_json("float32");
  fs::create_directories(dir);
  auto m = model::init_model(c, seed, torch::kFloat32);
  model::save_model(m, dir, torch::kFloat32);
  write_small_tokenizer(dir);
}

const std::vector<std::vector<int64_t>> kIds = {{300, 17, 256, 258, 99, 301, 5, 77, 120, 259, 302, 44, 200, 18, 19, 260},
                                                 {72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 300, 511}};

std::vector<std::vector<double>> prospect_scores(const fs::path& model, const std::string& adapter = "") {
  std::vector<std::vector<double>> ours;
  for (const auto& ids : kIds) ours.push_back(prospect_score(model, ids, adapter));
  return ours;
}

Diff export_and_compare(const fs::path& model, const std::string& dtype, const fs::path& tmp,
                        const std::vector<std::vector<double>>& ours, const std::string& extra = "") {
  const auto out = tmp / ("m-" + dtype + ".gguf");
  const auto r = run_cli("export --format gguf --model '" + model.string() + "' --dtype " + dtype + " --out '" +
                         out.string() + "' --force " + extra);
  EXPECT_EQ(r.rc, 0) << r.err;
  const auto l = llama_run({{"model", out.string()}, {"ids", kIds}, {"kv_f32", dtype == "f32"}}, tmp);
  return compare(l, ours);
}

TEST(GgufCli, Qwen3EveryDtypeAgreesWithLlamaCpp) {
  if (!need_llama()) return;
  TempDir tmp;
  make_small_model(tmp / "m", "qwen3");
  const std::pair<std::string, double> cases[] = {
      {"f32", 1e-4}, {"f16", 0.04}, {"bf16", 0.3}, {"q8_0", 0.8}, {"q4_k_m", 6.0}};
  const auto ours = prospect_scores(tmp / "m");
  for (const auto& [dtype, tol] : cases) {
    const auto d = export_and_compare(tmp / "m", dtype, tmp.path(), ours);
    std::cout << "[ gguf     ] qwen3 " << dtype << ": max |Δ log p| = " << d.max << ", mean = " << d.mean << "\n";
    EXPECT_LE(d.max, tol) << dtype;
    EXPECT_LE(d.mean, tol / 4) << dtype;
  }
  // q4_k_m chose llama-quantize's types: token_embd (= output, tied) Q6_K, attn_v / ffn_down Q6_K in the
  // last layer (use_more_bits), ffn_down (rows of 320) Q5_0 / Q8_0 fallbacks, norms F32.
  const auto g = io::GgufFile::open(tmp / "m-q4_k_m.gguf");
  auto type_of = [&](const std::string& n) { return io::ggml_type_name(g.tensor(n)->type); };
  EXPECT_EQ(type_of("token_embd.weight"), "q6_K");
  EXPECT_EQ(g.tensor("output.weight"), nullptr);
  EXPECT_EQ(type_of("blk.0.attn_q.weight"), "q4_K");
  EXPECT_EQ(type_of("blk.0.attn_v.weight"), "q4_K");
  EXPECT_EQ(type_of("blk.1.attn_v.weight"), "q6_K");
  EXPECT_EQ(type_of("blk.0.ffn_down.weight"), "q5_0");
  EXPECT_EQ(type_of("blk.1.ffn_down.weight"), "q8_0");
  EXPECT_EQ(type_of("blk.0.attn_q_norm.weight"), "f32");
  EXPECT_EQ(g.find("general.file_type")->value, 15);
}

TEST(GgufCli, Qwen2AndLlamaAgreeWithLlamaCpp) {
  if (!need_llama()) return;
  TempDir tmp;
  for (const std::string type : {"qwen2", "llama"}) {
    make_small_model(tmp / type, type);
    const auto d = export_and_compare(tmp / type, "f32", tmp.path(), prospect_scores(tmp / type));
    std::cout << "[ gguf     ] " << type << " f32: max |Δ log p| = " << d.max << "\n";
    EXPECT_LE(d.max, 1e-4) << type;
    const auto g = io::GgufFile::open(tmp.path() / "m-f32.gguf");
    EXPECT_EQ(g.find("general.architecture")->value, type);
    if (type == "qwen2") {
      EXPECT_NE(g.tensor("blk.0.attn_q.bias"), nullptr);
    } else {
      EXPECT_NE(g.tensor("output.weight"), nullptr);  // llama here is untied
    }
  }
}

// A LoRA adapter with non-zero B on every linear (nn.Linear-style init), saved in PEFT layout.
void make_adapter(const fs::path& base, const fs::path& dir, bool rslora) {
  auto m = model::load_model(base, torch::kFloat32, torch::kCPU);
  lora::LoraConfig cfg;
  cfg.r = 4, cfg.lora_alpha = 8, cfg.use_rslora = rslora;
  cfg.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  cfg.init_lora_weights = lora::LoraInit::LinearDefault;
  auto lm = lora::attach_lora(m, cfg, 7);
  lora::save_adapter(lm, dir);
}

TEST(GgufCli, LoraAdapterAndMergedExportAgreeWithScoreAdapter) {
  if (!need_llama()) return;
  TempDir tmp;
  for (const std::string type : {"qwen3", "llama"}) {
    const auto base = tmp / type;
    make_small_model(base, type, 3);
    const auto ad = tmp / (type + "-adapter");
    make_adapter(base, ad, /*rslora=*/type == "llama");  // rsLoRA: the scale is folded into lora_b
    const auto ours = prospect_scores(base, ad.string());
    // llama.cpp: the f32 base GGUF plus the LoRA GGUF.
    ASSERT_EQ(run_cli("export --format gguf --dtype f32 --model '" + base.string() + "' --out '" + (tmp / "base.gguf").string() + "' --force").rc, 0);
    const auto r = run_cli("export --format gguf-lora --model '" + base.string() + "' --adapter '" + ad.string() + "' --out '" +
                           (tmp / "lora.gguf").string() + "' --force");
    ASSERT_EQ(r.rc, 0) << r.err;
    const auto g = io::GgufFile::open(tmp / "lora.gguf");
    EXPECT_EQ(g.find("general.type")->value, "adapter");
    EXPECT_EQ(g.find("adapter.type")->value, "lora");
    EXPECT_FLOAT_EQ(g.find("adapter.lora.alpha")->value.get<float>(), 8.0f);
    ASSERT_NE(g.tensor("blk.1.attn_q.weight.lora_a"), nullptr);
    EXPECT_EQ(g.tensor("blk.1.attn_q.weight.lora_a")->ne, (std::vector<int64_t>{256, 4}));
    EXPECT_EQ(g.tensor("blk.1.attn_q.weight.lora_b")->ne, (std::vector<int64_t>{4, 256}));
    const auto with_lora = llama_run({{"model", (tmp / "base.gguf").string()}, {"lora", (tmp / "lora.gguf").string()}, {"ids", kIds}}, tmp.path());
    const auto d = compare(with_lora, ours);
    std::cout << "[ gguf     ] " << type << " lora: max |Δ log p| = " << d.max << "\n";
    EXPECT_LE(d.max, 1e-4) << type;
    // The adapter must matter (otherwise the comparison above proves nothing).
    EXPECT_GT(compare(with_lora, prospect_scores(base)).max, 1e-2) << type;
    if (type != "qwen3") continue;  // the merge path is architecture-independent: check it once
    // --adapter with --format gguf merges in memory (verified) and agrees as well.
    const auto dm = export_and_compare(base, "f32", tmp.path(), ours, "--adapter '" + ad.string() + "'");
    EXPECT_LE(dm.max, 1e-4) << type << " merged";
  }
}

TEST(GgufCli, RealQwen3VocabularyTokenizesLikeProspect) {
  if (!need_llama()) return;
  TempDir tmp;
  const auto m = tmp / "tiny";
  ASSERT_EQ(run_cli("init --preset tiny --dtype f32 --seed 2 --out '" + m.string() + "'").rc, 0);
  for (const auto* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(test::qwen3_tokenizer_dir() / f, m / f);
  const auto out = tmp / "tiny.gguf";
  const auto r = run_cli("export --format gguf --dtype f32 --model '" + m.string() + "' --out '" + out.string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;

  // Texts whose NFC form is themselves (llama.cpp does not apply Qwen's NFC normaliser).
  const std::vector<std::string> texts = {
      "Hello, world! It's a test: 123 + 4567 = 4690.",
      "  leading spaces\n\nand\ttabs\r\nwindows lines",
      "Grüße aus Köln, ça va? Ñandú.",
      "Привет, как дела? Всё хорошо.",
      "日本語のテキストと漢字、カタカナ。",
      "中文分词测试：我们在北京。",
      "한국어 문장입니다.",
      "مرحبا بالعالم",
      "emoji 👋🏽 and symbols ∑∫√ → ok",
      "code: for (int i = 0; i < n; ++i) { x[i] += 1; }",
      "<think>not special here</think> <|im_start|>"};
  {
    std::ofstream f(tmp / "texts.jsonl");
    for (const auto& t : texts) f << json{{"text", t}}.dump() << "\n";
  }
  const auto tk = run_cli("tokenize --tokenizer '" + m.string() + "' --input '" + (tmp / "texts.jsonl").string() + "'");
  ASSERT_EQ(tk.rc, 0) << tk.err;
  std::vector<std::vector<int64_t>> ours;
  std::istringstream lines(tk.out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) ours.push_back(json::parse(line)["ids"].get<std::vector<int64_t>>());
  // Log-probs on ids that include padding rows and special tokens (the full 151936-row vocabulary).
  const std::vector<std::vector<int64_t>> ids = {{151644, 872, 198, 9707, 11, 1879, 0, 151645, 151935, 151670, 3}};
  const auto l = llama_run({{"model", out.string()}, {"ids", ids}, {"texts", texts}}, tmp.path());
  ASSERT_EQ(l["tokens"].size(), texts.size());
  ASSERT_EQ(ours.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    EXPECT_EQ(l["tokens"][i].get<std::vector<int64_t>>(), ours[i]) << "text: " << texts[i];
  EXPECT_EQ(l["n_vocab"], 151936);
  const auto d = compare(l, {prospect_score(m, ids[0])});
  EXPECT_LE(d.max, 1e-4);

  // Metadata llama.cpp relies on.
  const auto g = io::GgufFile::open(out);
  EXPECT_EQ(g.find("tokenizer.ggml.model")->value, "gpt2");
  EXPECT_EQ(g.find("tokenizer.ggml.pre")->value, "qwen2");
  EXPECT_EQ(g.find("tokenizer.ggml.tokens")->value.size(), 151936u);
  EXPECT_EQ(g.find("tokenizer.ggml.tokens")->value[151700], "[PAD151700]");
  EXPECT_EQ(g.find("tokenizer.ggml.token_type")->value[151700], 5);     // UNUSED
  EXPECT_EQ(g.find("tokenizer.ggml.token_type")->value[151645], 3);     // CONTROL
  EXPECT_EQ(g.find("tokenizer.ggml.token_type")->value[151667], 4);     // <think>: USER_DEFINED
  EXPECT_EQ(g.find("tokenizer.ggml.token_type")->value[9707], 1);       // NORMAL
  EXPECT_EQ(g.find("tokenizer.ggml.eos_token_id")->value, 151645);
  EXPECT_EQ(g.find("tokenizer.ggml.padding_token_id")->value, 151643);
  EXPECT_EQ(g.find("tokenizer.ggml.bos_token_id")->value, 151643);      // from config.json
  EXPECT_EQ(g.find("tokenizer.ggml.add_bos_token")->value, false);
  EXPECT_EQ(g.find("tokenizer.chat_template")->value, read_json_file(m / "tokenizer_config.json")["chat_template"]);
  EXPECT_EQ(g.find("qwen3.attention.key_length")->value, 16);
  EXPECT_EQ(g.find("qwen3.attention.head_count")->value, 4);
  EXPECT_EQ(g.find("qwen3.rope.freq_base")->type, io::GgufType::F32);
  EXPECT_EQ(g.tensor("output.weight"), nullptr);  // tied: no duplicate
  EXPECT_EQ(g.tensor("blk.0.attn_norm.weight")->type, io::GgmlType::F32);
}

TEST(GgufCli, TrainExportGgufWritesTheMergedRun) {
  // One training step on the tiny model with train.export_gguf: the run directory gets a GGUF per dtype.
  TempDir tmp;
  const auto m = tmp / "tiny";
  ASSERT_EQ(run_cli("init --preset tiny --dtype f32 --seed 2 --out '" + m.string() + "'").rc, 0);
  for (const auto* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(test::qwen3_tokenizer_dir() / f, m / f);
  {
    std::ifstream in(test::source_dir() / "data/demo/train.jsonl");
    std::ofstream out(tmp / "train.jsonl");
    std::string line;
    for (int i = 0; i < 4 && std::getline(in, line); ++i) out << line << "\n";
  }
  const json cfg = {{"model", {{"path", m.string()}, {"dtype", "f32"}, {"device", "cpu"}}},
                    {"lora", {{"r", 2}, {"lora_alpha", 4}, {"target_modules", {"q_proj", "v_proj"}}}},
                    {"loss", {{"type", "sft"}}},
                    {"data", {{"train", (tmp / "train.jsonl").string()}, {"max_length", 32}}},
                    {"train", {{"per_device_train_batch_size", 2}, {"max_steps", 1}, {"save_steps", 0},
                               {"export_gguf", {"q8_0"}}}},
                    {"output_dir", (tmp / "run").string()}};
  std::ofstream(tmp / "cfg.json") << cfg.dump();
  const auto r = run_cli("train '" + (tmp / "cfg.json").string() + "' --no-progress");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto g = io::GgufFile::open(tmp / "run" / "model-q8_0.gguf");
  EXPECT_EQ(g.find("general.file_type")->value, 7);
  EXPECT_EQ(g.tensor("blk.0.attn_q.weight")->type, io::GgmlType::Q8_0);
  // An unknown dtype is rejected when the config is read.
  const auto bad = run_cli("train '" + (tmp / "cfg.json").string() + "' --dry-run --set 'train.export_gguf=[\"q3\"]'");
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("q3"), std::string::npos) << bad.err;
}

TEST(GgufCli, InspectListsAndRejectsMalformedFiles) {
  TempDir tmp;
  make_small_model(tmp / "m", "qwen3");
  const auto out = tmp / "m.gguf";
  ASSERT_EQ(run_cli("export --format gguf --dtype q8_0 --model '" + (tmp / "m").string() + "' --out '" + out.string() + "'").rc, 0);
  const auto r = run_cli("inspect '" + out.string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = json::parse(r.out);
  EXPECT_EQ(j["format"], "gguf");
  EXPECT_EQ(j["metadata"]["general.architecture"]["value"], "qwen3");
  EXPECT_EQ(j["metadata"]["tokenizer.ggml.tokens"]["length"], 512);
  EXPECT_EQ(j["tensor_types"]["q8_0"], 1 + 2 * 7);  // token_embd + 7 matrices per layer
  // Exporting again without --force refuses; a q8_0 dtype for --format hf is refused.
  const auto again = run_cli("export --format gguf --dtype q8_0 --model '" + (tmp / "m").string() + "' --out '" + out.string() + "'");
  EXPECT_NE(again.rc, 0);
  EXPECT_NE(again.err.find("output exists"), std::string::npos) << again.err;
  EXPECT_NE(run_cli("export --dtype q8_0 --model '" + (tmp / "m").string() + "' --out '" + (tmp / "hf").string() + "'").rc, 0);
  // A truncated file: one line, non-zero exit.
  std::string bytes;
  {
    std::ifstream in(out, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(tmp / "cut.gguf", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const auto bad = run_cli("inspect '" + (tmp / "cut.gguf").string() + "'");
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("malformed GGUF"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  // No tokenizer next to the model: a clear error, nothing written.
  fs::remove(tmp / "m" / "tokenizer.json");
  const auto nt = run_cli("export --format gguf --model '" + (tmp / "m").string() + "' --out '" + (tmp / "x.gguf").string() + "'");
  EXPECT_NE(nt.rc, 0);
  EXPECT_NE(nt.err.find("tokenizer.json"), std::string::npos) << nt.err;
  EXPECT_FALSE(fs::exists(tmp / "x.gguf"));
}

// fuzz/regressions/gguf: each input once crashed the gguf target - a metadata string that is not
// UTF-8, on which `inspect` threw while printing. It prints every file, bytes it cannot show replaced
// by U+FFFD, and the output parses as JSON.
TEST(GgufCli, InspectPrintsFuzzRegressionsAsValidJson) {
  const auto inputs = prospect::test::fuzz_regressions("gguf");
  ASSERT_FALSE(inputs.empty());
  for (const auto& f : inputs) {
    const auto r = run_cli("inspect '" + f.string() + "'");
    if (r.rc != 0) {  // a clean one-line refusal is also acceptable
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << f << ": " << r.err;
      continue;
    }
    EXPECT_NO_THROW({
      const auto parsed = json::parse(r.out);
      (void)parsed;
    }) << f;
    EXPECT_NE(r.out.find("\xEF\xBF\xBD"), std::string::npos) << f << ": no replaced bytes in " << r.out.substr(0, 400);
  }
}

}  // namespace
