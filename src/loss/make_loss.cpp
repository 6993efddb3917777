// make_loss: the one place that turns a "loss" config block into a loss object.
#include <algorithm>
#include <cmath>
#include <limits>

#include "prospect/core/config_reader.h"
#include "prospect/loss/bco.h"
#include "prospect/loss/dpo.h"
#include "prospect/loss/enhanced_kto.h"
#include "prospect/loss/kto.h"
#include "prospect/loss/loss.h"
#include "prospect/loss/orpo.h"
#include "prospect/loss/sft.h"
#include "prospect/loss/simpo.h"

namespace prospect::loss {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

double positive(ConfigReader& r, const std::string& key, double fallback) {
  double v = r.get<double>(key, fallback);
  r.check_range(key, v, 0.0, kInf, /*lo_open=*/true, /*hi_open=*/true);
  return v;
}

double non_negative(ConfigReader& r, const std::string& key, double fallback) {
  double v = r.get<double>(key, fallback);
  r.check_range(key, v, 0.0, kInf, false, true);
  return v;
}

std::optional<double> optional_positive(ConfigReader& r, const std::string& key) {
  auto v = r.optional<double>(key);
  if (v) r.check_range(key, *v, 0.0, kInf, true, true);
  return v;
}

std::unique_ptr<Loss> make_enhanced_kto(ConfigReader& r) {
  EnhancedKtoOptions o;
  o.beta = positive(r, "beta", o.beta);
  o.desirable_weight = non_negative(r, "desirable_weight", o.desirable_weight);
  o.undesirable_weight = non_negative(r, "undesirable_weight", o.undesirable_weight);
  o.estimate_kl = r.get<bool>("estimate_kl", o.estimate_kl);
  {
    auto v = r.child("value_function");
    o.value_function = v.get<bool>("enabled", true);
    o.value.alpha_gain = v.get<double>("alpha_gain", o.value.alpha_gain);
    v.check_range("alpha_gain", o.value.alpha_gain, 0.0, 1.0, true, false);
    o.value.alpha_loss = v.get<double>("alpha_loss", o.value.alpha_loss);
    v.check_range("alpha_loss", o.value.alpha_loss, 0.0, 1.0, true, false);
    o.value.lambda = positive(v, "lambda", o.value.lambda);
    o.value.eps = positive(v, "eps", o.value.eps);
    v.finish();
  }
  {
    auto w = r.child("probability_weighting");
    o.probability_weighting = w.get<bool>("enabled", true);
    std::string form = w.get<std::string>("form", "tversky_kahneman");
    w.check_one_of("form", form, {"tversky_kahneman", "prelec"});
    o.weighting_form = parse_weighting_form(form);
    if (o.weighting_form == WeightingForm::kTverskyKahneman) {
      // w is increasing only for γ in [0.28, 1].
      o.gamma = w.get<double>("gamma", 0.61);
      w.check_range("gamma", o.gamma, 0.28, 1.0);
    } else {
      o.gamma = w.get<double>("gamma", 0.65);
      w.check_range("gamma", o.gamma, 0.0, 1.0, true, false);
    }
    w.finish();
  }
  {
    auto q = r.child("odds_ratio");
    o.odds_ratio = q.get<bool>("enabled", true);
    o.odds_ratio_weight = non_negative(q, "weight", o.odds_ratio_weight);
    q.finish();
  }
  {
    auto s = r.child("bco_shift");
    o.bco_shift = s.get<bool>("enabled", false);
    o.bco_start_step = s.get<int64_t>("start_step", 0);
    s.check_range("start_step", (double)o.bco_start_step, 0.0, kInf, false, true);
    o.bco_ramp_steps = s.get<int64_t>("ramp_steps", 0);
    s.check_range("ramp_steps", (double)o.bco_ramp_steps, 0.0, kInf, false, true);
    o.bco_momentum = s.optional<double>("momentum");
    if (o.bco_momentum) s.check_range("momentum", *o.bco_momentum, 0.0, 1.0, false, true);
    s.finish();
  }
  {
    auto c = r.child("component_grad_clip");
    o.clip_kto = optional_positive(c, "kto");
    o.clip_odds_ratio = optional_positive(c, "odds_ratio");
    c.finish();
  }
  return std::make_unique<EnhancedKtoLoss>(o);
}

std::unique_ptr<Loss> make_kto(ConfigReader& r, bool apo_zero_type) {
  KtoOptions o;
  o.beta = positive(r, "beta", o.beta);
  o.desirable_weight = non_negative(r, "desirable_weight", o.desirable_weight);
  o.undesirable_weight = non_negative(r, "undesirable_weight", o.undesirable_weight);
  std::string lt = r.get<std::string>("loss_type", apo_zero_type ? "apo_zero_unpaired" : "kto");
  r.check_one_of("loss_type", lt, {"kto", "apo_zero_unpaired"});
  if (apo_zero_type && lt != "apo_zero_unpaired")
    throw Error(r.source(), "'" + r.key_path("loss_type") + "' contradicts type 'apo_zero_unpaired'");
  o.apo_zero_unpaired = lt == "apo_zero_unpaired";
  return std::make_unique<KtoLoss>(o);
}

std::unique_ptr<Loss> make_dpo(ConfigReader& r) {
  DpoOptions o;
  o.beta = positive(r, "beta", o.beta);
  std::string lt = r.get<std::string>("loss_type", "sigmoid");
  r.check_one_of("loss_type", lt, {"sigmoid", "robust", "ipo", "hinge"});
  o.loss_type = parse_dpo_type(lt);
  o.label_smoothing = r.get<double>("label_smoothing", 0.0);
  if (o.loss_type == DpoType::kSigmoid) {
    r.check_range("label_smoothing", o.label_smoothing, 0.0, 0.5);
  } else if (o.loss_type == DpoType::kRobust) {
    r.check_range("label_smoothing", o.label_smoothing, 0.0, 0.5, false, true);
  } else if (o.label_smoothing != 0.0) {
    throw Error(r.source(), "'" + r.key_path("label_smoothing") + "' applies to loss_type sigmoid and robust only");
  }
  return std::make_unique<DpoLoss>(o);
}

std::unique_ptr<Loss> make_simpo(ConfigReader& r) {
  SimpoOptions o;
  o.beta = positive(r, "beta", o.beta);
  o.gamma = r.get<double>("simpo_gamma", o.gamma);
  r.check_range("simpo_gamma", o.gamma, -kInf, kInf, true, true);
  o.label_smoothing = r.get<double>("label_smoothing", o.label_smoothing);
  r.check_range("label_smoothing", o.label_smoothing, 0.0, 0.5);
  o.cpo_alpha = non_negative(r, "cpo_alpha", o.cpo_alpha);
  return std::make_unique<SimpoLoss>(o);
}

}  // namespace

std::vector<std::string> loss_types() {
  return {"enhanced_kto", "kto", "apo_zero_unpaired", "bco", "dpo", "orpo", "simpo", "sft"};
}

std::unique_ptr<Loss> make_loss(const nlohmann::json& config, const std::string& path) {
  ConfigReader r(config, path);
  const std::string type = r.required<std::string>("type");
  r.check_one_of("type", type, loss_types());
  std::unique_ptr<Loss> loss;
  if (type == "enhanced_kto") {
    loss = make_enhanced_kto(r);
  } else if (type == "kto" || type == "apo_zero_unpaired") {
    loss = make_kto(r, type == "apo_zero_unpaired");
  } else if (type == "bco") {
    BcoOptions o;
    o.beta = positive(r, "beta", o.beta);
    loss = std::make_unique<BcoLoss>(o);
  } else if (type == "dpo") {
    loss = make_dpo(r);
  } else if (type == "orpo") {
    OrpoOptions o;
    o.beta = positive(r, "beta", o.beta);
    loss = std::make_unique<OrpoLoss>(o);
  } else if (type == "simpo") {
    loss = make_simpo(r);
  } else {
    loss = std::make_unique<SftLoss>();
  }
  r.finish();
  return loss;
}

}  // namespace prospect::loss
