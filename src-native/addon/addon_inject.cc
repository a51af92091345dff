// `bpftime attach`: the ptrace injector (src-native/inject) for the CLI.
//
// Synchronous on purpose: ptrace belongs to the thread that seized the target, so the whole
// sequence runs on the calling thread from seize to detach; the CLI has nothing else to do
// meanwhile. It runs in the CLI's process, never in the server's.
#include "addon.h"

#include <string>
#include <vector>

#include "../inject/inject.h"

namespace {

// inject(pid, libPath, {env?: string[] ("NAME=VALUE"), entry?: string, timeoutMs?: number})
//   -> {ok, error?, errno?, stage?, tid, wasLoaded, inSyscall, handle: bigint}
Napi::Value Inject(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    Napi::TypeError::New(env, "inject(pid, libPath, opts?)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string lib = info[1].As<Napi::String>();
  std::vector<std::string> envs;
  std::string entry;
  bool haveEntry = false;
  int timeoutMs = 0;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object o = info[2].As<Napi::Object>();
    if (o.Get("env").IsArray()) {
      Napi::Array a = o.Get("env").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) envs.push_back(a.Get(i).ToString());
    }
    if (o.Get("entry").IsString()) {
      entry = o.Get("entry").As<Napi::String>();
      haveEntry = true;
    }
    if (o.Get("timeoutMs").IsNumber()) timeoutMs = o.Get("timeoutMs").As<Napi::Number>().Int32Value();
  }
  std::vector<const char *> envp;
  for (const std::string &s : envs) envp.push_back(s.c_str());

  struct bpftime_inject_opts opts = {};
  opts.pid = info[0].As<Napi::Number>().Int32Value();
  opts.lib = lib.c_str();
  opts.env = envp.data();
  opts.nenv = envp.size();
  opts.entry = haveEntry ? entry.c_str() : nullptr;
  opts.timeout_ms = timeoutMs;
  struct bpftime_inject_result res;
  bpftime_inject(&opts, &res);

  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", Napi::Boolean::New(env, res.ok != 0));
  if (!res.ok) {
    out.Set("error", Napi::String::New(env, res.message));
    out.Set("errno", Napi::Number::New(env, res.err));
    out.Set("stage", Napi::String::New(env, res.stage ? res.stage : ""));
  }
  out.Set("tid", Napi::Number::New(env, res.tid));
  out.Set("wasLoaded", Napi::Boolean::New(env, res.was_loaded != 0));
  out.Set("inSyscall", Napi::Boolean::New(env, res.in_syscall != 0));
  out.Set("handle", Napi::BigInt::New(env, (uint64_t)res.handle));
  return out;
}

// ptraceCheck(pid) -> {ok, error?}: whether this process may trace pid (it is stopped for an
// instant and let go untouched).
Napi::Value PtraceCheck(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  char msg[512] = "";
  int rc = bpftime_inject_check(info[0].As<Napi::Number>().Int32Value(), msg, sizeof(msg));
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", Napi::Boolean::New(env, rc == 0));
  if (rc != 0) out.Set("error", Napi::String::New(env, msg));
  return out;
}

}  // namespace

void InitInject(Napi::Env env, Napi::Object exports) {
  exports.Set("inject", Napi::Function::New(env, Inject, "inject"));
  exports.Set("ptraceCheck", Napi::Function::New(env, PtraceCheck, "ptraceCheck"));
}
