// Each op's entry points, added to the module's exports by binding.cc's Init.
#pragma once
#include <napi.h>

namespace fa::binding {

void export_attention(Napi::Env env, Napi::Object exports);  // binding_attention.cc
void export_linear(Napi::Env env, Napi::Object exports);     // binding_linear.cc
void export_vision(Napi::Env env, Napi::Object exports);     // binding_vision.cc

}  // namespace fa::binding
