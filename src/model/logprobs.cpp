#include "prospect/model/logprobs.h"

#include "prospect/core/error.h"

namespace prospect::model {

namespace {

// Rows per block: at most `chunk`, and at most ~32M logits (128 MB fp32) at once whatever V is.
int64_t block_rows(int64_t chunk, int64_t V) {
  const int64_t budget = (int64_t)1 << 25;
  return std::max<int64_t>(1, std::min<int64_t>(std::max<int64_t>(chunk, 1), budget / std::max<int64_t>(V, 1)));
}

// log p(target) = logit[target] - logsumexp(logits), per row, with the LM head applied block by block.
// Backward recomputes each block's logits: d lp_i / d logits_i = onehot(target_i) - softmax(logits_i),
// so grad_hidden = ((onehot - p) * g) @ W and grad_W = ((onehot - p) * g)^T @ hidden.
struct SelectedLogprobsFn : public torch::autograd::Function<SelectedLogprobsFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor hidden, torch::Tensor head,
                               torch::Tensor targets, int64_t rows) {
    const int64_t N = hidden.size(0);
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(hidden.device());
    auto out = torch::empty({N}, f32);  // [N]
    auto lse = torch::empty({N}, f32);  // [N]
    for (int64_t s = 0; s < N; s += rows) {
      const int64_t e = std::min(N, s + rows);
      auto logits = torch::nn::functional::linear(hidden.slice(0, s, e), head).to(torch::kFloat32);  // [c, V]
      auto l = logits.logsumexp(1);                                                                 // [c]
      auto tgt = logits.gather(1, targets.slice(0, s, e).unsqueeze(1)).squeeze(1);                  // [c]
      out.slice(0, s, e).copy_(tgt - l);
      lse.slice(0, s, e).copy_(l);
    }
    ctx->save_for_backward({hidden, head, targets, lse});
    ctx->saved_data["rows"] = rows;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto hidden = saved[0], head = saved[1], targets = saved[2], lse = saved[3];
    const int64_t rows = ctx->saved_data["rows"].toInt();
    auto g = grads[0].to(torch::kFloat32);  // [N]
    const int64_t N = hidden.size(0);
    const bool need_h = hidden.requires_grad(), need_w = head.requires_grad();
    torch::Tensor gh, gw;
    if (need_h) gh = torch::empty_like(hidden);
    if (need_w) gw = torch::zeros(head.sizes(), head.options().dtype(torch::kFloat32));
    for (int64_t s = 0; s < N; s += rows) {
      const int64_t e = std::min(N, s + rows);
      auto h = hidden.slice(0, s, e);
      auto p = torch::nn::functional::linear(h, head).to(torch::kFloat32);  // [c, V]
      p.sub_(lse.slice(0, s, e).unsqueeze(1)).exp_();                         // softmax
      auto gc = g.slice(0, s, e).unsqueeze(1);                                // [c, 1]
      p.mul_(-gc);
      p.scatter_add_(1, targets.slice(0, s, e).unsqueeze(1), gc);  // (onehot - p) * g
      auto gl = p.to(hidden.scalar_type());                        // [c, V]
      if (need_h) gh.slice(0, s, e).copy_(gl.mm(head));            // [c, E]
      if (need_w) gw.add_(gl.t().mm(h).to(torch::kFloat32));        // [V, E]
    }
    if (need_w) gw = gw.to(head.scalar_type());
    return {gh, gw, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor selected_logprobs(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets,
                                int64_t chunk) {
  check(hidden.dim() == 2 && head.dim() == 2 && hidden.size(1) == head.size(1), "selected_logprobs",
        "hidden must be [N, E] and head [V, E]");
  check(targets.dim() == 1 && targets.size(0) == hidden.size(0), "selected_logprobs", "targets must be [N]");
  auto tg = targets.to(hidden.device(), torch::kInt64);
  if (hidden.size(0) == 0) return torch::zeros({0}, hidden.options().dtype(torch::kFloat32)) + hidden.sum() * 0;
  return SelectedLogprobsFn::apply(hidden.contiguous(), head, tg, block_rows(chunk, head.size(0)));
}

torch::Tensor selected_logprobs_reference(const torch::Tensor& hidden, const torch::Tensor& head,
                                          const torch::Tensor& targets) {
  auto logits = torch::nn::functional::linear(hidden, head).to(torch::kFloat32);  // [N, V]
  return logits.log_softmax(-1).gather(1, targets.to(hidden.device(), torch::kInt64).unsqueeze(1)).squeeze(1);
}

namespace {

// Flat row indices r = b*T + t (t < T-1) of the positions whose next token is scored.
torch::Tensor scored_rows(const torch::Tensor& sel, int64_t T) {  // sel [B, T-1] bool
  auto flat = sel.reshape(-1).nonzero().squeeze(1);  // into B*(T-1)
  auto b = flat.div(T - 1, "floor");
  return b * T + (flat - b * (T - 1));
}

}  // namespace

SequenceLogps sequence_logprobs(CausalLM& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                const torch::Tensor& completion_mask, bool gradient_checkpointing) {
  check(input_ids.dim() == 2, "sequence_logprobs", "input_ids must be [B, T]");
  check(completion_mask.sizes() == input_ids.sizes(), "sequence_logprobs", "completion_mask must be [B, T]");
  const auto dev = model->device();
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  auto ids = input_ids.to(dev, torch::kInt64);
  ForwardOptions fo;
  if (attention_mask.defined()) fo.attention_mask = attention_mask.to(dev);
  fo.gradient_checkpointing = gradient_checkpointing;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  if (T < 2) return {torch::zeros({B}, f32), torch::zeros({B}, torch::TensorOptions().dtype(torch::kInt64).device(dev))};
  auto hidden = model->forward(ids, fo);  // [B, T, E]
  auto sel = completion_mask.to(dev).slice(1, 1) != 0;  // [B, T-1]: token t+1 is scored from position t
  // Both the predicting position and the target must be real tokens (left padding included).
  if (attention_mask.defined())
    sel = sel & (fo.attention_mask.slice(1, 1) != 0) & (fo.attention_mask.slice(1, 0, T - 1) != 0);
  auto rows = scored_rows(sel, T);  // [N]
  const int64_t E = hidden.size(-1);
  auto h = hidden.reshape({B * T, E}).index_select(0, rows);  // [N, E]
  auto tg = ids.reshape({B * T}).index_select(0, rows + 1);   // [N]
  auto lp = selected_logprobs(h, model->lm_head_weight(), tg);  // [N] fp32
  auto sum = torch::zeros({B}, f32).index_add(0, rows.div(T, "floor"), lp);  // [B]
  return {sum, sel.sum(1)};
}

torch::Tensor token_logprobs(CausalLM& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                             const torch::Tensor& position_ids) {
  check(input_ids.dim() == 2, "token_logprobs", "input_ids must be [B, T]");
  torch::NoGradGuard ng;
  const auto dev = model->device();
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  auto out = torch::zeros({B, T}, torch::TensorOptions().dtype(torch::kFloat32).device(dev));
  if (T < 2) return out;
  auto ids = input_ids.to(dev, torch::kInt64);
  ForwardOptions fo;
  if (attention_mask.defined()) fo.attention_mask = attention_mask.to(dev);
  if (position_ids.defined()) fo.position_ids = position_ids.to(dev);
  auto hidden = model->forward(ids, fo);  // [B, T, E]
  auto sel = attention_mask.defined()
                 ? (fo.attention_mask.slice(1, 1) != 0) & (fo.attention_mask.slice(1, 0, T - 1) != 0)
                 : torch::ones({B, T - 1}, torch::TensorOptions().dtype(torch::kBool).device(dev));
  auto rows = scored_rows(sel, T);
  auto h = hidden.reshape({B * T, hidden.size(-1)}).index_select(0, rows);
  auto lp = selected_logprobs(h, model->lm_head_weight(), ids.reshape({B * T}).index_select(0, rows + 1));
  out.view({B * T}).index_copy_(0, rows + 1, lp);
  return out;
}

}  // namespace prospect::model
