// The N-API addon the TypeScript server uses: a thin, synchronous layer over the shared C core
// (like better-sqlite3). Each area registers its functions from its own file.
#pragma once
#include <napi.h>

void InitIpc(Napi::Env env, Napi::Object exports);  // addon_ipc.cc: sockets, SCM_RIGHTS, memfds, polling
void InitMaps(Napi::Env env, Napi::Object exports); // addon_maps.cc: map regions, map operations
void InitVm(Napi::Env env, Napi::Object exports);   // addon_vm.cc: the interpreter
void InitInject(Napi::Env env, Napi::Object exports); // addon_inject.cc: ptrace injection (bpftime attach)
void InitProg(Napi::Env env, Napi::Object exports); // addon_prog.cc: loaded programs, BPF_PROG_TEST_RUN

struct bpftime_map;
// addon_maps.cc: the map behind a mapOpen handle (nullptr and a pending exception if not one).
struct bpftime_map *MapFromHandle(Napi::Env env, Napi::Value v);
