#include "addon.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitIpc(env, exports);
  InitMaps(env, exports);
  InitVm(env, exports);
  return exports;
}

NODE_API_MODULE(bpftime_addon, Init)
