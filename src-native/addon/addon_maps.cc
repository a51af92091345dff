#include "addon.h"
// Placeholder until the map binding lands.
void InitMaps(Napi::Env env, Napi::Object exports) {}
