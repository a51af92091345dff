// The interpreter binding: run or check raw bytecode from TypeScript (conformance tests,
// the JIT's differential tests, `bpftime` debugging commands).
//
//   vmRun(insns: Buffer, mem: Buffer | null, opts?: { budget?: number | bigint })
//       -> { ok: boolean, r0: bigint, error?: string, errno?: number }
//     Runs with the calling convention of the conformance suite: r1 = pointer to a private
//     copy of mem (0 when mem is null), r2 = its length. Helpers: see kTestHelpers.
//   vmCheck(insns: Buffer) -> { ok: boolean, log: string, errno?: number }
#include <errno.h>
#include <string.h>
#include <time.h>

#include <string>
#include <vector>

#include "addon.h"
#include "bpftime/vm.h"

namespace {

// The kernel's bpf_ktime_get_ns: CLOCK_MONOTONIC in nanoseconds.
uint64_t HelperKtimeGetNs(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Helpers available to vmRun, at their kernel ids. Only side-effect-free ones: this entry
// point runs arbitrary test bytecode with no maps or context behind it. ktime_get_ns is what
// the conformance vector call_unwind_fail calls (`call 5`) and ignores the result of.
// (Filled by InitVm: C++ has no array designators.)
bpftime_helper_fn kTestHelpers[BPF_FUNC_ktime_get_ns + 1];

bool InsnsFromBuffer(const Napi::Env &env, const Napi::Value &v, std::vector<struct bpf_insn> *out) {
  if (!v.IsBuffer()) {
    Napi::TypeError::New(env, "insns must be a Buffer").ThrowAsJavaScriptException();
    return false;
  }
  auto buf = v.As<Napi::Buffer<uint8_t>>();
  if (buf.Length() % sizeof(struct bpf_insn) != 0) {
    Napi::TypeError::New(env, "insns length must be a multiple of 8").ThrowAsJavaScriptException();
    return false;
  }
  // Copy: a Buffer may be an unaligned slice of a larger ArrayBuffer.
  out->resize(buf.Length() / sizeof(struct bpf_insn));
  if (!out->empty()) memcpy(out->data(), buf.Data(), buf.Length());
  return true;
}

std::string ErrnoText(int err) {
  const char *name = err == EINVAL ? "EINVAL" : err == E2BIG ? "E2BIG" : err == ENOENT ? "ENOENT"
                     : err == EACCES ? "EACCES" : err == ENOMEM ? "ENOMEM" : "E?";
  return std::string(name) + " (" + strerror(err) + ")";
}

Napi::Value VmRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<struct bpf_insn> insns;
  if (!InsnsFromBuffer(env, info[0], &insns)) return env.Undefined();

  std::vector<uint8_t> mem;
  if (info.Length() > 1 && info[1].IsBuffer()) {
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    mem.assign(b.Data(), b.Data() + b.Length());
  } else if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) {
    Napi::TypeError::New(env, "mem must be a Buffer or null").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  uint64_t budget = 0;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Value b = info[2].As<Napi::Object>().Get("budget");
    bool lossless = true;
    if (b.IsBigInt()) budget = b.As<Napi::BigInt>().Uint64Value(&lossless);
    else if (b.IsNumber()) budget = (uint64_t)b.As<Napi::Number>().Int64Value();
  }

  struct bpftime_vm_prog prog = {};
  prog.insns = insns.data();
  prog.insn_cnt = (uint32_t)insns.size();
  prog.helpers = kTestHelpers;
  prog.nhelpers = sizeof(kTestHelpers) / sizeof(kTestHelpers[0]);
  prog.insn_budget = budget;

  uint64_t r0 = 0;
  uint64_t r1 = mem.empty() ? 0 : (uint64_t)(uintptr_t)mem.data();
  int err = bpftime_vm_exec(&prog, r1, (uint64_t)mem.size(), &r0);

  Napi::Object res = Napi::Object::New(env);
  res.Set("ok", Napi::Boolean::New(env, err == 0));
  res.Set("r0", Napi::BigInt::New(env, r0));
  if (err) {
    res.Set("errno", Napi::Number::New(env, -err));
    res.Set("error", Napi::String::New(env, ErrnoText(-err)));
  }
  return res;
}

Napi::Value VmCheck(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<struct bpf_insn> insns;
  if (!InsnsFromBuffer(env, info[0], &insns)) return env.Undefined();

  std::vector<char> log(16384);
  int err = bpftime_vm_check(insns.data(), (uint32_t)insns.size(), log.data(), log.size());

  Napi::Object res = Napi::Object::New(env);
  res.Set("ok", Napi::Boolean::New(env, err == 0));
  res.Set("log", Napi::String::New(env, log.data()));
  if (err) res.Set("errno", Napi::Number::New(env, -err));
  return res;
}

}  // namespace

void InitVm(Napi::Env env, Napi::Object exports) {
  kTestHelpers[BPF_FUNC_ktime_get_ns] = HelperKtimeGetNs;
  exports.Set("vmRun", Napi::Function::New(env, VmRun, "vmRun"));
  exports.Set("vmCheck", Napi::Function::New(env, VmCheck, "vmCheck"));
}
