// Model bundles (core/model_bundle.h): a round trip keeps every field of a ModelDef and the build options bit for bit;
// an engine built from a bundle computes what the engine built from the ModelDef computes; truncated, corrupt and
// hostile bundles are refused with kModel and a message, never a crash (a few hundred mutated files).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/engine.h"
#include "core/model_bundle.h"

namespace int8rt {
namespace {

Tensor filled(DType dt, const Dims& dims, uint32_t seed) {
  Tensor t;
  Status st = Tensor::create(dt, dims, &t);
  EXPECT_TRUE(st.ok()) << st.message();
  std::mt19937 rng(seed);
  auto* p = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); i++) p[i] = uint8_t(rng());
  return t;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.empty() != b.empty() || a.dtype() != b.dtype() || a.dims() != b.dims()) return false;
  return a.empty() || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

void expect_same_value_info(const ValueInfo& a, const ValueInfo& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.has_shape, b.has_shape);
  EXPECT_EQ(a.dims, b.dims);
  EXPECT_EQ(a.dim_params, b.dim_params);
}

void expect_same_model(const ModelDef& a, const ModelDef& b) {
  EXPECT_EQ(a.producer, b.producer);
  EXPECT_EQ(a.opsets, b.opsets);
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  for (size_t i = 0; i < a.inputs.size(); i++) expect_same_value_info(a.inputs[i], b.inputs[i]);
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); i++) expect_same_value_info(a.outputs[i], b.outputs[i]);
  ASSERT_EQ(a.initializers.size(), b.initializers.size());
  for (size_t i = 0; i < a.initializers.size(); i++) {
    EXPECT_EQ(a.initializers[i].first, b.initializers[i].first);
    EXPECT_TRUE(same_tensor(a.initializers[i].second, b.initializers[i].second)) << a.initializers[i].first;
  }
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); i++) {
    const NodeDef &x = a.nodes[i], &y = b.nodes[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.op_type, y.op_type);
    EXPECT_EQ(x.domain, y.domain);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.outputs, y.outputs);
    EXPECT_EQ(x.fused_from, y.fused_from);
    ASSERT_EQ(x.attrs.size(), y.attrs.size());
    for (size_t k = 0; k < x.attrs.size(); k++) {
      const Attribute &p = x.attrs[k], &q = y.attrs[k];
      EXPECT_EQ(p.name, q.name);
      EXPECT_EQ(p.type, q.type);
      // Floats bit for bit (NaN payloads included).
      EXPECT_EQ(std::memcmp(&p.f, &q.f, 4), 0) << p.name;
      EXPECT_EQ(p.i, q.i);
      EXPECT_EQ(p.s, q.s);
      EXPECT_TRUE(same_tensor(p.t, q.t)) << p.name;
      ASSERT_EQ(p.floats.size(), q.floats.size());
      if (!p.floats.empty()) EXPECT_EQ(std::memcmp(p.floats.data(), q.floats.data(), 4 * p.floats.size()), 0);
      EXPECT_EQ(p.ints, q.ints);
      EXPECT_EQ(p.strings, q.strings);
    }
  }
}

// Every dtype the runtime holds, every attribute kind, symbolic dims, an empty tensor, a scalar, odd strings.
ModelDef everything_model() {
  ModelDef m;
  m.producer = "bundle-test \xe2\x9c\x93";
  m.opsets[""] = 17;
  m.opsets["com.microsoft"] = 1;
  ValueInfo in;
  in.name = "x";
  in.dtype = DType::kFloat32;
  in.has_shape = true;
  in.dims = {-1, 3, -1, 7};
  in.dim_params = {"N", "", "", ""};
  m.inputs.push_back(in);
  ValueInfo unknown;
  unknown.name = "mask";
  m.inputs.push_back(unknown);
  ValueInfo out;
  out.name = "y";
  out.dtype = DType::kInt64;
  out.has_shape = true;
  m.outputs.push_back(out);  // rank 0
  uint32_t seed = 1;
  for (DType dt : {DType::kFloat32, DType::kUint8, DType::kInt8, DType::kUint16, DType::kInt16, DType::kInt32,
                   DType::kInt64, DType::kBool, DType::kFloat16, DType::kFloat64, DType::kUint32, DType::kUint64})
    m.initializers.emplace_back(std::string("w_") + dtype_name(dt), filled(dt, {2, 3, 5}, seed++));
  m.initializers.emplace_back("scalar", filled(DType::kFloat32, {}, seed++));
  m.initializers.emplace_back("empty", filled(DType::kInt64, {0, 4}, seed++));

  NodeDef n;
  n.name = "all_attrs";
  n.op_type = "Custom";
  n.domain = "com.example";
  n.inputs = {"x", "", "w_float32"};
  n.outputs = {"y", ""};
  n.fused_from = {"all_attrs", "relu_1"};
  Attribute a;
  a.name = "f";
  a.type = Attribute::Type::kFloat;
  a.f = -0.0f;
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "nan";
  a.type = Attribute::Type::kFloat;
  uint32_t nan_bits = 0x7fc12345u;
  std::memcpy(&a.f, &nan_bits, 4);
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "i";
  a.type = Attribute::Type::kInt;
  a.i = INT64_MIN;
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "s";
  a.type = Attribute::Type::kString;
  a.s = std::string("with\0nul", 8);
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "t";
  a.type = Attribute::Type::kTensor;
  a.t = filled(DType::kFloat16, {4}, 99);
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "g";
  a.type = Attribute::Type::kGraph;  // ModelDef holds no subgraph: the attribute round-trips without payload
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "fs";
  a.type = Attribute::Type::kFloats;
  a.floats = {1.5f, -2.25f, INFINITY};
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "is";
  a.type = Attribute::Type::kInts;
  a.ints = {INT64_MAX, -1, 0};
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "ss";
  a.type = Attribute::Type::kStrings;
  a.strings = {"", "a", "bc"};
  n.attrs.push_back(a);
  a = Attribute();
  a.name = "sparse";
  a.type = Attribute::Type(11);  // SPARSE_TENSOR: kept as a bare type code
  n.attrs.push_back(a);
  m.nodes.push_back(n);
  NodeDef plain;
  plain.op_type = "Relu";
  plain.inputs = {"y"};
  plain.outputs = {"z"};
  m.nodes.push_back(plain);
  return m;
}

BundleOptions some_options() {
  BundleOptions o;
  o.precision = BundlePrecision::kInt8;
  o.model_sha256 = "0123abcd";
  o.amax["x"] = 2.5f;
  o.amax["y"] = 1e-30f;
  o.node_int8["conv1"] = false;
  o.node_int8["conv2"] = true;
  return o;
}

TEST(ModelBundle, RoundTripKeepsEveryField) {
  ModelDef m = everything_model();
  BundleOptions o = some_options();
  std::string bytes;
  Status st = write_bundle(m, o, &bytes);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(is_bundle(bytes.data(), bytes.size()));
  ModelDef back;
  BundleOptions ob;
  st = read_bundle(bytes.data(), bytes.size(), &back, &ob);
  ASSERT_TRUE(st.ok()) << st.message();
  expect_same_model(m, back);
  EXPECT_EQ(ob.precision, o.precision);
  EXPECT_EQ(ob.model_sha256, o.model_sha256);
  EXPECT_EQ(ob.amax, o.amax);
  EXPECT_EQ(ob.node_int8, o.node_int8);
  BundleOptions only;
  st = read_bundle_options(bytes.data(), bytes.size(), &only);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(only.amax, o.amax);
  // Writing what was read gives the same bytes.
  std::string again;
  ASSERT_TRUE(write_bundle(back, ob, &again).ok());
  EXPECT_EQ(again, bytes);
}

TEST(ModelBundle, PrecisionNamesAndEngineOptions) {
  for (const char* name : {"fp32", "fp16", "int8", "int8-dynamic"}) {
    BundlePrecision p;
    ASSERT_TRUE(bundle_precision_from_name(name, &p));
    EXPECT_STREQ(bundle_precision_name(p), name);
  }
  BundlePrecision p;
  EXPECT_FALSE(bundle_precision_from_name("int4", &p));
  EngineOptions eo;
  BundleOptions o = some_options();
  o.precision = BundlePrecision::kInt8Dynamic;
  apply_bundle_options(o, &eo);
  EXPECT_EQ(eo.precision, Precision::kInt8);
  EXPECT_TRUE(eo.dynamic_int8);
  EXPECT_EQ(eo.quant.amax.at("x"), 2.5f);
  EXPECT_EQ(eo.quant.node_precision.at("conv1"), Precision::kFp32);
  EXPECT_EQ(eo.quant.node_precision.at("conv2"), Precision::kInt8);
  o.precision = BundlePrecision::kFp16;
  apply_bundle_options(o, &eo);
  EXPECT_EQ(eo.precision, Precision::kFp32);
  EXPECT_TRUE(eo.fp16_weights);
  EXPECT_FALSE(eo.dynamic_int8);
}

TEST(ModelBundle, WriterRefusesWhatTheFormatCannotHold) {
  ModelDef m;
  m.initializers.emplace_back("none", Tensor());
  std::string bytes;
  Status st = write_bundle(m, BundleOptions(), &bytes);
  EXPECT_EQ(st.code(), ErrorCode::kModel);
  EXPECT_NE(st.message().find("none"), std::string::npos) << st.message();
}

// y = Relu(x * w + b) through MatMul/Add: the engine from the bundle gives the same bytes as the one from the model.
TEST(ModelBundle, EngineFromBundleMatches) {
  ModelDef m;
  m.opsets[""] = 13;
  ValueInfo x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.dims = {-1, 8};
  x.dim_params = {"N", ""};
  m.inputs.push_back(x);
  ValueInfo y;
  y.name = "y";
  y.dtype = DType::kFloat32;
  m.outputs.push_back(y);
  Tensor w;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {8, 4}, &w).ok());
  Tensor b;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {4}, &b).ok());
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int i = 0; i < 32; i++) w.data<float>()[i] = u(rng);
  for (int i = 0; i < 4; i++) b.data<float>()[i] = u(rng);
  m.initializers.emplace_back("w", w);
  m.initializers.emplace_back("b", b);
  NodeDef mm;
  mm.name = "mm";
  mm.op_type = "MatMul";
  mm.inputs = {"x", "w"};
  mm.outputs = {"t"};
  NodeDef add;
  add.name = "add";
  add.op_type = "Add";
  add.inputs = {"t", "b"};
  add.outputs = {"u"};
  NodeDef relu;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"u"};
  relu.outputs = {"y"};
  m.nodes = {mm, add, relu};

  std::string bytes;
  ASSERT_TRUE(write_bundle(m, BundleOptions(), &bytes).ok());
  ModelDef back;
  BundleOptions bo;
  Status st = read_bundle(bytes.data(), bytes.size(), &back, &bo);
  ASSERT_TRUE(st.ok()) << st.message();
  EngineOptions eo;
  eo.intra_op_threads = 1;
  apply_bundle_options(bo, &eo);
  std::shared_ptr<Engine> e1, e2;
  st = Engine::build(m, eo, &e1);
  ASSERT_TRUE(st.ok()) << st.message();
  st = Engine::build(back, eo, &e2);
  ASSERT_TRUE(st.ok()) << st.message();
  Tensor in;
  ASSERT_TRUE(Tensor::create(DType::kFloat32, {3, 8}, &in).ok());
  for (int i = 0; i < 24; i++) in.data<float>()[i] = u(rng);
  std::vector<Tensor> o1, o2;
  ASSERT_TRUE(e1->run({{"x", in}}, &o1).ok());
  ASSERT_TRUE(e2->run({{"x", in}}, &o2).ok());
  ASSERT_EQ(o1.size(), 1u);
  ASSERT_EQ(o2.size(), 1u);
  EXPECT_TRUE(same_tensor(o1[0], o2[0]));
  EXPECT_EQ(e2->inputs()[0].dim_params[0], "N");
}

void expect_model_error(const std::string& bytes, const char* fragment) {
  ModelDef m;
  BundleOptions o;
  Status st = read_bundle(bytes.data(), bytes.size(), &m, &o);
  EXPECT_EQ(st.code(), ErrorCode::kModel) << st.message();
  EXPECT_NE(st.message().find(fragment), std::string::npos) << "message: " << st.message();
}

void put_u32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++) (*s)[at + i] = char((v >> (8 * i)) & 0xff);
}

TEST(ModelBundle, RefusesBadHeadersAndHostileCounts) {
  std::string good;
  ASSERT_TRUE(write_bundle(everything_model(), some_options(), &good).ok());
  expect_model_error("", "not an int8rt bundle");
  expect_model_error("I8RTBND", "not an int8rt bundle");
  std::string v = good;
  put_u32(&v, 8, 2);
  expect_model_error(v, "format version 2");
  v = good;
  put_u32(&v, 12, 1);
  expect_model_error(v, "reserved");
  v = good;
  v[16] = 'X';
  expect_model_error(v, "expected section OPTS");
  v = good;
  put_u32(&v, 28, 7);  // OPTS precision (after magic, version, reserved, tag, u64 length)
  expect_model_error(v, "unknown precision code 7");
  // A section length past the end of the file.
  v = good;
  put_u32(&v, 20, 0xffffffffu);
  put_u32(&v, 24, 0x7fffffffu);
  expect_model_error(v, "section OPTS claims");
  // A huge range count: refused before any allocation.
  v = good;
  const size_t count_at = 44;  // header 16, OPTS tag + length 12, precision 4, sha256 "0123abcd" 4 + 8
  put_u32(&v, count_at, 0xfffffff0u);
  expect_model_error(v, "range count");
  expect_model_error(good + "x", "unexpected bytes");
  expect_model_error(good.substr(0, good.size() - 1), "");
}

// Mutated and truncated bundles: every case either parses (a flipped data byte is still a valid file) or fails with
// kModel; none crashes or allocates past the file (run under -fsanitize=address to check the latter).
TEST(ModelBundle, FuzzedBundlesNeverCrash) {
  std::string good;
  ASSERT_TRUE(write_bundle(everything_model(), some_options(), &good).ok());
  std::mt19937 rng(1234);
  int refused = 0, parsed = 0;
  for (int iter = 0; iter < 400; iter++) {
    std::string v = good;
    switch (iter % 4) {
      case 0:  // truncate
        v.resize(rng() % good.size());
        break;
      case 1:  // flip one byte
        v[rng() % v.size()] ^= char(1 + rng() % 255);
        break;
      case 2:  // overwrite 4 bytes with a large value (a count or length)
      {
        size_t at = rng() % (v.size() - 4);
        put_u32(&v, at, 0x80000000u | uint32_t(rng()));
        break;
      }
      default:  // flip several bytes
        for (int k = 0; k < 8; k++) v[rng() % v.size()] ^= char(rng());
        break;
    }
    ModelDef m;
    BundleOptions o;
    Status st = read_bundle(v.data(), v.size(), &m, &o);
    if (st.ok()) {
      parsed++;
    } else {
      refused++;
      EXPECT_EQ(st.code(), ErrorCode::kModel) << st.message();
      EXPECT_FALSE(st.message().empty());
    }
  }
  EXPECT_GT(refused, 200);
  EXPECT_GT(parsed, 0);  // a flipped byte inside tensor data still gives a valid bundle
}

}  // namespace
}  // namespace int8rt
