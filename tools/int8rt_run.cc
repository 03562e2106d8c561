// int8rt_run: runs a model bundle (native/core/model_bundle.h) with the C++ core alone, no Node.js. It is what a GPU
// machine (CMake and a compiler, no Node) runs to compare outputs with those of another machine: inputs and outputs
// are .npy files, compared with numpy or with test/bundle.test.ts.
//
//   int8rt_run model.i8rt --input name=file.npy [--input ...] --output-dir dir [--threads N] [--repeat N]
//              [--device cpu|cuda] [--device-id N]
//
// --device cuda runs the nodes that have CUDA kernels on that GPU (the rest on the CPU, with copies between them,
// as the Node engine does); it fails when CUDA is not usable, with the reason.
//
// Each output is written to <dir>/<output name>.npy (characters outside [A-Za-z0-9._-] become '_'), from the last
// run. Every run's wall time is printed, then the minimum and median. Exit status: 0 done, 1 an error (a message on
// stderr), 2 a usage mistake.
//
// .npy support: format versions 1 and 2 (3 differs from 2 only in the header's text encoding and is read as well),
// C order, little-endian (or byte-sized) bool/int8/uint8/int16/uint16/int32/uint32/int64/uint64/float16/float32/
// float64; anything else (Fortran order, big-endian, object arrays, structured dtypes) is refused with a message.
// Inputs are not converted: an .npy's dtype must be the model input's dtype.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/model_bundle.h"
#include "cuda/driver.h"

using namespace int8rt;

namespace {

struct NpyType {
  const char* descr;  // without the byte-order character
  DType dtype;
};
const NpyType kNpyTypes[] = {
    {"b1", DType::kBool},    {"i1", DType::kInt8},    {"u1", DType::kUint8},   {"i2", DType::kInt16},
    {"u2", DType::kUint16},  {"i4", DType::kInt32},   {"u4", DType::kUint32},  {"i8", DType::kInt64},
    {"u8", DType::kUint64},  {"f2", DType::kFloat16}, {"f4", DType::kFloat32}, {"f8", DType::kFloat64},
};

bool read_file(const std::string& path, std::string* out, std::string* err) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *err = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) {
    *err = "cannot read '" + path + "'";
    return false;
  }
  *out = ss.str();
  return true;
}

// The value of 'key' in the header dict: the text after "'key':" up to the matching end (a quoted string, a
// parenthesised tuple or a bare word).
bool header_field(const std::string& h, const std::string& key, std::string* value) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return false;
  size_t c = h.find(':', k);
  if (c == std::string::npos) return false;
  size_t p = h.find_first_not_of(" ", c + 1);
  if (p == std::string::npos) return false;
  size_t e;
  if (h[p] == '\'') {
    e = h.find('\'', p + 1);
    if (e == std::string::npos) return false;
    *value = h.substr(p + 1, e - p - 1);
  } else if (h[p] == '(') {
    e = h.find(')', p);
    if (e == std::string::npos) return false;
    *value = h.substr(p + 1, e - p - 1);
  } else {
    e = h.find_first_of(",}", p);
    if (e == std::string::npos) return false;
    *value = h.substr(p, e - p);
    while (!value->empty() && value->back() == ' ') value->pop_back();
  }
  return true;
}

bool read_npy(const std::string& path, Tensor* out, std::string* err) {
  std::string bytes;
  if (!read_file(path, &bytes, err)) return false;
  auto fail = [&](const std::string& why) {
    *err = "'" + path + "': " + why;
    return false;
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return fail("not an .npy file");
  uint8_t major = uint8_t(bytes[6]);
  size_t hlen, hstart;
  if (major == 1) {
    hlen = uint8_t(bytes[8]) | size_t(uint8_t(bytes[9])) << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail("truncated header");
    hlen = 0;
    for (int i = 0; i < 4; i++) hlen |= size_t(uint8_t(bytes[8 + i])) << (8 * i);
    hstart = 12;
  } else {
    return fail(".npy format version " + std::to_string(major) + " is not supported (1, 2 and 3 are)");
  }
  if (hlen > bytes.size() - hstart) return fail("truncated header");
  std::string h = bytes.substr(hstart, hlen);
  std::string descr, fortran, shape;
  if (!header_field(h, "descr", &descr) || !header_field(h, "fortran_order", &fortran) ||
      !header_field(h, "shape", &shape))
    return fail("header lacks descr, fortran_order or shape: " + h);
  if (fortran != "False") return fail("Fortran-order arrays are not supported (save with C order)");
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '|'))
    return fail("dtype '" + descr + "' is not supported (little-endian numeric types only)");
  const NpyType* type = nullptr;
  for (const auto& t : kNpyTypes)
    if (descr.compare(1, 2, t.descr) == 0) type = &t;
  if (!type) return fail("dtype '" + descr + "' is not supported");
  if (descr[0] == '|' && dtype_size(type->dtype) != 1) return fail("dtype '" + descr + "' has no byte order");
  Dims dims;
  std::stringstream ss(shape);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" "), b = item.find_last_not_of(" ");
    if (a == std::string::npos) continue;  // the empty item after "(5,)"
    item = item.substr(a, b - a + 1);
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos || item.size() > 15)
      return fail("bad shape (" + shape + ")");
    dims.push_back(std::stoll(item));
  }
  int64_t n = dims_numel(dims);
  if (n < 0) return fail("shape (" + shape + ") is too large");
  size_t nbytes = size_t(n) * dtype_size(type->dtype);
  size_t data = hstart + hlen;
  if (bytes.size() - data != nbytes)
    return fail("holds " + std::to_string(bytes.size() - data) + " data bytes, shape (" + shape + ") of " + descr +
                " needs " + std::to_string(nbytes));
  Status st = Tensor::create(type->dtype, dims, out);
  if (!st.ok()) return fail(st.message());
  if (nbytes) std::memcpy(out->raw(), bytes.data() + data, nbytes);
  return true;
}

bool write_npy(const std::string& path, const Tensor& t, std::string* err) {
  const NpyType* type = nullptr;
  for (const auto& k : kNpyTypes)
    if (k.dtype == t.dtype()) type = &k;
  if (!type) {
    *err = std::string("cannot write a ") + dtype_name(t.dtype()) + " tensor as .npy";
    return false;
  }
  std::string shape = "(";
  for (size_t i = 0; i < t.rank(); i++) shape += std::to_string(t.dim(i)) + (t.rank() == 1 ? "," : i + 1 < t.rank() ? ", " : "");
  shape += ")";
  std::string h = std::string("{'descr': '") + (dtype_size(t.dtype()) == 1 ? '|' : '<') + type->descr +
                  "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Version 1: magic (6) + version (2) + u16 length (2) + header, padded with spaces to a multiple of 64, ending '\n'.
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h.push_back('\n');
  if (h.size() > 65535) {
    *err = "shape too long for an .npy header";
    return false;
  }
  std::ofstream f(path, std::ios::binary);
  if (!f) {
    *err = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  char pre[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, char(h.size() & 0xff), char(h.size() >> 8)};
  f.write(pre, 10);
  f.write(h.data(), std::streamsize(h.size()));
  f.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
  if (!f) {
    *err = "cannot write '" + path + "'";
    return false;
  }
  return true;
}

std::string file_name_for(const std::string& name) {
  std::string s = name.empty() ? std::string("output") : name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  if (s == "." || s == "..") s = "_";
  return s;
}

int usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "int8rt_run: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: int8rt_run model.i8rt --input name=file.npy [--input ...] --output-dir dir "
               "[--threads N] [--repeat N] [--device cpu|cuda] [--device-id N]\n");
  return 2;
}

int error(const std::string& what) {
  std::fprintf(stderr, "int8rt_run: error: %s\n", what.c_str());
  return 1;
}

bool parse_int(const std::string& s, int lo, int hi, int* out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  int v = std::stoi(s);
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, out_dir;
  std::vector<std::pair<std::string, std::string>> input_files;
  int threads = 0, repeat = 1, device_id = 0;
  std::string device = "cpu";
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      usage("");
      return 0;
    } else if (a == "--input" || a == "-i") {
      if (!value(&v)) return usage("--input needs name=file.npy");
      size_t eq = v.rfind('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
        return usage("--input takes name=file.npy, got '" + v + "'");
      input_files.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--output-dir" || a == "-o") {
      if (!value(&out_dir)) return usage("--output-dir needs a folder");
    } else if (a == "--threads") {
      if (!value(&v) || !parse_int(v, 0, 1024, &threads)) return usage("--threads takes an integer from 0 to 1024");
    } else if (a == "--device") {
      if (!value(&device) || (device != "cpu" && device != "cuda")) return usage("--device takes cpu or cuda");
    } else if (a == "--device-id") {
      if (!value(&v) || !parse_int(v, 0, 1000000, &device_id)) return usage("--device-id takes an integer >= 0");
    } else if (a == "--repeat") {
      if (!value(&v) || !parse_int(v, 1, 1000000, &repeat)) return usage("--repeat takes an integer >= 1");
    } else if (!a.empty() && a[0] == '-') {
      return usage("unknown option '" + a + "'");
    } else if (model_path.empty()) {
      model_path = a;
    } else {
      return usage("one model only (got '" + model_path + "' and '" + a + "')");
    }
  }
  if (model_path.empty()) return usage("no model bundle given");

  std::string err, bytes;
  if (!read_file(model_path, &bytes, &err)) return error(err);
  if (!is_bundle(bytes.data(), bytes.size()))
    return error("'" + model_path + "' is not an int8rt bundle (make one with `int8rt bundle model.onnx -o " +
                 "model.i8rt`)");
  ModelDef model;
  BundleOptions bopts;
  Status st = read_bundle(bytes.data(), bytes.size(), &model, &bopts);
  if (!st.ok()) return error(st.message());
  bytes.clear();
  bytes.shrink_to_fit();
  EngineOptions eo;
  eo.intra_op_threads = threads;
  apply_bundle_options(bopts, &eo);
  if (device == "cuda") {
    st = cuda::Device::open(device_id, &eo.cuda_device);
    if (!st.ok()) return error(std::string(error_code_string(st.code())) + ": " + st.message());
  }
  auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<Engine> engine;
  st = Engine::build(std::move(model), eo, &engine);
  if (!st.ok()) return error(std::string(error_code_string(st.code())) + ": " + st.message());
  double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("model %s: precision %s, %d threads, built in %.1f ms\n", model_path.c_str(),
              bundle_precision_name(bopts.precision), engine->intra_op_threads(), build_ms);
  if (eo.cuda_device)
    std::printf("CUDA device %d (%s): %zu steps on the GPU, %zu bytes of weights there\n", device_id,
                eo.cuda_device->info().name.c_str(), engine->cuda_steps(), engine->cuda_weight_bytes());

  std::vector<std::pair<std::string, Tensor>> feeds;
  for (const auto& kv : input_files) {
    Tensor t;
    if (!read_npy(kv.second, &t, &err)) return error(err);
    feeds.emplace_back(kv.first, std::move(t));
  }

  std::vector<Tensor> outputs;
  std::vector<double> times;
  for (int r = 0; r < repeat; r++) {
    outputs.clear();
    auto b = std::chrono::steady_clock::now();
    st = engine->run(feeds, &outputs);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - b).count();
    if (!st.ok()) return error(std::string(error_code_string(st.code())) + ": " + st.message());
    times.push_back(ms);
    std::printf("run %d: %.3f ms\n", r + 1, ms);
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  std::printf("runs: %d, min %.3f ms, median %.3f ms\n", repeat, sorted.front(), sorted[sorted.size() / 2]);

  if (!out_dir.empty()) {
    const auto& infos = engine->outputs();
    for (size_t i = 0; i < outputs.size(); i++) {
      std::string path = out_dir + "/" + file_name_for(infos[i].name) + ".npy";
      if (!write_npy(path, outputs[i], &err)) return error(err);
      std::printf("output %s %s %s -> %s\n", infos[i].name.c_str(), dtype_name(outputs[i].dtype()),
                  dims_str(outputs[i].dims()).c_str(), path.c_str());
    }
  }
  return 0;
}
