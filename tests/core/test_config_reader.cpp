#include <gtest/gtest.h>

#include "prospect/core/config_reader.h"
#include "prospect/core/device.h"
#include "prospect/core/fs.h"
#include "test_util.h"

using prospect::ConfigReader;
using prospect::Error;

TEST(ConfigReader, UnknownKeySuggestsNearest) {
  nlohmann::json j = {{"loss", {{"beta", 0.1}, {"desireable_weight", 1.0}}}};
  ConfigReader root(j, "", "cfg.json");
  auto loss = root.child("loss");
  EXPECT_DOUBLE_EQ(loss.get<double>("beta", 0.5), 0.1);
  EXPECT_DOUBLE_EQ(loss.get<double>("desirable_weight", 1.0), 1.0);
  try {
    loss.finish();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("cfg.json"), std::string::npos) << m;
    EXPECT_NE(m.find("loss.desireable_weight"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'loss.desirable_weight'"), std::string::npos) << m;
  }
}

TEST(ConfigReader, TypeErrorsNameThePath) {
  nlohmann::json j = {{"train", {{"lr", "fast"}, {"steps", 3.0}, {"bad_int", 2.5}}}};
  ConfigReader root(j, "", "c.json");
  auto t = root.child("train");
  EXPECT_EQ(t.get<int64_t>("steps", 0), 3);  // ints written as floats are accepted
  EXPECT_THROW(t.get<double>("lr", 0.0), Error);
  try {
    t.get<int>("bad_int", 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.bad_int"), std::string::npos);
  }
  EXPECT_THROW(t.check_range("x", 2.0, 0.0, 1.0), Error);
  EXPECT_NO_THROW(t.check_range("x", 1.0, 0.0, 1.0));
  EXPECT_THROW(t.check_range("x", 0.0, 0.0, 1.0, /*lo_open=*/true), Error);
}

TEST(ConfigReader, CommentsAndOverrides) {
  nlohmann::json j = {{"_comment", "run me"}, {"a", {{"b", 1}}}};
  prospect::apply_override(j, "a.b=2");
  prospect::apply_override(j, "a.c.d=\"x\"");
  prospect::apply_override(j, "name=plain");
  EXPECT_EQ(j["a"]["b"], 2);
  EXPECT_EQ(j["a"]["c"]["d"], "x");
  EXPECT_EQ(j["name"], "plain");
  ConfigReader r(j, "");
  r.raw("a");
  r.raw("name");
  EXPECT_NO_THROW(r.finish());
  EXPECT_THROW(prospect::apply_override(j, "novalue"), Error);
}

TEST(Device, ParsesDtypesAndDevices) {
  EXPECT_EQ(prospect::parse_dtype("bf16"), torch::kBFloat16);
  EXPECT_EQ(prospect::parse_dtype("float32"), torch::kFloat32);
  EXPECT_EQ(prospect::hf_dtype_name(torch::kFloat16), "float16");
  EXPECT_THROW(prospect::parse_dtype("int3"), Error);
  EXPECT_EQ(prospect::parse_device("cpu").type(), torch::kCPU);
  EXPECT_THROW(prospect::parse_device("tpu"), Error);
  if (!torch::cuda::is_available()) EXPECT_THROW(prospect::parse_device("cuda"), Error);
}

TEST(AtomicDir, UncommittedLeavesNothing) {
  prospect::test::TempDir t;
  auto final_path = t / "out";
  {
    prospect::AtomicDir d(final_path);
    prospect::write_text_file_atomic(d.path() / "a.txt", "hello");
    // no commit: simulated failure
  }
  EXPECT_FALSE(std::filesystem::exists(final_path));
  EXPECT_TRUE(std::filesystem::is_empty(t.path()));
  {
    prospect::AtomicDir d(final_path);
    prospect::write_text_file_atomic(d.path() / "a.txt", "hello");
    d.commit();
  }
  EXPECT_EQ(prospect::read_text_file(final_path / "a.txt"), "hello");
}

TEST(Json, MalformedFileNamesFileAndLine) {
  prospect::test::TempDir t;
  prospect::write_text_file_atomic(t / "bad.json", "{\n  \"a\": 1,\n  \"b\": \n}\n");
  try {
    prospect::read_json_file(t / "bad.json");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.json:4"), std::string::npos) << m;
  }
}
