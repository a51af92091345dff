#include "addon.h"
// Placeholder until the interpreter binding lands.
void InitVm(Napi::Env env, Napi::Object exports) {}
