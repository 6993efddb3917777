#include "prospect/lora/export.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <map>
#include <set>

#include "prospect/core/device.h"
#include "prospect/core/error.h"
#include "prospect/core/fs.h"
#include "prospect/io/checkpoint.h"
#include "prospect/lora/adapter_io.h"
#include "prospect/lora/merge.h"
#include "prospect/model/causal_lm.h"
#include "prospect/model/logprobs.h"

namespace prospect::lora {
namespace fs = std::filesystem;

double verify_tolerance(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kBFloat16: return 0.5;
    case torch::kFloat16: return 0.1;
    default: return 1e-4;
  }
}

torch::Tensor probe_ids(int64_t vocab, int64_t n, int64_t T) {
  auto ids = torch::empty({n, T}, torch::kInt64);  // [n, T]
  auto a = ids.accessor<int64_t, 2>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t t = 0; t < T; ++t) a[b][t] = (1 + 7919 * b + 104729 * t + 31 * b * t * t) % vocab;
  return ids;
}

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {
      "tokenizer.json",          "tokenizer_config.json", "vocab.json",        "merges.txt",
      "tokenizer.model",         "special_tokens_map.json", "chat_template.jinja", "added_tokens.json"};
  return names;
}

std::vector<std::string> copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  std::vector<std::string> copied;
  for (const auto& n : tokenizer_file_names()) {
    if (!fs::is_regular_file(from / n)) continue;
    fs::copy_file(from / n, to / n, fs::copy_options::overwrite_existing);
    copied.push_back(n);
  }
  return copied;
}

namespace {

// fp32 per-token log-probs of the probes [n, T] (position 0 is 0 by definition, so it never differs).
torch::Tensor score(model::CausalLM& m, const torch::Tensor& ids) {
  torch::NoGradGuard ng;
  return model::token_logprobs(m, ids.to(m->device())).to(torch::kCPU);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (!torch::isfinite(a).all().item<bool>() || !torch::isfinite(b).all().item<bool>()) return NAN;
  return (a - b).abs().max().item<double>();
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

void verify(double diff, double tol, const std::string& stage) {
  if (std::isnan(diff))
    throw Error("merge verification", stage + ": non-finite log-probs on the probe sequences (corrupt adapter "
                                              "or overflow in the output dtype); nothing written");
  if (diff > tol)
    throw Error("merge verification", stage + ": max |log p(adapter) - log p(merged)| = " + fmt(diff) +
                                          " exceeds the tolerance " + fmt(tol) + "; nothing written");
}

}  // namespace

nlohmann::json export_hf(const ExportOptions& opts, const fs::path& out_dir) {
  const auto base_cfg = model::ModelConfig::load(opts.model_dir);
  const torch::ScalarType dtype = opts.dtype ? *opts.dtype : parse_dtype(base_cfg.torch_dtype);
  const double tol32 = opts.tolerance_f32 ? *opts.tolerance_f32 : 1e-4;
  const double tol = opts.tolerance ? *opts.tolerance : verify_tolerance(dtype);

  // Everything is computed in fp32 on the requested device; the output is cast once at the end.
  auto m = model::load_model(opts.model_dir, torch::kFloat32, opts.device);
  m->eval();
  const auto ids = probe_ids(base_cfg.vocab_size, opts.probe_sequences, opts.probe_tokens);

  nlohmann::json summary;
  summary["model"] = opts.model_dir.string();
  summary["adapter"] = opts.adapter_dir ? nlohmann::json(opts.adapter_dir->string()) : nlohmann::json(nullptr);
  summary["dtype"] = short_dtype_name(dtype);
  summary["probe_sequences"] = opts.probe_sequences;
  summary["probe_tokens"] = opts.probe_tokens;

  torch::Tensor reference;  // [n, T] the adapter model's (or the fp32 base's) log-probs
  if (opts.adapter_dir) {
    auto lm = load_adapter(m, *opts.adapter_dir, "default", /*trainable=*/false, torch::kFloat32);
    const auto& cfg = lm.config("default");
    summary["adapter_r"] = cfg.r;
    summary["adapter_alpha"] = cfg.lora_alpha;
    summary["use_rslora"] = cfg.use_rslora;
    summary["use_dora"] = cfg.use_dora;
    reference = score(m, ids);
    summary["merged_modules"] = merge_into(m, "default");
    const double d32 = max_abs_diff(reference, score(m, ids));
    summary["max_abs_logprob_diff_f32"] = std::isnan(d32) ? nlohmann::json(nullptr) : nlohmann::json(d32);
    summary["tolerance_f32"] = tol32;
    verify(d32, tol32, "fp32 merge");
  } else {
    reference = score(m, ids);
    summary["merged_modules"] = 0;
  }

  // Round every weight through the output dtype so that the probes see exactly what is written.
  if (dtype != torch::kFloat32) {
    torch::NoGradGuard ng;
    for (auto& [k, t] : m->hf_state()) t.set_data(t.detach().to(dtype).to(torch::kFloat32));
  }
  const double d = max_abs_diff(reference, score(m, ids));
  summary["max_abs_logprob_diff"] = std::isnan(d) ? nlohmann::json(nullptr) : nlohmann::json(d);
  summary["tolerance"] = tol;
  verify(d, tol, "after casting to " + short_dtype_name(dtype));

  nlohmann::json gen = nullptr;
  if (fs::is_regular_file(opts.model_dir / "generation_config.json"))
    gen = read_json_file(opts.model_dir / "generation_config.json");
  model::save_model(m, out_dir, dtype, gen, opts.max_shard_bytes);

  // The output must hold exactly the base's tensor names and shapes (a stray lm_head.weight of a tied
  // base is not a model tensor and is dropped, as load_model ignores it).
  const auto base = io::TensorStore::open(opts.model_dir);
  const auto out = io::TensorStore::open(out_dir);
  std::set<std::string> want;
  for (const auto& n : base.names())
    if (!(base_cfg.tie_word_embeddings && n == "lm_head.weight")) want.insert(n);
  const auto got_names = out.names();
  const std::set<std::string> got(got_names.begin(), got_names.end());
  check(got == want, out_dir.string(), "internal: the exported tensor names differ from the base's");
  for (const auto& n : want)
    check(out.info(n).shape == base.info(n).shape, n, "internal: exported shape differs from the base's");
  summary["tensors"] = want.size();

  // Tokenizer: the base's files, overridden by the adapter's (a trainer may save a modified template).
  auto tok = copy_tokenizer_files(opts.model_dir, out_dir);
  if (opts.adapter_dir)
    for (const auto& n : copy_tokenizer_files(*opts.adapter_dir, out_dir))
      if (std::find(tok.begin(), tok.end(), n) == tok.end()) tok.push_back(n);
  summary["tokenizer_files"] = tok;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(out_dir)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  summary["files"] = files;
  return summary;
}

}  // namespace prospect::lora
