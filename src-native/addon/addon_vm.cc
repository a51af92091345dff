// The interpreter binding: run or check raw bytecode from TypeScript (conformance tests,
// the JIT's differential tests, `bpftime` debugging commands).
//
//   vmRun(insns: Buffer, mem: Buffer | null, opts?: { budget?: number | bigint, repeat?: number })
//       -> { ok: boolean, r0: bigint, mem?: Buffer, ns: number, error?: string, errno?: number }
//     Runs with the calling convention of the conformance suite: r1 = pointer to a private
//     copy of mem (0 when mem is null), r2 = its length. Helpers: see kTestHelpers.
//     `repeat` runs it that many times on the same copy (benchmarks); `ns` is the total time
//     of the runs, `mem` the copy's final contents (differential tests compare them).
//   vmCheck(insns: Buffer) -> { ok: boolean, log: string, errno?: number }
//   jitRun(code: Buffer, relocs: JitReloc[], mem: Buffer | null, opts?: { repeat?: number, blob?: boolean })
//       -> { ok: boolean, r0: bigint, mem?: Buffer, ns: number, error?: string, errno?: number }
//     Loads JIT output (src-ts/jit) W^X with bpftime_jit_load and runs it with the same
//     convention as vmRun, helpers from bpftime_helper_table. relocs: { offset, kind ('helper' |
//     'map_ptr' | 'map_value' or the enum number), id, addend, value? }; map relocations take
//     their process-local value from `value` (there are no maps behind this entry point).
//     With blob: true, code is a whole struct bpftime_jit_blob (src-ts/jit/image.ts) loaded by
//     bpftime_jit_load_blob, and relocs only supply the values of its map relocations.
#include <errno.h>
#include <string.h>
#include <time.h>

#include <string>
#include <vector>

#include "addon.h"
#include "bpftime/helpers.h"
#include "bpftime/jit.h"
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
// the conformance vector call_unwind_fail calls (`call 5`) and ignores the result of; bpf_loop
// calls back into the program (the JIT's callback tests compare it with the JIT).
// (Filled by InitVm: C++ has no array designators.)
bpftime_helper_fn kTestHelpers[BPF_FUNC_loop + 1];

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
                     : err == EACCES ? "EACCES" : err == ENOMEM ? "ENOMEM" : err == ENOEXEC ? "ENOEXEC" : "E?";
  return std::string(name) + " (" + strerror(err) + ")";
}

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// mem argument: a Buffer (copied) or null/undefined. False after throwing a TypeError.
bool MemFromArg(const Napi::CallbackInfo &info, size_t idx, std::vector<uint8_t> *mem, bool *given) {
  *given = false;
  if (info.Length() > idx && info[idx].IsBuffer()) {
    auto b = info[idx].As<Napi::Buffer<uint8_t>>();
    mem->assign(b.Data(), b.Data() + b.Length());
    *given = true;
  } else if (info.Length() > idx && !info[idx].IsNull() && !info[idx].IsUndefined()) {
    Napi::TypeError::New(info.Env(), "mem must be a Buffer or null").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

uint64_t U64Option(const Napi::CallbackInfo &info, size_t idx, const char *name, uint64_t dflt) {
  if (info.Length() <= idx || !info[idx].IsObject()) return dflt;
  Napi::Value v = info[idx].As<Napi::Object>().Get(name);
  bool lossless = true;
  if (v.IsBigInt()) return v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (v.IsNumber()) return (uint64_t)v.As<Napi::Number>().Int64Value();
  return dflt;
}

Napi::Object RunResult(Napi::Env env, int err, uint64_t r0, const std::vector<uint8_t> &mem, bool memGiven,
                       uint64_t ns) {
  Napi::Object res = Napi::Object::New(env);
  res.Set("ok", Napi::Boolean::New(env, err == 0));
  res.Set("r0", Napi::BigInt::New(env, r0));
  res.Set("ns", Napi::Number::New(env, (double)ns));
  if (memGiven) res.Set("mem", Napi::Buffer<uint8_t>::Copy(env, mem.data(), mem.size()));
  if (err) {
    res.Set("errno", Napi::Number::New(env, -err));
    res.Set("error", Napi::String::New(env, ErrnoText(-err)));
  }
  return res;
}

Napi::Value VmRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::vector<struct bpf_insn> insns;
  if (!InsnsFromBuffer(env, info[0], &insns)) return env.Undefined();

  std::vector<uint8_t> mem;
  bool memGiven;
  if (!MemFromArg(info, 1, &mem, &memGiven)) return env.Undefined();
  uint64_t budget = U64Option(info, 2, "budget", 0);
  uint64_t repeat = U64Option(info, 2, "repeat", 1);

  struct bpftime_vm_prog prog = {};
  prog.insns = insns.data();
  prog.insn_cnt = (uint32_t)insns.size();
  prog.helpers = kTestHelpers;
  prog.nhelpers = sizeof(kTestHelpers) / sizeof(kTestHelpers[0]);
  prog.insn_budget = budget;

  uint64_t r0 = 0;
  uint64_t r1 = mem.empty() ? 0 : (uint64_t)(uintptr_t)mem.data();
  int err = 0;
  uint64_t t0 = NowNs();
  for (uint64_t k = 0; k < repeat && err == 0; k++) err = bpftime_vm_exec(&prog, r1, (uint64_t)mem.size(), &r0);
  uint64_t ns = NowNs() - t0;
  return RunResult(env, err, r0, mem, memGiven, ns);
}

// Map relocations in jitRun carry their value; the resolver finds it by (kind, id, addend).
struct TestReloc {
  uint32_t kind, id, addend;
  uint64_t value;
};

int ResolveTestReloc(void *user, uint32_t kind, uint32_t id, uint32_t addend, uint64_t *value) {
  for (const TestReloc &r : *static_cast<std::vector<TestReloc> *>(user)) {
    if (r.kind == kind && r.id == id && r.addend == addend) {
      *value = r.value;
      return 0;
    }
  }
  return -ENOENT;
}

uint32_t RelocKindFromValue(const Napi::Value &v) {
  if (v.IsNumber()) return v.As<Napi::Number>().Uint32Value();
  if (!v.IsString()) return 0;
  std::string k = v.As<Napi::String>().Utf8Value();
  if (k == "helper") return BPFTIME_JIT_RELOC_HELPER;
  if (k == "map_ptr") return BPFTIME_JIT_RELOC_MAP_PTR;
  if (k == "map_value") return BPFTIME_JIT_RELOC_MAP_VALUE;
  return 0;
}

Napi::Value JitRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) {
    Napi::TypeError::New(env, "code must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto code = info[0].As<Napi::Buffer<uint8_t>>();
  std::vector<struct bpftime_jit_reloc> relocs;
  std::vector<TestReloc> values;
  if (info.Length() > 1 && info[1].IsArray()) {
    Napi::Array arr = info[1].As<Napi::Array>();
    for (uint32_t k = 0; k < arr.Length(); k++) {
      Napi::Value item = arr.Get(k);
      if (!item.IsObject()) {
        Napi::TypeError::New(env, "relocs must be objects").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Object o = item.As<Napi::Object>();
      struct bpftime_jit_reloc r = {};
      r.offset = o.Get("offset").ToNumber().Uint32Value();
      r.kind = RelocKindFromValue(o.Get("kind"));
      r.id = o.Get("id").ToNumber().Uint32Value();
      r.addend = o.Has("addend") ? o.Get("addend").ToNumber().Uint32Value() : 0;
      relocs.push_back(r);
      Napi::Value v = o.Get("value");
      bool lossless = true;
      if (v.IsBigInt()) values.push_back({r.kind, r.id, r.addend, v.As<Napi::BigInt>().Uint64Value(&lossless)});
      else if (v.IsNumber()) values.push_back({r.kind, r.id, r.addend, (uint64_t)v.As<Napi::Number>().Int64Value()});
    }
  } else if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) {
    Napi::TypeError::New(env, "relocs must be an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint8_t> mem;
  bool memGiven;
  if (!MemFromArg(info, 2, &mem, &memGiven)) return env.Undefined();
  uint64_t repeat = U64Option(info, 3, "repeat", 1);
  bool blob = info.Length() > 3 && info[3].IsObject() && info[3].As<Napi::Object>().Get("blob").ToBoolean().Value();

  struct bpftime_jit_env jenv = {};
  jenv.helpers = bpftime_helper_table;
  jenv.nhelpers = bpftime_helper_table_len;
  jenv.resolve = ResolveTestReloc;
  jenv.user = &values;
  struct bpftime_jit_prog *prog = nullptr;
  int err = blob ? bpftime_jit_load_blob(code.Data(), code.Length(), &jenv, &prog)
                 : bpftime_jit_load(code.Data(), code.Length(), relocs.data(), (uint32_t)relocs.size(), &jenv, &prog);
  uint64_t r0 = 0, ns = 0;
  if (err == 0) {
    bpftime_jit_fn fn = bpftime_jit_entry(prog);
    uint64_t r1 = mem.empty() ? 0 : (uint64_t)(uintptr_t)mem.data();
    uint64_t t0 = NowNs();
    for (uint64_t k = 0; k < repeat; k++) r0 = fn(r1, (uint64_t)mem.size());
    ns = NowNs() - t0;
    bpftime_jit_free(prog);
  }
  return RunResult(env, err, r0, mem, memGiven, ns);
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
  kTestHelpers[BPF_FUNC_loop] = bpftime_helper_table[BPF_FUNC_loop];
  exports.Set("vmRun", Napi::Function::New(env, VmRun, "vmRun"));
  exports.Set("vmCheck", Napi::Function::New(env, VmCheck, "vmCheck"));
  exports.Set("jitRun", Napi::Function::New(env, JitRun, "jitRun"));
}
