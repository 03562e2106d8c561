#include "core/graph.h"

namespace int8rt {

const Attribute* NodeDef::attr(const std::string& n) const {
  for (const auto& a : attrs)
    if (a.name == n) return &a;
  return nullptr;
}

int64_t NodeDef::attr_int(const std::string& n, int64_t dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kInt ? a->i : dflt;
}

float NodeDef::attr_float(const std::string& n, float dflt) const {
  const Attribute* a = attr(n);
  if (!a) return dflt;
  if (a->type == Attribute::Type::kFloat) return a->f;
  if (a->type == Attribute::Type::kInt) return (float)a->i;
  return dflt;
}

std::string NodeDef::attr_string(const std::string& n, const std::string& dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kString ? a->s : dflt;
}

std::vector<int64_t> NodeDef::attr_ints(const std::string& n, const std::vector<int64_t>& dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kInts ? a->ints : dflt;
}

std::vector<float> NodeDef::attr_floats(const std::string& n, const std::vector<float>& dflt) const {
  const Attribute* a = attr(n);
  return a && a->type == Attribute::Type::kFloats ? a->floats : dflt;
}

static Attribute* find_or_add(std::vector<Attribute>& attrs, const std::string& n) {
  for (auto& a : attrs)
    if (a.name == n) return &a;
  attrs.emplace_back();
  attrs.back().name = n;
  return &attrs.back();
}

void NodeDef::set_attr_int(const std::string& n, int64_t v) {
  Attribute* a = find_or_add(attrs, n);
  a->type = Attribute::Type::kInt;
  a->i = v;
}

void NodeDef::set_attr_float(const std::string& n, float v) {
  Attribute* a = find_or_add(attrs, n);
  a->type = Attribute::Type::kFloat;
  a->f = v;
}

void NodeDef::set_attr_string(const std::string& n, const std::string& v) {
  Attribute* a = find_or_add(attrs, n);
  a->type = Attribute::Type::kString;
  a->s = v;
}

std::string NodeDef::describe() const {
  return op_type + " node '" + (name.empty() ? (outputs.empty() ? std::string("?") : outputs[0]) : name) + "'";
}

}  // namespace int8rt
