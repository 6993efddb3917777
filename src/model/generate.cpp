#include "prospect/model/generate.h"

#include <spdlog/spdlog.h>

#include "prospect/core/error.h"
#include "prospect/core/fs.h"

namespace prospect::model {

torch::Tensor sample_next(const torch::Tensor& logits_in, const GenerateOptions& opts, at::Generator& gen) {
  auto logits = logits_in.to(torch::kFloat32);  // [B, V]
  if (opts.temperature <= 0.0) return logits.argmax(-1);
  logits = logits / opts.temperature;
  const double neg_inf = -std::numeric_limits<double>::infinity();
  const int64_t V = logits.size(-1);
  if (opts.top_k > 0 && opts.top_k < V) {
    auto kth = std::get<0>(logits.topk(opts.top_k, -1)).slice(-1, opts.top_k - 1);  // [B, 1]
    logits = logits.masked_fill(logits < kth, neg_inf);
  }
  if (opts.top_p < 1.0) {
    // As TopPLogitsWarper: ascending sort, drop the tokens whose cumulative mass is <= 1 - top_p,
    // always keeping the most likely one.
    auto [sorted, idx] = logits.sort(-1, /*descending=*/false);
    auto cum = sorted.softmax(-1).cumsum(-1);
    auto remove = cum <= (1.0 - opts.top_p);
    remove.select(-1, V - 1).fill_(false);
    auto remove_orig = torch::zeros_like(remove).scatter(-1, idx, remove);
    logits = logits.masked_fill(remove_orig, neg_inf);
  }
  auto probs = logits.softmax(-1);
  return torch::multinomial(probs, 1, false, gen).squeeze(-1);
}

std::vector<std::vector<int64_t>> generate(CausalLM& model, const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& opts) {
  const int64_t B = (int64_t)prompts.size();
  std::vector<std::vector<int64_t>> out(B);
  if (B == 0 || opts.max_new_tokens <= 0) return out;
  int64_t Tmax = 0;
  for (const auto& p : prompts) {
    check(!p.empty(), "generate", "empty prompt");
    Tmax = std::max<int64_t>(Tmax, (int64_t)p.size());
  }
  // Positions past max_position_embeddings lie outside what the model was trained for (and its
  // rotary tables): a prompt that long is refused, the new tokens are bounded by what is left.
  const int64_t P = model->config().max_position_embeddings;
  if (P > 0 && Tmax >= P)
    throw Error("generate", "the prompt has " + std::to_string(Tmax) + " tokens; the model's max_position_embeddings is " +
                                std::to_string(P) + ", leaving no room for a new token");
  int64_t max_new = opts.max_new_tokens;
  if (P > 0 && Tmax + max_new > P) {
    spdlog::warn("generate: {} prompt tokens + {} new tokens exceed max_position_embeddings {}; generating at most {}",
                 Tmax, max_new, P, P - Tmax);
    max_new = P - Tmax;
  }
  torch::NoGradGuard ng;
  const auto dev = model->device();
  auto ids = torch::full({B, Tmax}, opts.pad_id, torch::kInt64);
  auto mask = torch::zeros({B, Tmax}, torch::kInt64);
  bool padded = false;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = (int64_t)prompts[b].size(), off = Tmax - n;
    padded |= off > 0;
    for (int64_t t = 0; t < n; ++t) {
      if (prompts[b][t] < 0 || prompts[b][t] >= model->config().vocab_size)
        throw Error("generate", "token id " + std::to_string(prompts[b][t]) + " outside the vocabulary [0, " +
                                    std::to_string(model->config().vocab_size) + ")");
      ids[b][off + t] = prompts[b][t];
    }
    mask.slice(0, b, b + 1).slice(1, off).fill_(1);
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opts.seed);
  KVCache cache;
  ForwardOptions fo;
  fo.cache = &cache;
  torch::Tensor pos;  // [B, 1] last position per row
  if (padded) {
    fo.attention_mask = mask.to(dev);
    auto p = (mask.cumsum(1) - 1).masked_fill(mask == 0, 1);  // as transformers' generate
    fo.position_ids = p.to(dev);
    pos = p.slice(1, Tmax - 1);
  }
  auto hidden = model->forward(ids.to(dev), fo);  // [B, Tmax, E]
  std::vector<bool> done(B, false);
  for (int64_t step = 0; step < max_new; ++step) {
    auto logits = model->logits(hidden.select(1, hidden.size(1) - 1)).to(torch::kCPU, torch::kFloat32);  // [B, V]
    auto next = sample_next(logits, opts, gen);  // [B]
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) {
        next[b] = opts.pad_id;
        continue;
      }
      const int64_t id = next[b].item<int64_t>();
      out[b].push_back(id);
      if (std::find(opts.eos_ids.begin(), opts.eos_ids.end(), id) != opts.eos_ids.end()) done[b] = true;
      all_done &= done[b];
    }
    if (all_done || step + 1 == max_new) break;
    ForwardOptions so;
    so.cache = &cache;
    if (padded) {
      mask = torch::cat({mask, torch::ones({B, 1}, torch::kInt64)}, 1);
      pos = pos + 1;
      so.attention_mask = mask.to(dev);
      so.position_ids = pos.to(dev);
    }
    hidden = model->forward(next.unsqueeze(1).to(dev), so);  // [B, 1, E]
  }
  return out;
}

std::vector<int64_t> generation_eos_ids(const std::filesystem::path& dir) {
  std::vector<int64_t> ids;
  auto collect = [&](const nlohmann::json& j, const std::string& src) {
    if (!j.is_object() || !j.contains("eos_token_id") || j["eos_token_id"].is_null()) return false;
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) ids.push_back(e.get<int64_t>());
    else if (e.is_array()) {
      for (const auto& x : e) {
        if (!x.is_number_integer()) throw Error(src, "eos_token_id entries must be integers");
        ids.push_back(x.get<int64_t>());
      }
    } else {
      throw Error(src, "eos_token_id must be an integer or a list of integers");
    }
    return true;
  };
  const auto g = dir / "generation_config.json";
  if (std::filesystem::exists(g) && collect(read_json_file(g), g.string())) return ids;
  const auto c = dir / "config.json";
  if (std::filesystem::exists(c)) collect(read_json_file(c), c.string());
  return ids;
}

nlohmann::json default_generation_config(const ModelConfig& c) {
  if (c.model_type == "qwen3" && c.bos_token_id == 151643 && c.eos_token_id == 151645) {
    return {{"bos_token_id", 151643}, {"pad_token_id", 151643}, {"eos_token_id", {151645, 151643}},
            {"do_sample", true},      {"temperature", 0.6},     {"top_k", 20},
            {"top_p", 0.95},          {"transformers_version", "4.51.0"}};
  }
  nlohmann::json j = nlohmann::json::object();
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.raw.is_object() && c.raw.contains("eos_token_id") && !c.raw["eos_token_id"].is_null())
    j["eos_token_id"] = c.raw["eos_token_id"];
  else if (c.eos_token_id)
    j["eos_token_id"] = *c.eos_token_id;
  if (c.pad_token_id) j["pad_token_id"] = *c.pad_token_id;
  j["transformers_version"] = "4.51.0";
  return j;
}

}  // namespace prospect::model
