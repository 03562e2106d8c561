// The bundle format: see model_bundle.h, which specifies it field by field.
#include "core/model_bundle.h"

#include <cstring>
#include <limits>

#include "core/engine.h"

namespace int8rt {

const char* bundle_precision_name(BundlePrecision p) {
  switch (p) {
    case BundlePrecision::kFp32: return "fp32";
    case BundlePrecision::kFp16: return "fp16";
    case BundlePrecision::kInt8: return "int8";
    case BundlePrecision::kInt8Dynamic: return "int8-dynamic";
  }
  return "unknown";
}

bool bundle_precision_from_name(const std::string& name, BundlePrecision* out) {
  for (BundlePrecision p : {BundlePrecision::kFp32, BundlePrecision::kFp16, BundlePrecision::kInt8,
                            BundlePrecision::kInt8Dynamic}) {
    if (name == bundle_precision_name(p)) {
      *out = p;
      return true;
    }
  }
  return false;
}

bool is_bundle(const void* data, size_t size) {
  return data && size >= sizeof(kBundleMagic) && std::memcmp(data, kBundleMagic, sizeof(kBundleMagic)) == 0;
}

void apply_bundle_options(const BundleOptions& o, EngineOptions* out) {
  out->precision = Precision::kFp32;
  out->fp16_weights = false;
  out->dynamic_int8 = false;
  switch (o.precision) {
    case BundlePrecision::kFp32: break;
    case BundlePrecision::kFp16: out->fp16_weights = true; break;
    case BundlePrecision::kInt8: out->precision = Precision::kInt8; break;
    case BundlePrecision::kInt8Dynamic:
      out->precision = Precision::kInt8;
      out->dynamic_int8 = true;
      break;
  }
  out->quant.amax = o.amax;
  out->quant.node_precision.clear();
  for (const auto& kv : o.node_int8) out->quant.node_precision[kv.first] = kv.second ? Precision::kInt8 : Precision::kFp32;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

namespace {

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void bytes(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }
  // Little-endian regardless of the host: byte by byte.
  void u64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; i++) b[i] = char((v >> (8 * i)) & 0xff);
    bytes(b, 8);
  }
  void u32(uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; i++) b[i] = char((v >> (8 * i)) & 0xff);
    bytes(b, 4);
  }
  void u8(uint8_t v) { out_->push_back(char(v)); }
  void i32(int32_t v) { u32(uint32_t(v)); }
  void i64(int64_t v) { u64(uint64_t(v)); }
  void f32(float f) {
    uint32_t v;
    std::memcpy(&v, &f, 4);
    u32(v);
  }
  // A count or string length the format's u32 cannot hold marks the output as failed (checked by write_bundle).
  void count(size_t n) {
    if (n > std::numeric_limits<uint32_t>::max()) overflow_ = true;
    u32(uint32_t(n));
  }
  bool overflow() const { return overflow_; }
  void str(const std::string& s) {
    count(s.size());
    bytes(s.data(), s.size());
  }
  void strs(const std::vector<std::string>& v) {
    count(v.size());
    for (const auto& s : v) str(s);
  }
  std::string* out() { return out_; }

 private:
  std::string* out_;
  bool overflow_ = false;
};

bool host_little_endian() {
  const uint16_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

// Element bytes in little-endian order (a byte swap per element on a big-endian host).
void append_elements(Writer& w, const Tensor& t) {
  size_t n = t.nbytes(), es = dtype_size(t.dtype());
  const char* p = static_cast<const char*>(t.raw());
  if (host_little_endian() || es == 1) {
    w.bytes(p, n);
    return;
  }
  for (size_t i = 0; i < n; i += es)
    for (size_t k = 0; k < es; k++) w.out()->push_back(p[i + es - 1 - k]);
}

Status write_tensor(Writer& w, const Tensor& t, const std::string& what) {
  if (t.empty() && t.dtype() == DType::kUndefined) {
    w.i32(0);
    return Status::OK();
  }
  if (!dtype_valid(int32_t(t.dtype())))
    return Status(ErrorCode::kModel, what + ": element type " + dtype_name(t.dtype()) + " cannot be bundled");
  int64_t n = t.numel();
  if (n < 0) return Status(ErrorCode::kModel, what + ": invalid shape " + dims_str(t.dims()));
  if (n > 0 && t.empty()) return Status(ErrorCode::kModel, what + ": shape " + dims_str(t.dims()) + " but no data");
  if (t.buffer() && t.byte_offset() + t.nbytes() > t.buffer()->size())
    return Status(ErrorCode::kModel, what + ": data shorter than its shape " + dims_str(t.dims()));
  w.i32(int32_t(t.dtype()));
  w.count(t.rank());
  for (int64_t d : t.dims()) w.i64(d);
  w.u64(uint64_t(t.nbytes()));
  if (n > 0) append_elements(w, t);
  return Status::OK();
}

void write_value_info(Writer& w, const ValueInfo& v) {
  w.str(v.name);
  w.i32(int32_t(v.dtype));
  w.u8(v.has_shape ? 1 : 0);
  if (!v.has_shape) return;
  w.count(v.dims.size());
  for (size_t i = 0; i < v.dims.size(); i++) {
    w.i64(v.dims[i] >= 0 ? v.dims[i] : -1);
    w.str(i < v.dim_params.size() ? v.dim_params[i] : std::string());
  }
}

Status write_attribute(Writer& w, const Attribute& a, const NodeDef& n) {
  w.str(a.name);
  w.i32(int32_t(a.type));
  switch (a.type) {
    case Attribute::Type::kFloat: w.f32(a.f); break;
    case Attribute::Type::kInt: w.i64(a.i); break;
    case Attribute::Type::kString: w.str(a.s); break;
    case Attribute::Type::kTensor:
      INT8RT_RETURN_IF_ERROR(write_tensor(w, a.t, n.describe() + " attribute '" + a.name + "'"));
      break;
    case Attribute::Type::kFloats:
      w.count(a.floats.size());
      for (float f : a.floats) w.f32(f);
      break;
    case Attribute::Type::kInts:
      w.count(a.ints.size());
      for (int64_t v : a.ints) w.i64(v);
      break;
    case Attribute::Type::kStrings: w.strs(a.strings); break;
    default: break;  // no payload (model_bundle.h)
  }
  return Status::OK();
}

Status write_model(Writer& w, const ModelDef& m) {
  w.str(m.producer);
  w.count(m.opsets.size());
  for (const auto& kv : m.opsets) {
    w.str(kv.first);
    w.i64(kv.second);
  }
  for (const auto* list : {&m.inputs, &m.outputs}) {
    w.count(list->size());
    for (const ValueInfo& v : *list) write_value_info(w, v);
  }
  w.count(m.initializers.size());
  for (const auto& kv : m.initializers) {
    if (kv.second.dtype() == DType::kUndefined)
      return Status(ErrorCode::kModel, "initializer '" + kv.first + "' has no tensor");
    w.str(kv.first);
    INT8RT_RETURN_IF_ERROR(write_tensor(w, kv.second, "initializer '" + kv.first + "'"));
  }
  w.count(m.nodes.size());
  for (const NodeDef& n : m.nodes) {
    w.str(n.name);
    w.str(n.op_type);
    w.str(n.domain);
    w.strs(n.inputs);
    w.strs(n.outputs);
    w.count(n.attrs.size());
    for (const Attribute& a : n.attrs) INT8RT_RETURN_IF_ERROR(write_attribute(w, a, n));
    w.strs(n.fused_from);
  }
  return Status::OK();
}

void write_options(Writer& w, const BundleOptions& o) {
  w.u32(uint32_t(o.precision));
  w.str(o.model_sha256);
  w.count(o.amax.size());
  for (const auto& kv : o.amax) {
    w.str(kv.first);
    w.f32(kv.second);
  }
  w.count(o.node_int8.size());
  for (const auto& kv : o.node_int8) {
    w.str(kv.first);
    w.u32(kv.second ? 2 : 0);
  }
}

// Writes tag, a length placeholder, the payload, then patches the length.
template <typename F>
Status write_section(Writer& w, const char tag[4], F&& payload) {
  w.bytes(tag, 4);
  size_t at = w.out()->size();
  w.u64(0);
  size_t begin = w.out()->size();
  INT8RT_RETURN_IF_ERROR(payload());
  uint64_t len = uint64_t(w.out()->size() - begin);
  for (int i = 0; i < 8; i++) (*w.out())[at + i] = char((len >> (8 * i)) & 0xff);
  return Status::OK();
}

}  // namespace

Status write_bundle(const ModelDef& model, const BundleOptions& options, std::string* out) {
  std::string buf;
  Writer w(&buf);
  w.bytes(kBundleMagic, sizeof(kBundleMagic));
  w.u32(kBundleVersion);
  w.u32(0);
  INT8RT_RETURN_IF_ERROR(write_section(w, "OPTS", [&] {
    write_options(w, options);
    return Status::OK();
  }));
  INT8RT_RETURN_IF_ERROR(write_section(w, "MODL", [&] { return write_model(w, model); }));
  // Every count and string length is a u32: refuse what does not fit rather than write a file that lies.
  if (w.overflow())
    return Status(ErrorCode::kModel, "model too large to bundle (a list or string longer than 2^32 - 1)");
  out->swap(buf);
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

namespace {

Status bad(const std::string& what) { return Status(ErrorCode::kModel, "model bundle: " + what); }

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), end_(p + n), begin_(p) {}
  size_t remaining() const { return size_t(end_ - p_); }
  size_t offset() const { return size_t(p_ - begin_); }

  Status need(size_t n, const char* what) const {
    if (n > remaining())
      return bad(std::string(what) + " at byte " + std::to_string(offset()) + " needs " + std::to_string(n) +
                 " bytes, only " + std::to_string(remaining()) + " remain (truncated or corrupt file)");
    return Status::OK();
  }
  Status u64(uint64_t* v, const char* what) {
    INT8RT_RETURN_IF_ERROR(need(8, what));
    uint64_t r = 0;
    for (int i = 0; i < 8; i++) r |= uint64_t(p_[i]) << (8 * i);
    p_ += 8;
    *v = r;
    return Status::OK();
  }
  Status u32(uint32_t* v, const char* what) {
    INT8RT_RETURN_IF_ERROR(need(4, what));
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) r |= uint32_t(p_[i]) << (8 * i);
    p_ += 4;
    *v = r;
    return Status::OK();
  }
  Status u8(uint8_t* v, const char* what) {
    INT8RT_RETURN_IF_ERROR(need(1, what));
    *v = *p_++;
    return Status::OK();
  }
  Status i32(int32_t* v, const char* what) {
    uint32_t u;
    INT8RT_RETURN_IF_ERROR(u32(&u, what));
    *v = int32_t(u);
    return Status::OK();
  }
  Status i64(int64_t* v, const char* what) {
    uint64_t u;
    INT8RT_RETURN_IF_ERROR(u64(&u, what));
    *v = int64_t(u);
    return Status::OK();
  }
  Status f32(float* f, const char* what) {
    uint32_t u;
    INT8RT_RETURN_IF_ERROR(u32(&u, what));
    std::memcpy(f, &u, 4);
    return Status::OK();
  }
  Status str(std::string* s, const char* what) {
    uint32_t n;
    INT8RT_RETURN_IF_ERROR(u32(&n, what));
    INT8RT_RETURN_IF_ERROR(need(n, what));
    s->assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return Status::OK();
  }
  // A count of items of at least `min_item` bytes each: refused when the rest of the input cannot hold them, so no
  // reserve or loop is ever driven by a number larger than the file.
  Status count(uint32_t* n, size_t min_item, const char* what) {
    INT8RT_RETURN_IF_ERROR(u32(n, what));
    if (size_t(*n) > remaining() / min_item)
      return bad(std::string(what) + " at byte " + std::to_string(offset() - 4) + " is " + std::to_string(*n) +
                 ", more than the " + std::to_string(remaining()) + " remaining bytes can hold");
    return Status::OK();
  }
  Status strs(std::vector<std::string>* v, const char* what) {
    uint32_t n;
    INT8RT_RETURN_IF_ERROR(count(&n, 4, what));
    v->resize(n);
    for (auto& s : *v) INT8RT_RETURN_IF_ERROR(str(&s, what));
    return Status::OK();
  }
  Status raw(void* dst, size_t n, const char* what) {
    INT8RT_RETURN_IF_ERROR(need(n, what));
    if (n) std::memcpy(dst, p_, n);
    p_ += n;
    return Status::OK();
  }
  const uint8_t* pos() const { return p_; }
  // A sub-reader over the next n bytes (a section payload); this reader skips them.
  Status sub(size_t n, Reader* out, const char* what) {
    INT8RT_RETURN_IF_ERROR(need(n, what));
    *out = Reader(p_, n);
    out->begin_ = begin_;
    p_ += n;
    return Status::OK();
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
};

Status read_tensor(Reader& r, Tensor* t, const std::string& what, bool allow_none) {
  int32_t code;
  INT8RT_RETURN_IF_ERROR(r.i32(&code, "tensor dtype"));
  if (code == 0) {
    if (!allow_none) return bad(what + " has no tensor (dtype 0)");
    *t = Tensor();
    return Status::OK();
  }
  if (!dtype_valid(code)) return bad(what + " has an invalid element type " + std::to_string(code));
  uint32_t rank;
  INT8RT_RETURN_IF_ERROR(r.count(&rank, 8, "tensor rank"));
  Dims dims(rank);
  for (auto& d : dims) {
    INT8RT_RETURN_IF_ERROR(r.i64(&d, "tensor dim"));
    if (d < 0) return bad(what + " has a negative dim " + std::to_string(d));
  }
  int64_t n = dims_numel(dims);
  if (n < 0) return bad(what + " has a shape too large: " + dims_str(dims));
  uint64_t nbytes;
  INT8RT_RETURN_IF_ERROR(r.u64(&nbytes, "tensor byte length"));
  size_t es = dtype_size(DType(code));
  // n <= 2^40 and es <= 8: the product cannot overflow.
  if (nbytes != uint64_t(n) * es)
    return bad(what + " of shape " + dims_str(dims) + " has " + std::to_string(nbytes) + " data bytes, expected " +
               std::to_string(uint64_t(n) * es));
  INT8RT_RETURN_IF_ERROR(r.need(size_t(nbytes), "tensor data"));  // before allocating: bounded by the file
  Status st = Tensor::create(DType(code), dims, t);
  if (!st.ok()) return bad(what + ": " + st.message());
  char* dst = static_cast<char*>(t->raw());
  INT8RT_RETURN_IF_ERROR(r.raw(dst, size_t(nbytes), "tensor data"));
  if (!host_little_endian() && es > 1)
    for (size_t i = 0; i < nbytes; i += es)
      for (size_t k = 0; k < es / 2; k++) std::swap(dst[i + k], dst[i + es - 1 - k]);
  return Status::OK();
}

Status read_value_info(Reader& r, ValueInfo* v) {
  INT8RT_RETURN_IF_ERROR(r.str(&v->name, "value name"));
  int32_t code;
  INT8RT_RETURN_IF_ERROR(r.i32(&code, "value dtype"));
  if (code != 0 && !dtype_valid(code)) return bad("graph value '" + v->name + "' has an invalid element type " +
                                                  std::to_string(code));
  v->dtype = DType(code);
  uint8_t has;
  INT8RT_RETURN_IF_ERROR(r.u8(&has, "value has_shape"));
  if (has > 1) return bad("graph value '" + v->name + "' has has_shape " + std::to_string(has));
  v->has_shape = has == 1;
  if (!v->has_shape) return Status::OK();
  uint32_t rank;
  INT8RT_RETURN_IF_ERROR(r.count(&rank, 12, "value rank"));
  v->dims.resize(rank);
  v->dim_params.resize(rank);
  for (uint32_t i = 0; i < rank; i++) {
    INT8RT_RETURN_IF_ERROR(r.i64(&v->dims[i], "value dim"));
    if (v->dims[i] < -1) return bad("graph value '" + v->name + "' has an invalid dim " + std::to_string(v->dims[i]));
    INT8RT_RETURN_IF_ERROR(r.str(&v->dim_params[i], "dim param"));
  }
  return Status::OK();
}

Status read_attribute(Reader& r, Attribute* a, const std::string& node) {
  INT8RT_RETURN_IF_ERROR(r.str(&a->name, "attribute name"));
  int32_t type;
  INT8RT_RETURN_IF_ERROR(r.i32(&type, "attribute type"));
  a->type = Attribute::Type(type);
  uint32_t n;
  switch (a->type) {
    case Attribute::Type::kFloat: return r.f32(&a->f, "attribute float");
    case Attribute::Type::kInt: return r.i64(&a->i, "attribute int");
    case Attribute::Type::kString: return r.str(&a->s, "attribute string");
    case Attribute::Type::kTensor:
      return read_tensor(r, &a->t, "node '" + node + "' attribute '" + a->name + "'", /*allow_none=*/true);
    case Attribute::Type::kFloats:
      INT8RT_RETURN_IF_ERROR(r.count(&n, 4, "attribute floats count"));
      a->floats.resize(n);
      for (float& f : a->floats) INT8RT_RETURN_IF_ERROR(r.f32(&f, "attribute floats"));
      return Status::OK();
    case Attribute::Type::kInts:
      INT8RT_RETURN_IF_ERROR(r.count(&n, 8, "attribute ints count"));
      a->ints.resize(n);
      for (int64_t& v : a->ints) INT8RT_RETURN_IF_ERROR(r.i64(&v, "attribute ints"));
      return Status::OK();
    case Attribute::Type::kStrings: return r.strs(&a->strings, "attribute strings");
    default: return Status::OK();
  }
}

Status read_model(Reader& r, ModelDef* m) {
  *m = ModelDef();
  INT8RT_RETURN_IF_ERROR(r.str(&m->producer, "producer"));
  uint32_t n;
  INT8RT_RETURN_IF_ERROR(r.count(&n, 12, "opset count"));
  for (uint32_t i = 0; i < n; i++) {
    std::string domain;
    int64_t version;
    INT8RT_RETURN_IF_ERROR(r.str(&domain, "opset domain"));
    INT8RT_RETURN_IF_ERROR(r.i64(&version, "opset version"));
    if (!m->opsets.emplace(domain, version).second) return bad("opset domain '" + domain + "' appears twice");
  }
  for (auto* list : {&m->inputs, &m->outputs}) {
    INT8RT_RETURN_IF_ERROR(r.count(&n, 9, list == &m->inputs ? "input count" : "output count"));
    list->resize(n);
    for (ValueInfo& v : *list) INT8RT_RETURN_IF_ERROR(read_value_info(r, &v));
  }
  INT8RT_RETURN_IF_ERROR(r.count(&n, 8, "initializer count"));
  m->initializers.resize(n);
  for (auto& kv : m->initializers) {
    INT8RT_RETURN_IF_ERROR(r.str(&kv.first, "initializer name"));
    INT8RT_RETURN_IF_ERROR(read_tensor(r, &kv.second, "initializer '" + kv.first + "'", /*allow_none=*/false));
  }
  INT8RT_RETURN_IF_ERROR(r.count(&n, 28, "node count"));
  m->nodes.resize(n);
  for (NodeDef& nd : m->nodes) {
    INT8RT_RETURN_IF_ERROR(r.str(&nd.name, "node name"));
    INT8RT_RETURN_IF_ERROR(r.str(&nd.op_type, "node op_type"));
    INT8RT_RETURN_IF_ERROR(r.str(&nd.domain, "node domain"));
    INT8RT_RETURN_IF_ERROR(r.strs(&nd.inputs, "node inputs"));
    INT8RT_RETURN_IF_ERROR(r.strs(&nd.outputs, "node outputs"));
    uint32_t na;
    INT8RT_RETURN_IF_ERROR(r.count(&na, 8, "attribute count"));
    nd.attrs.resize(na);
    for (Attribute& a : nd.attrs) INT8RT_RETURN_IF_ERROR(read_attribute(r, &a, nd.name));
    INT8RT_RETURN_IF_ERROR(r.strs(&nd.fused_from, "node fused_from"));
  }
  return Status::OK();
}

Status read_options(Reader& r, BundleOptions* o) {
  *o = BundleOptions();
  uint32_t p;
  INT8RT_RETURN_IF_ERROR(r.u32(&p, "precision"));
  if (p > uint32_t(BundlePrecision::kInt8Dynamic)) return bad("unknown precision code " + std::to_string(p));
  o->precision = BundlePrecision(p);
  INT8RT_RETURN_IF_ERROR(r.str(&o->model_sha256, "model sha256"));
  uint32_t n;
  INT8RT_RETURN_IF_ERROR(r.count(&n, 8, "range count"));
  for (uint32_t i = 0; i < n; i++) {
    std::string name;
    float amax;
    INT8RT_RETURN_IF_ERROR(r.str(&name, "range tensor name"));
    INT8RT_RETURN_IF_ERROR(r.f32(&amax, "range amax"));
    o->amax[name] = amax;
  }
  INT8RT_RETURN_IF_ERROR(r.count(&n, 8, "nodePrecision count"));
  for (uint32_t i = 0; i < n; i++) {
    std::string name;
    uint32_t v;
    INT8RT_RETURN_IF_ERROR(r.str(&name, "nodePrecision node name"));
    INT8RT_RETURN_IF_ERROR(r.u32(&v, "nodePrecision value"));
    if (v != 0 && v != 2) return bad("nodePrecision of node '" + name + "' has code " + std::to_string(v) +
                                     " (0 fp32 or 2 int8 expected)");
    o->node_int8[name] = v == 2;
  }
  return Status::OK();
}

Status open_section(Reader& r, const char tag[4], Reader* payload) {
  uint8_t got[4];
  INT8RT_RETURN_IF_ERROR(r.raw(got, 4, "section tag"));
  if (std::memcmp(got, tag, 4) != 0) return bad(std::string("expected section ") + std::string(tag, 4) + " at byte " +
                                                std::to_string(r.offset() - 4));
  uint64_t len;
  INT8RT_RETURN_IF_ERROR(r.u64(&len, "section length"));
  if (len > r.remaining())
    return bad("section " + std::string(tag, 4) + " claims " + std::to_string(len) + " bytes, only " +
               std::to_string(r.remaining()) + " remain (truncated or corrupt file)");
  return r.sub(size_t(len), payload, "section payload");
}

Status end_of(const Reader& r, const std::string& what) {
  if (r.remaining() != 0)
    return bad(std::to_string(r.remaining()) + " unexpected bytes after " + what + " at byte " +
               std::to_string(r.offset()));
  return Status::OK();
}

Status read_header(Reader& r) {
  if (r.remaining() < sizeof(kBundleMagic) ||
      std::memcmp(r.pos(), kBundleMagic, sizeof(kBundleMagic)) != 0)
    return bad("not an int8rt bundle (the file does not start with \"I8RTBNDL\")");
  uint8_t magic[8];
  INT8RT_RETURN_IF_ERROR(r.raw(magic, 8, "magic"));
  uint32_t version, reserved;
  INT8RT_RETURN_IF_ERROR(r.u32(&version, "format version"));
  if (version != kBundleVersion)
    return bad("format version " + std::to_string(version) + " is not supported (this build reads version " +
               std::to_string(kBundleVersion) + ")");
  INT8RT_RETURN_IF_ERROR(r.u32(&reserved, "reserved"));
  if (reserved != 0) return bad("reserved header field is " + std::to_string(reserved) + ", expected 0");
  return Status::OK();
}

}  // namespace

Status read_bundle_options(const void* data, size_t size, BundleOptions* options) {
  if (!data && size) return bad("no data");
  Reader r(static_cast<const uint8_t*>(data), size);
  INT8RT_RETURN_IF_ERROR(read_header(r));
  Reader opts(nullptr, 0);
  INT8RT_RETURN_IF_ERROR(open_section(r, "OPTS", &opts));
  INT8RT_RETURN_IF_ERROR(read_options(opts, options));
  return end_of(opts, "the OPTS section");
}

Status read_bundle(const void* data, size_t size, ModelDef* model, BundleOptions* options) {
  if (!data && size) return bad("no data");
  Reader r(static_cast<const uint8_t*>(data), size);
  INT8RT_RETURN_IF_ERROR(read_header(r));
  Reader opts(nullptr, 0), modl(nullptr, 0);
  INT8RT_RETURN_IF_ERROR(open_section(r, "OPTS", &opts));
  INT8RT_RETURN_IF_ERROR(read_options(opts, options));
  INT8RT_RETURN_IF_ERROR(end_of(opts, "the OPTS section"));
  INT8RT_RETURN_IF_ERROR(open_section(r, "MODL", &modl));
  INT8RT_RETURN_IF_ERROR(read_model(modl, model));
  INT8RT_RETURN_IF_ERROR(end_of(modl, "the MODL section"));
  return end_of(r, "the MODL section");
}

}  // namespace int8rt
