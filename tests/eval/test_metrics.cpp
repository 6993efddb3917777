// Metrics against values computed by hand from the harness's definitions.
#include <gtest/gtest.h>

#include <cmath>

#include "prospect/eval/metrics.h"
#include "prospect/eval/results.h"

using namespace prospect::eval;

TEST(Metrics, AccAndAccNormUseCodePointLengthsOfTheChoice) {
  // "é" is 1 code point (2 bytes), "ab" 2: norm = -1.5/1, -2.5/2 = -1.25 -> choice 1 (bytes would pick 0).
  McMetrics m = mc_metrics({-1.5, -2.5}, {"é", "ab"}, 1);
  EXPECT_EQ(m.acc, 0.0);
  EXPECT_EQ(m.acc_norm, 1.0);
  m = mc_metrics({-1.0, -2.0, -0.5}, {"abc", "de", "fghij"}, 2);
  EXPECT_EQ(m.acc, 1.0);
  EXPECT_EQ(m.acc_norm, 1.0);
  // Ties go to the first index (np.argmax).
  EXPECT_EQ(mc_metrics({-1.0, -1.0}, {"a", "b"}, 1).acc, 0.0);
  EXPECT_EQ(argmax_first({0.0, NAN, 5.0}), 1);
}

TEST(Metrics, Mc2IsTheNormalisedTrueMass) {
  // p = e^-1, e^-2, e^-0.5, e^-3 ; true = first two: (0.367879 + 0.135335) / 1.159532
  McMetrics m = mc_metrics({-1, -2, -0.5, -3}, {"a", "b", "c", "d"}, 0, {true, true, false, false});
  EXPECT_NEAR(m.mc2, 0.43398071638967184, 1e-12);
  EXPECT_TRUE(std::isnan(mc_metrics({-1, -2}, {"a", "b"}, 0).mc2));
}

TEST(Metrics, StderrAndGroupAggregation) {
  // mean 0.75, sample sd = sqrt(0.75 / 3) = 0.5, / sqrt(4) = 0.25
  EXPECT_DOUBLE_EQ(*mean_stderr({1, 0, 1, 1}), 0.25);
  EXPECT_FALSE(mean_stderr({1}).has_value());
  EXPECT_DOUBLE_EQ(weighted_mean({0.5, 0.8}, {2, 8}), 0.74);
  // (3 * 0.25^2 * 4 + 9 * 0.1^2 * 10) / (14 - 2) / 14 -> sqrt
  EXPECT_NEAR(pooled_sample_stderr({0.25, 0.1}, {4, 10}), 0.09910312089651149, 1e-12);
}

TEST(Metrics, MmluGroupWeightedBySizeAndMacroAverage) {
  std::vector<McDoc> docs;
  std::vector<std::vector<double>> lls;
  auto add = [&](const std::string& subject, bool correct) {
    McDoc d;
    d.subject = subject;
    d.choices = {"A", "B", "C", "D"};
    d.gold = 0;
    docs.push_back(d);
    lls.push_back(correct ? std::vector<double>{-1, -2, -3, -4} : std::vector<double>{-4, -1, -3, -2});
  };
  for (bool c : {true, false, true}) add("abstract_algebra", c);
  for (bool c : {false, true}) add("high_school_us_history", c);
  for (bool c : {true, true}) add("marketing", c);
  auto r = task_results(TaskKind::mmlu, docs, lls);
  EXPECT_NEAR(r["acc"].get<double>(), 5.0 / 7.0, 1e-12);
  EXPECT_NEAR(r["acc_macro"].get<double>(), (2.0 / 3.0 + 0.5 + 1.0) / 3.0, 1e-12);
  EXPECT_EQ(r["n"].get<int64_t>(), 7);
  EXPECT_NEAR(r["subjects"]["abstract_algebra"]["acc"].get<double>(), 2.0 / 3.0, 1e-12);
  // sd of {1,0,1} = sqrt((1/9+4/9+1/9)/2) = sqrt(1/3); / sqrt(3) = 1/3
  EXPECT_NEAR(r["subjects"]["abstract_algebra"]["acc_stderr"].get<double>(), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(r["categories"]["stem"]["acc"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(r["categories"]["humanities"]["n"].get<int64_t>(), 2);
  // Top-level stderr: pooled over categories stem (1/3, n 3), humanities (0.5, n 2), other (0, n 2):
  // var = (2*(1/9)*3 + 1*0.25*2 + 0) / (7 - 3) ; stderr = sqrt(var / 7)
  const double var = (2.0 * (1.0 / 9.0) * 3.0 + 1.0 * 0.25 * 2.0) / 4.0;
  EXPECT_NEAR(r["acc_stderr"].get<double>(), std::sqrt(var / 7.0), 1e-12);
}

// lm-eval pools a group's stderr over all of its leaf subjects (its aggregation list holds every task
// below it), not over the categories' already-pooled values; a one-question subject has stderr
// "N/A", which makes every group above it "N/A" (null here), never 0.
TEST(Metrics, MmluStderrPoolsOverSubjectsAndPropagatesNA) {
  std::vector<McDoc> docs;
  std::vector<std::vector<double>> lls;
  auto add = [&](const std::string& subject, bool correct) {
    McDoc d;
    d.subject = subject;
    d.choices = {"A", "B", "C", "D"};
    docs.push_back(d);
    lls.push_back(correct ? std::vector<double>{-1, -2, -3, -4} : std::vector<double>{-4, -1, -3, -2});
  };
  for (bool c : {true, false, true}) add("abstract_algebra", c);   // stem: se 1/3, n 3
  for (bool c : {true, true, false, false}) add("college_physics", c);  // stem: se² 1/12, n 4
  for (bool c : {true, true}) add("marketing", c);                 // other: se 0, n 2
  auto r = task_results(TaskKind::mmlu, docs, lls);
  // Σ (n−1)·se²·n = 2·(1/9)·3 + 3·(1/12)·4 + 0 = 5/3 over 9 − 3 subjects; stderr = sqrt(var / 9).
  EXPECT_NEAR(r["acc_stderr"].get<double>(), std::sqrt((5.0 / 3.0) / 6.0 / 9.0), 1e-12);
  // (categories first would give sqrt((2/7) / 9) = 0.1782 instead of 0.1757)
  EXPECT_NEAR(r["categories"]["stem"]["acc_stderr"].get<double>(), std::sqrt((5.0 / 3.0) / 5.0 / 7.0), 1e-12);
  add("astronomy", true);  // one question: N/A
  auto na = task_results(TaskKind::mmlu, docs, lls);
  EXPECT_TRUE(na["subjects"]["astronomy"]["acc_stderr"].is_null());
  EXPECT_TRUE(na["categories"]["stem"]["acc_stderr"].is_null());
  EXPECT_TRUE(na["acc_stderr"].is_null());
  EXPECT_NEAR(na["categories"]["other"]["acc_stderr"].get<double>(), 0.0, 1e-15);
  EXPECT_NEAR(na["acc"].get<double>(), 7.0 / 10.0, 1e-12);
}

TEST(Metrics, HellaswagAndMc2TaskResults) {
  McDoc a, b;
  a.choices = b.choices = {"xx", "y"};
  a.gold = 0;
  b.gold = 1;
  // doc a: lls -2, -1.5 -> acc picks 1 (wrong), norm -1 vs -1.5 picks 0 (right)
  // doc b: lls -3, -1 -> both pick 1 (right)
  auto r = task_results(TaskKind::hellaswag, {a, b}, {{-2, -1.5}, {-3, -1}});
  EXPECT_DOUBLE_EQ(r["acc"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r["acc_norm"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["acc_stderr"].get<double>(), 0.5);  // sd of {0,1} = sqrt(0.5), / sqrt(2)
  EXPECT_DOUBLE_EQ(r["acc_norm_stderr"].get<double>(), 0.0);
  McDoc t;
  t.choices = {"a", "b", "c"};
  t.mc2_true = {true, false, false};
  auto m = task_results(TaskKind::truthfulqa_mc2, {t}, {{std::log(0.2), std::log(0.3), std::log(0.5)}});
  EXPECT_NEAR(m["acc"].get<double>(), 0.2, 1e-12);
  EXPECT_TRUE(m["acc_stderr"].is_null());  // one doc: "N/A" in the harness
  // True answers in any position (lm-eval >= 0.4.8 sums every choice labelled 1): 0.3 + 0.5 of
  // 1.0, and 0.2 + 0.5 of 1.0; an answer 1000 nats down (exp underflows) does not give 0/0.
  t.mc2_true = {false, true, true};
  auto m2 = task_results(TaskKind::truthfulqa_mc2, {t}, {{std::log(0.2), std::log(0.3), std::log(0.5)}});
  EXPECT_NEAR(m2["acc"].get<double>(), 0.8, 1e-12);
  t.mc2_true = {true, false, true};
  auto m3 = task_results(TaskKind::truthfulqa_mc2, {t}, {{std::log(0.2) - 1000, std::log(0.3) - 1000, std::log(0.5) - 1000}});
  EXPECT_NEAR(m3["acc"].get<double>(), 0.7, 1e-12);
}

TEST(Metrics, PreferenceRewardsAccuracyAndMargin) {
  // beta 0.1: chosen rewards 0.05, -0.1; rejected -0.05, 0 -> accuracy 0.5, margins 0.1, -0.1
  auto r = preference_results({-10, -12}, {-11, -11}, {-10.5, -11}, {-10.5, -11}, 0.1);
  EXPECT_DOUBLE_EQ(r["reward_accuracy"].get<double>(), 0.5);
  EXPECT_NEAR(r["reward_margin"].get<double>(), 0.0, 1e-12);
  EXPECT_NEAR(r["rewards_chosen"].get<double>(), -0.025, 1e-12);
  EXPECT_NEAR(r["reward_margin_stderr"].get<double>(), 0.1, 1e-12);  // sd sqrt(0.02) / sqrt(2)
  // Equal rewards are not "correct" (TRL's strict >).
  EXPECT_DOUBLE_EQ(preference_results({-1}, {-1}, {-1}, {-1}, 0.1)["reward_accuracy"].get<double>(), 0.0);
}
