#include "addon.h"

extern "C" {
#include "bpftime/helpers.h"
}

// helperIds() -> number[]: the helper ids the native core implements, which PROG_LOAD accepts.
static Napi::Value HelperIds(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (uint32_t id = 0; id < bpftime_helper_table_len; id++)
    if (bpftime_helper_table[id]) out.Set(k++, id);
  return out;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitIpc(env, exports);
  InitMaps(env, exports);
  InitVm(env, exports);
  InitInject(env, exports);
  InitProg(env, exports);
  exports.Set("helperIds", Napi::Function::New(env, HelperIds));
  return exports;
}

NODE_API_MODULE(bpftime_addon, Init)
