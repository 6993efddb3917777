#include "prospect/model/shared_prefix.h"

#include "prospect/core/error.h"

namespace prospect::model {

torch::Tensor common_prefix_lengths(const torch::Tensor& ids_a, const torch::Tensor& attn_a,
                                    const torch::Tensor& ids_b, const torch::Tensor& attn_b) {
  check(ids_a.dim() == 2 && ids_b.dim() == 2 && ids_a.size(0) == ids_b.size(0), "common_prefix_lengths",
        "both row sets must be [B, T] with the same B");
  const int64_t B = ids_a.size(0), T = std::min(ids_a.size(1), ids_b.size(1));
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  if (T == 0) return torch::zeros({B}, i64);
  auto cpu = [&](const torch::Tensor& t) {  // undefined attention mask: all real
    return t.defined() ? t.slice(1, 0, T).to(torch::kCPU, torch::kInt64) : torch::ones({B, T}, i64);
  };
  auto same = (cpu(ids_a) == cpu(ids_b)) & (cpu(attn_a) == cpu(attn_b));  // [B, T]
  // Leading run of equal positions: cumprod stays 1 until the first difference.
  return same.to(torch::kInt64).cumprod(1).sum(1);  // [B]
}

SharedPrefix encode_prefix(CausalLM& model, const torch::Tensor& ids, const torch::Tensor& attention_mask,
                           const torch::Tensor& lengths) {
  check(ids.dim() == 2 && lengths.dim() == 1 && lengths.size(0) == ids.size(0), "encode_prefix",
        "ids must be [B, T] and lengths [B]");
  torch::NoGradGuard ng;
  const int64_t B = ids.size(0);
  SharedPrefix p;
  p.lengths = lengths.to(torch::kCPU, torch::kInt64);
  p.S = B > 0 ? p.lengths.max().item<int64_t>() : 0;
  check(p.S <= ids.size(1), "encode_prefix", "prefix lengths exceed the rows");
  const auto dev = model->device();
  auto keep = torch::arange(p.S, torch::TensorOptions().dtype(torch::kInt64)).unsqueeze(0) < p.lengths.unsqueeze(1);
  auto am = attention_mask.defined() ? attention_mask.slice(1, 0, p.S).to(torch::kCPU, torch::kInt64)
                                     : torch::ones({B, p.S}, torch::kInt64);
  p.attention_mask = (am * keep).to(dev);  // [B, S]
  if (p.S == 0) return p;
  ForwardOptions fo;
  fo.attention_mask = p.attention_mask;
  fo.capture = &p.kv;
  fo.capture_len = p.S;
  p.hidden = model->forward(ids.slice(1, 0, p.S).to(dev, torch::kInt64), fo);  // [B, S, E]
  return p;
}

SequenceLogps continuation_logprobs(CausalLM& model, const SharedPrefix& prefix, const torch::Tensor& input_ids,
                                    const torch::Tensor& attention_mask, const torch::Tensor& completion_mask) {
  check(input_ids.dim() == 2, "continuation_logprobs", "input_ids must be [B, T]");
  check(completion_mask.sizes() == input_ids.sizes(), "continuation_logprobs", "completion_mask must be [B, T]");
  const int64_t B = input_ids.size(0), T = input_ids.size(1), S = prefix.S;
  check(prefix.lengths.defined() && prefix.lengths.numel() == B, "continuation_logprobs",
        "the prefix has another batch size");
  if (S == 0) {
    torch::NoGradGuard ng;
    return sequence_logprobs(model, input_ids, attention_mask, completion_mask);
  }
  check(prefix.hidden.defined() && (int64_t)prefix.kv.k.size() == model->config().num_hidden_layers,
        "continuation_logprobs", "the prefix was not encoded");
  check(prefix.lengths.max().item<int64_t>() <= T, "continuation_logprobs", "prefix lengths exceed the rows");
  torch::NoGradGuard ng;
  const auto dev = model->device();
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  auto ids = input_ids.to(dev, torch::kInt64);
  auto attn = attention_mask.defined() ? attention_mask.to(dev, torch::kInt64) : torch::ones({B, T}, i64.device(dev));
  if (T < 2) return {torch::zeros({B}, f32), torch::zeros({B}, i64.device(dev))};

  // The continuation of row i: positions s_i .. end_i-1 (end_i: one past its last real token), shifted
  // to start at column 0 and right padded to C columns; it keeps its absolute positions for RoPE.
  auto s = prefix.lengths;  // [B] CPU
  auto pos_cpu = torch::arange(T, i64).unsqueeze(0).expand({B, T});
  auto end = ((attn.to(torch::kCPU) != 0).to(torch::kInt64) * (pos_cpu + 1)).amax(1);  // [B]
  const int64_t C = std::max<int64_t>(0, (end - s).max().item<int64_t>());
  torch::Tensor hidden_c;  // [B, C, E]
  if (C > 0) {
    auto idx = (s.unsqueeze(1) + torch::arange(C, i64).unsqueeze(0)).to(dev);  // [B, C] absolute positions
    auto valid = idx < T;
    auto at = idx.clamp_max(T - 1);
    ForwardOptions fo;
    fo.prefix = &prefix.kv;
    fo.position_ids = idx;
    fo.attention_mask = torch::cat({prefix.attention_mask.to(dev), attn.gather(1, at) * valid}, 1);  // [B, S+C]
    hidden_c = model->forward(ids.gather(1, at), fo);
  } else {
    hidden_c = torch::empty({B, 0, prefix.hidden.size(2)}, prefix.hidden.options());
  }
  // Position t of row b is read from the prefix (t < s_b) or from the continuation (column t - s_b).
  auto rows = scored_positions(attn, completion_mask.to(dev));  // [N] flat b*T + t
  auto b = rows.div(T, "floor"), t = rows - b * T;
  auto sb = s.to(dev).index_select(0, b);
  auto col = torch::where(t < sb, t, S + t - sb);
  auto all = torch::cat({prefix.hidden.to(dev), hidden_c}, 1);  // [B, S+C, E]
  const int64_t E = all.size(2);
  auto h = all.reshape({B * (S + C), E}).index_select(0, b * (S + C) + col);  // [N, E]
  auto lp = selected_logprobs(h, model->lm_head_weight(), ids.reshape({B * T}).index_select(0, rows + 1));
  auto sum = torch::zeros({B}, f32).index_add(0, b, lp);
  auto count = torch::zeros({B}, i64.device(dev)).index_add(0, b, torch::ones_like(b));
  return {sum, count};
}

std::pair<SequenceLogps, SequenceLogps> shared_prefix_logprobs(CausalLM& model, const torch::Tensor& ids_a,
                                                               const torch::Tensor& attn_a,
                                                               const torch::Tensor& cmask_a,
                                                               const torch::Tensor& ids_b,
                                                               const torch::Tensor& attn_b,
                                                               const torch::Tensor& cmask_b) {
  torch::NoGradGuard ng;
  auto lengths = common_prefix_lengths(ids_a, attn_a, ids_b, attn_b);
  auto prefix = encode_prefix(model, ids_a, attn_a, lengths);
  return {continuation_logprobs(model, prefix, ids_a, attn_a, cmask_a),
          continuation_logprobs(model, prefix, ids_b, attn_b, cmask_b)};
}

}  // namespace prospect::model
