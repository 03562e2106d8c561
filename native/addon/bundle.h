// The N-API surface of model bundles (core/model_bundle.h): saveBundle(description, options) -> Buffer, and the
// bundle branch of createEngine (addon.cc), which takes a bundle's bytes in place of a model description.
#pragma once
#include <napi.h>

#include "core/graph.h"
#include "core/model_bundle.h"
#include "core/status.h"

namespace int8rt {
namespace addon {

// A Uint8Array/Buffer holding a bundle -> its model and options (copied out; the bytes may be dropped afterwards).
Status model_from_bundle_js(const Napi::Value& bytes, ModelDef* model, BundleOptions* options);

// Adds saveBundle and bundleInfo to the addon's exports.
void register_bundle(Napi::Env env, Napi::Object exports);

}  // namespace addon
}  // namespace int8rt
