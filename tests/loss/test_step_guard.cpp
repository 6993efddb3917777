#include <cmath>
#include <limits>

#include "loss_test_util.h"
#include "prospect/core/error.h"
#include "prospect/loss/step_guard.h"

namespace prospect::loss::test {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TEST(StepGuard, SkipsNonFiniteStepsAndCountsThem) {
  StepGuard g(3);
  EXPECT_FALSE(g.should_skip(0.5, 1.2));
  EXPECT_TRUE(g.should_skip(kNaN, 1.0));
  EXPECT_TRUE(g.should_skip(0.5, kInf));
  EXPECT_EQ(g.consecutive_skips(), 2);
  EXPECT_FALSE(g.should_skip(0.4, 0.9));  // a good step resets the run
  EXPECT_EQ(g.consecutive_skips(), 0);
  EXPECT_TRUE(g.should_skip(-kInf, 0.1));
  EXPECT_EQ(g.skipped_steps(), 3);
}

TEST(StepGuard, StopsAfterMaxConsecutiveSkips) {
  StepGuard g;  // default 5
  EXPECT_EQ(g.max_consecutive_skips(), 5);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(g.should_skip(kNaN, kNaN));
  try {
    g.should_skip(1.0, kNaN);
    FAIL() << "expected an error on the 5th consecutive skip";
  } catch (const prospect::Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_consecutive_skips = 5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(g.skipped_steps(), 5);
  EXPECT_THROW(StepGuard(0), prospect::Error);
}

TEST(StepGuard, StateRoundTrip) {
  StepGuard a(4);
  a.should_skip(kNaN, 1);
  a.should_skip(kNaN, 1);
  StepGuard b(4);
  b.load_state(nlohmann::json::parse(a.state().dump()));
  EXPECT_EQ(b.skipped_steps(), 2);
  EXPECT_EQ(b.consecutive_skips(), 2);
  b.should_skip(kNaN, 1);
  EXPECT_THROW(b.should_skip(kNaN, 1), prospect::Error);
  EXPECT_THROW(b.load_state(nlohmann::json{{"skipped", 1}}), prospect::Error);
}

}  // namespace
}  // namespace prospect::loss::test
