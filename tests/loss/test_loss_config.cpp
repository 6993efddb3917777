// make_loss: every type by name, strict keys with "did you mean", ranges, what the trainer must supply.
#include "loss_test_util.h"
#include "prospect/core/error.h"
#include "prospect/loss/enhanced_kto.h"
#include "prospect/loss/loss.h"

namespace prospect::loss::test {
namespace {

using nlohmann::json;

std::string error_of(const json& cfg) {
  try {
    make_loss(cfg);
  } catch (const prospect::Error& e) {
    return e.what();
  }
  return "";
}

TEST(LossConfig, EveryTypeByName) {
  struct Want { bool ref, kl, paired, nll; };
  const std::map<std::string, Want> want = {
      {"enhanced_kto", {true, true, false, false}}, {"kto", {true, true, false, false}},
      {"apo_zero_unpaired", {true, false, false, false}}, {"bco", {true, false, false, false}},
      {"dpo", {true, false, true, false}}, {"orpo", {false, false, true, true}},
      {"simpo", {false, false, true, true}}, {"sft", {false, false, false, true}}};
  ASSERT_EQ(loss_types().size(), want.size());
  for (const auto& t : loss_types()) {
    auto loss = make_loss({{"type", t}});
    const auto& w = want.at(t);
    EXPECT_EQ(loss->name(), t);
    EXPECT_EQ(loss->needs_reference(), w.ref) << t;
    EXPECT_EQ(loss->needs_kl(), w.kl) << t;
    EXPECT_EQ(loss->paired(), w.paired) << t;
    EXPECT_EQ(loss->needs_nll(), w.nll) << t;
  }
  EXPECT_FALSE(make_loss({{"type", "enhanced_kto"}, {"estimate_kl", false}})->needs_kl());
}

TEST(LossConfig, FullEnhancedKtoBlockFromTheSpec) {
  auto cfg = json::parse(R"({
      "type": "enhanced_kto",
      "beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": 1.0,
      "value_function":        {"enabled": true,  "alpha_gain": 0.88, "alpha_loss": 0.88, "lambda": 2.25, "eps": 0.01},
      "probability_weighting": {"enabled": true,  "form": "tversky_kahneman", "gamma": 0.61},
      "odds_ratio":            {"enabled": true,  "weight": 0.1},
      "bco_shift":             {"enabled": false, "start_step": 0, "ramp_steps": 0, "momentum": null},
      "component_grad_clip":   {"kto": null, "odds_ratio": null}
    })");
  auto loss = make_loss(cfg);
  auto& o = dynamic_cast<EnhancedKtoLoss&>(*loss).options();
  EXPECT_FALSE(o.bco_momentum.has_value());
  EXPECT_FALSE(o.clip_odds_ratio.has_value());
  cfg["bco_shift"] = {{"enabled", true}, {"start_step", 100}, {"ramp_steps", 50}, {"momentum", 0.99}};
  cfg["component_grad_clip"] = {{"kto", 1.0}, {"odds_ratio", 0.5}};
  cfg["probability_weighting"] = {{"form", "prelec"}};
  loss = make_loss(cfg);
  auto& o2 = dynamic_cast<EnhancedKtoLoss&>(*loss).options();
  EXPECT_EQ(o2.bco_start_step, 100);
  EXPECT_EQ(o2.bco_ramp_steps, 50);
  EXPECT_EQ(*o2.bco_momentum, 0.99);
  EXPECT_EQ(*o2.clip_kto, 1.0);
  EXPECT_EQ(o2.weighting_form, WeightingForm::kPrelec);
  EXPECT_EQ(o2.gamma, 0.65);  // Prelec's default
}

TEST(LossConfig, UnknownKeysNameTheNearestKey) {
  auto e = error_of({{"type", "kto"}, {"betta", 0.1}});
  EXPECT_NE(e.find("loss.betta"), std::string::npos) << e;
  EXPECT_NE(e.find("beta"), std::string::npos) << e;
  e = error_of({{"type", "enhanced_kto"}, {"value_function", {{"epsilon", 0.1}}}});
  EXPECT_NE(e.find("loss.value_function.epsilon"), std::string::npos) << e;
  EXPECT_NE(e.find("eps"), std::string::npos) << e;
  e = error_of({{"type", "enhanced_kto_"}});
  EXPECT_NE(e.find("enhanced_kto"), std::string::npos) << e;
  e = error_of({{"type", "simpo"}, {"simpo_gama", 0.5}});
  EXPECT_NE(e.find("simpo_gamma"), std::string::npos) << e;
  // The step guard's setting belongs to the trainer block.
  EXPECT_NE(error_of({{"type", "enhanced_kto"}, {"max_consecutive_skips", 5}}), "");
  EXPECT_NE(error_of({{"type", "bco"}, {"loss_type", "kto"}}), "");
  EXPECT_NE(error_of(json::object()).find("type"), std::string::npos);
  // The path prefix given by the caller names the key.
  try {
    make_loss({{"type", "orpo"}, {"lamda", 1}}, "train.loss");
    FAIL();
  } catch (const prospect::Error& ex) {
    EXPECT_NE(std::string(ex.what()).find("train.loss.lamda"), std::string::npos) << ex.what();
  }
}

TEST(LossConfig, RangesAreValidated) {
  auto ek = [](const char* block, json inner) { return json{{"type", "enhanced_kto"}, {block, inner}}; };
  const std::vector<std::pair<json, std::string>> bad = {
      {ek("probability_weighting", {{"gamma", 0.2}}), "gamma"},
      {ek("probability_weighting", {{"gamma", 1.1}}), "gamma"},
      {ek("probability_weighting", {{"form", "prelec"}, {"gamma", 0.0}}), "gamma"},
      {ek("probability_weighting", {{"form", "tk"}}), "form"},
      {ek("value_function", {{"eps", 0.0}}), "eps"},
      {ek("value_function", {{"eps", -0.1}}), "eps"},
      {ek("value_function", {{"alpha_gain", 0.0}}), "alpha_gain"},
      {ek("value_function", {{"alpha_loss", 1.5}}), "alpha_loss"},
      {ek("value_function", {{"lambda", 0.0}}), "lambda"},
      {ek("odds_ratio", {{"weight", -1}}), "weight"},
      {ek("bco_shift", {{"momentum", 1.0}}), "momentum"},
      {ek("bco_shift", {{"start_step", -1}}), "start_step"},
      {ek("bco_shift", {{"ramp_steps", 1.5}}), "ramp_steps"},
      {ek("component_grad_clip", {{"kto", 0.0}}), "kto"},
      {ek("component_grad_clip", {{"odds_ratio", -2}}), "odds_ratio"},
      {{{"type", "enhanced_kto"}, {"value_function", 3}}, "value_function"},
      {{{"type", "kto"}, {"beta", 0.0}}, "beta"},
      {{{"type", "kto"}, {"desirable_weight", -1}}, "desirable_weight"},
      {{{"type", "kto"}, {"loss_type", "sigmoid"}}, "loss_type"},
      {{{"type", "apo_zero_unpaired"}, {"loss_type", "kto"}}, "loss_type"},
      {{{"type", "dpo"}, {"loss_type", "sigmoidd"}}, "loss_type"},
      {{{"type", "dpo"}, {"loss_type", "robust"}, {"label_smoothing", 0.5}}, "label_smoothing"},
      {{{"type", "dpo"}, {"loss_type", "ipo"}, {"label_smoothing", 0.1}}, "label_smoothing"},
      {{{"type", "dpo"}, {"label_smoothing", 0.6}}, "label_smoothing"},
      {{{"type", "simpo"}, {"cpo_alpha", -1}}, "cpo_alpha"},
      {{{"type", "simpo"}, {"label_smoothing", 0.7}}, "label_smoothing"},
      {{{"type", "kto"}, {"beta", "0.1"}}, "beta"},
  };
  for (const auto& [cfg, key] : bad) {
    auto e = error_of(cfg);
    EXPECT_NE(e.find(key), std::string::npos) << cfg.dump() << " -> '" << e << "'";
  }
  // The edges of the valid ranges are accepted.
  EXPECT_NO_THROW(make_loss(ek("probability_weighting", {{"gamma", 0.28}})));
  EXPECT_NO_THROW(make_loss(ek("probability_weighting", {{"gamma", 1.0}})));
  EXPECT_NO_THROW(make_loss(ek("value_function", {{"alpha_gain", 1.0}, {"enabled", false}})));
  EXPECT_NO_THROW(make_loss(ek("bco_shift", {{"momentum", 0.0}})));
  EXPECT_NO_THROW(make_loss({{"type", "dpo"}, {"label_smoothing", 0.5}}));
}

TEST(LossConfig, MissingInputsAreNamed) {
  LossInputs in;
  in.policy_logps = vec({-1.0, -2.0});
  in.ref_logps = vec({-1.0});
  in.labels = bools({true, false});
  try {
    make_loss({{"type", "kto"}})->compute(in);
    FAIL();
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ref_logps"), std::string::npos) << e.what();
  }
  in.ref_logps = vec({-1.0, -2.0});
  try {
    make_loss({{"type", "kto"}})->compute(in);  // no KL pass given
    FAIL();
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("kl_policy_logps"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_loss({{"type", "orpo"}})->compute(in), prospect::Error);
  EXPECT_THROW(make_loss({{"type", "sft"}})->compute(in), prospect::Error);
}

}  // namespace
}  // namespace prospect::loss::test
