#include "prospect/model/logprobs.h"

#include "prospect/core/error.h"
#include "prospect/model/shared_prefix.h"

namespace prospect::model {

namespace {

// Rows per block: at most `chunk`, and at most ~32M logits (128 MB fp32) at once whatever V is.
int64_t block_rows(int64_t chunk, int64_t V) {
  const int64_t budget = (int64_t)1 << 25;
  return std::max<int64_t>(1, std::min<int64_t>(std::max<int64_t>(chunk, 1), budget / std::max<int64_t>(V, 1)));
}

// log p(target) = logit[target] - logsumexp(logits), per row, with the LM head applied block by block
// into one reused [rows, V] buffer (a fresh block per chunk would be page-faulted in every time).
// d lp_i / d logits_i = onehot(target_i) - softmax(logits_i), so with upstream gradient g:
// grad_hidden_i = g_i * ((onehot - p_i) @ W) and grad_W = ((onehot - p) * g)^T @ hidden.
// When only the hidden state needs a gradient (LoRA: the head is frozen), u_i = (onehot - p_i) @ W
// is computed in the forward while the block's logits are at hand and saved ([N, E]); backward is
// then g * u, and the head is not recomputed. Otherwise backward recomputes each block's logits.
struct SelectedLogprobsFn : public torch::autograd::Function<SelectedLogprobsFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor hidden, torch::Tensor head,
                               torch::Tensor targets, int64_t rows) {
    const int64_t N = hidden.size(0), V = head.size(0);
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(hidden.device());
    const bool eager = hidden.requires_grad() && !head.requires_grad();
    auto out = torch::empty({N}, f32);  // [N]
    auto lse = torch::empty({N}, f32);  // [N]
    torch::Tensor unit;                 // [N, E] fp32: (onehot - p) @ W
    if (eager) unit = torch::empty({N, hidden.size(1)}, f32);
    auto buf = torch::empty({std::min(rows, N), V}, hidden.options());  // [rows, V] model dtype
    torch::Tensor buf32;  // fp32 copy for a low-precision model
    for (int64_t s = 0; s < N; s += rows) {
      const int64_t e = std::min(N, s + rows);
      auto raw = buf.narrow(0, 0, e - s);
      at::mm_out(raw, hidden.slice(0, s, e), head.t());  // [c, V]
      torch::Tensor logits = raw;
      if (raw.scalar_type() != torch::kFloat32) {
        if (!buf32.defined()) buf32 = torch::empty({std::min(rows, N), V}, f32);
        logits = buf32.narrow(0, 0, e - s);
        logits.copy_(raw);
      }
      // log-softmax in place on the block: no [c, V] temporaries (each would be a fresh allocation).
      auto tg = targets.slice(0, s, e).unsqueeze(1);  // [c, 1]
      auto tgt = logits.gather(1, tg).squeeze(1);     // [c]
      auto mx = std::get<0>(logits.max(1, /*keepdim=*/true));  // [c, 1]
      logits.sub_(mx).exp_();                                    // exp(logit - max)
      auto sum = logits.sum(1, /*keepdim=*/true);                // [c, 1]
      auto l = (mx + sum.log()).squeeze(1);                      // [c] logsumexp
      out.slice(0, s, e).copy_(tgt - l);
      lse.slice(0, s, e).copy_(l);
      if (eager) {
        logits.div_(sum).neg_();  // -softmax
        logits.scatter_add_(1, tg, torch::ones({e - s, 1}, f32));
        unit.slice(0, s, e).copy_(logits.to(hidden.scalar_type()).mm(head));  // [c, E]
      }
    }
    if (eager) {
      ctx->save_for_backward({unit});
    } else {
      ctx->save_for_backward({hidden, head, targets, lse});
    }
    ctx->saved_data["eager"] = eager;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["hidden_dtype"] = (int64_t)hidden.scalar_type();
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto g = grads[0].to(torch::kFloat32);  // [N]
    if (ctx->saved_data["eager"].toBool()) {
      const auto dt = (torch::ScalarType)ctx->saved_data["hidden_dtype"].toInt();
      return {(saved[0] * g.unsqueeze(1)).to(dt), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
    auto hidden = saved[0], head = saved[1], targets = saved[2], lse = saved[3];
    const int64_t rows = ctx->saved_data["rows"].toInt();
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

torch::Tensor scored_positions(const torch::Tensor& attention_mask, const torch::Tensor& completion_mask) {
  const int64_t T = completion_mask.size(1);
  auto sel = completion_mask.slice(1, 1) != 0;  // [B, T-1]: token t+1 is scored from position t
  // Both the predicting position and the target must be real tokens (left padding included).
  if (attention_mask.defined())
    sel = sel & (attention_mask.slice(1, 1) != 0) & (attention_mask.slice(1, 0, T - 1) != 0);
  return scored_rows(sel, T);
}

SequenceLogps sequence_logprobs(CausalLM& model, const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                const torch::Tensor& completion_mask, bool gradient_checkpointing,
                                SharedPrefix* capture) {
  check(input_ids.dim() == 2, "sequence_logprobs", "input_ids must be [B, T]");
  check(completion_mask.sizes() == input_ids.sizes(), "sequence_logprobs", "completion_mask must be [B, T]");
  const auto dev = model->device();
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  auto ids = input_ids.to(dev, torch::kInt64);
  ForwardOptions fo;
  if (attention_mask.defined()) fo.attention_mask = attention_mask.to(dev);
  fo.gradient_checkpointing = gradient_checkpointing;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  if (capture) {
    check(capture->lengths.defined() && capture->lengths.numel() == B, "sequence_logprobs",
          "capture needs the prefix lengths of every row");
    capture->S = B > 0 ? capture->lengths.max().item<int64_t>() : 0;
    check(capture->S <= T, "sequence_logprobs", "prefix lengths exceed the rows");
    fo.capture = &capture->kv;
    fo.capture_len = capture->S;
  }
  if (T < 2 && !capture)
    return {torch::zeros({B}, f32), torch::zeros({B}, torch::TensorOptions().dtype(torch::kInt64).device(dev))};
  auto hidden = model->forward(ids, fo);  // [B, T, E]
  if (capture) {
    const int64_t S = capture->S;
    auto keep = torch::arange(S, torch::TensorOptions().dtype(torch::kInt64)).unsqueeze(0) <
                capture->lengths.unsqueeze(1);  // [B, S]
    auto am = attention_mask.defined() ? attention_mask.slice(1, 0, S).to(torch::kCPU, torch::kInt64)
                                       : torch::ones({B, S}, torch::kInt64);
    capture->attention_mask = (am * keep).to(dev);
    capture->hidden = hidden.slice(1, 0, S).detach().contiguous();  // [B, S, E]
    if (T < 2) return {torch::zeros({B}, f32), torch::zeros({B}, torch::TensorOptions().dtype(torch::kInt64).device(dev))};
  }
  auto cm = completion_mask.to(dev);
  auto rows = scored_positions(fo.attention_mask, cm);  // [N]
  const int64_t E = hidden.size(-1);
  auto h = hidden.reshape({B * T, E}).index_select(0, rows);  // [N, E]
  auto tg = ids.reshape({B * T}).index_select(0, rows + 1);   // [N]
  auto lp = selected_logprobs(h, model->lm_head_weight(), tg);  // [N] fp32
  auto sum = torch::zeros({B}, f32).index_add(0, rows.div(T, "floor"), lp);  // [B]
  auto count = torch::zeros({B}, torch::TensorOptions().dtype(torch::kInt64).device(dev))
                   .index_add(0, rows.div(T, "floor"), torch::ones_like(rows));
  return {sum, count};
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
