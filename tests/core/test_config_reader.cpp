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

// Found by the json_config fuzzer: a float integer beyond int64 was converted with a C cast (undefined
// behaviour). Every integer read now checks the range of its type and names the key.
TEST(ConfigReader, IntegersOutsideTheTypeRangeAreErrors) {
  nlohmann::json j = {{"huge_float", 1.55556e43}, {"neg_float", -1e19},  {"big_for_int", int64_t(1) << 40},
                      {"unsigned_max", UINT64_MAX}, {"negative", -3}, {"edge", 9223372036854775807LL},
                      {"edge_float", 9223372036854775808.0}, {"int_max_float", 2147483647.0}};
  ConfigReader r(j, "", "c.json");
  auto expect_range_error = [&](auto fn, const std::string& key) {
    try {
      fn();
      FAIL() << key << ": expected an error";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("'" + key + "'"), std::string::npos) << m;
      EXPECT_NE(m.find("an integer in ["), std::string::npos) << m;
    }
  };
  expect_range_error([&] { r.get<int64_t>("huge_float", 0); }, "huge_float");
  expect_range_error([&] { r.get<int64_t>("neg_float", 0); }, "neg_float");
  expect_range_error([&] { r.get<int>("big_for_int", 0); }, "big_for_int");
  expect_range_error([&] { r.get<int64_t>("unsigned_max", 0); }, "unsigned_max");
  expect_range_error([&] { r.get<uint64_t>("negative", 0); }, "negative");
  expect_range_error([&] { r.get<int64_t>("edge_float", 0); }, "edge_float");  // 2^63 itself
  EXPECT_EQ(r.get<uint64_t>("unsigned_max", 0), UINT64_MAX);
  EXPECT_EQ(r.get<int64_t>("edge", 0), INT64_MAX);
  EXPECT_EQ(r.get<int64_t>("negative", 0), -3);
  EXPECT_EQ(r.get<int>("int_max_float", 0), 2147483647);
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
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(prospect::parse_device("cuda"), Error);
  }
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
