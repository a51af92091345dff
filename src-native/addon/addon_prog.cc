// Loaded programs in the server, for BPF_PROG_TEST_RUN (src-ts/server/syscalls/prog_test_run.ts).
//
//   progOpen(fd, mapIds: number[], mapHandles: External[]) -> handle | { errno, error }
//     Maps the program's memfd (objfile.h) and makes it runnable here with the loader agents use
//     (bpftime_prog_image_load: same relocations, same JIT code or interpreter), against the
//     server's own handles on the program's maps, so a test run computes what an attached
//     program computes.
//   progClose(handle)
//   progTestRunStart(handle, { ctx, pkt, ptrs, repeat, cpu, timeoutMs, perfSlots, as* })
//       -> { run, pidfd }          progTestRunFinish(run)
//       -> { ok, retval: bigint, totalNs, ctx?: Buffer, pkt?: Buffer, pktBase, trace, error? }
//     ctx: the context bytes (null: r1 = NULL); pkt: the packet buffer (headroom included);
//     ptrs: [ctxOff, pktOff, ...]: the u32 at ctx+ctxOff gets the address of pkt+pktOff, as the
//     kernel's ctx rewriting gives struct xdp_md / __sk_buff readers a pointer in a u32 field:
//     both buffers live below 2 GiB (MAP_32BIT), so the u32 the program loads IS the pointer.
//     perfSlots: [mapId, index, eventId, memfd, waitFd, ...]: the perf buffers in the slots of
//     the program's PERF_EVENT_ARRAY maps, so bpf_perf_event_output from a test run reaches the
//     tool as it does from an attached program (bpftrace runs BEGIN/END this way).
//     The runs happen in a forked child (the memory is MAP_SHARED, maps are shared memory): a
//     program our structural checks let through but the kernel's verifier would have refused
//     must not take the server down, and a long run (a large repeat) must not stop the server
//     from answering everyone else. Start returns at once with a pidfd that becomes readable
//     when the child is done; the server then calls Finish. progTestRunCancel(run) ends it early
//     (the caller was interrupted by a signal). A fault ends the child; the caller gets ok: false
//     and what happened.
#include "addon.h"

#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "bpftime/helpers.h"
#include "bpftime/objfile.h"
#include "bpftime/perf_slots.h"
#include "bpftime/prog_array.h"
#include "bpftime/prog_image.h"
}

namespace {

const napi_type_tag kProgHandleTag = {0x70726f6768616e64ull, 0x6c65746573747275ull};

struct ProgHandle {
  struct bpftime_loaded_prog prog = {};
  uint32_t id = 0; // published as a bpf_tail_call target while open
  bool open = false;
  void Close() {
    if (open) {
      bpftime_tail_unpublish(id);
      bpftime_loaded_prog_free(&prog);
    }
    open = false;
  }
  ~ProgHandle() { Close(); }
};

Napi::Value Fail(Napi::Env env, int err, const std::string &msg) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", Napi::Number::New(env, err));
  o.Set("error", Napi::String::New(env, msg));
  return o;
}

Napi::Value Throw(Napi::Env env, const char *msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

ProgHandle *GetProg(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal() || !v.As<Napi::External<ProgHandle>>().CheckTypeTag(&kProgHandleTag)) {
    Throw(env, "expected a program handle from progOpen");
    return nullptr;
  }
  ProgHandle *h = v.As<Napi::External<ProgHandle>>().Data();
  if (!h->open) {
    Throw(env, "program handle is closed");
    return nullptr;
  }
  return h;
}

Napi::Value ProgOpen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsArray() || !info[2].IsArray())
    return Throw(env, "progOpen(fd, mapIds, mapHandles)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array ids = info[1].As<Napi::Array>(), handles = info[2].As<Napi::Array>();
  if (ids.Length() != handles.Length()) return Throw(env, "progOpen: mapIds and mapHandles differ in length");
  std::vector<uint32_t> mapIds;
  std::vector<struct bpftime_map *> maps;
  for (uint32_t k = 0; k < ids.Length(); k++) {
    mapIds.push_back(ids.Get(k).ToNumber().Uint32Value());
    struct bpftime_map *m = MapFromHandle(env, handles.Get(k));
    if (!m) return env.Undefined();
    maps.push_back(m);
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || (size_t)st.st_size < BPFTIME_OBJ_HDR_SIZE + sizeof(struct bpftime_prog_image))
    return Fail(env, -EINVAL, "program memfd too small");
  void *p = mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Fail(env, -errno, std::string("mmap: ") + strerror(errno));
  auto *h = new ProgHandle;
  char why[200] = "";
  int rc = bpftime_prog_image_load((const struct bpftime_prog_image *)((char *)p + BPFTIME_OBJ_HDR_SIZE),
                                   (size_t)st.st_size - BPFTIME_OBJ_HDR_SIZE, mapIds.data(), maps.data(),
                                   (uint32_t)maps.size(), &h->prog, why, sizeof(why));
  h->id = ((const struct bpftime_obj_hdr *)p)->id;
  munmap(p, (size_t)st.st_size);
  if (rc < 0) {
    delete h;
    return Fail(env, rc, why);
  }
  h->prog.stats = bpftime_prog_stats_map(fd); // test runs count as runs (BPF_ENABLE_STATS)
  h->open = true;
  // Test runs tail-call into the programs of prog arrays: the server opens those too, and the
  // run's child finds them here (core/vm/tail.c).
  struct bpftime_tail_target t = {&h->prog.vm, h->prog.jit ? bpftime_jit_entry(h->prog.jit) : nullptr};
  bpftime_tail_publish(h->id, &t);
  auto ext = Napi::External<ProgHandle>::New(env, h, [](Napi::Env, ProgHandle *d) { delete d; });
  ext.TypeTag(&kProgHandleTag);
  return ext;
}

Napi::Value ProgClose(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  ProgHandle *h = GetProg(env, info[0]);
  if (h) h->Close();
  return env.Undefined();
}

// progJited(handle) -> whether runs use JIT code (false: the interpreter).
Napi::Value ProgJited(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  ProgHandle *h = GetProg(env, info[0]);
  if (!h) return env.Undefined();
  return Napi::Boolean::New(env, h->prog.jit != nullptr);
}

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// What the child reports, at the start of the shared region.
struct RunReport {
  uint64_t r0;
  uint64_t ns;
  uint32_t done;
};

const size_t kReportBytes = 64;

// bpf_trace_printk text from a run: the child appends records here (shared with the parent),
// the parent hands them to the served trace_pipe, where the kernel's test runs write them.
const size_t kTraceBytes = 64 << 10;
struct TraceRecordHdr {
  uint32_t len; // text bytes that follow
  uint32_t cpu;
  uint64_t tsNs; // CLOCK_MONOTONIC, as the agents stamp their lines
};
uint8_t *g_childTrace; // the child's view of the area: [u32 used][records...]

void ChildTracePrintk(const char *text, size_t len) {
  uint32_t *used = (uint32_t *)g_childTrace;
  size_t need = (sizeof(TraceRecordHdr) + len + 7) & ~(size_t)7;
  if (4 + *used + need > kTraceBytes) return; // full: the kernel's ring would overwrite; we drop
  TraceRecordHdr h = {(uint32_t)len, 0, 0};
  int cpu = sched_getcpu();
  h.cpu = cpu < 0 ? 0 : (uint32_t)cpu;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  h.tsNs = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  memcpy(g_childTrace + 4 + *used, &h, sizeof(h));
  memcpy(g_childTrace + 4 + *used + sizeof(h), text, len);
  *used += (uint32_t)need;
}

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

const napi_type_tag kRunTag = {0x72756e6a6f62746bull, 0x7465737472756e21ull};

// One test run in its forked child: the shared memory it reports in, and how to learn that it
// ended (a pidfd, readable once the child exits: the server watches it on its event loop).
struct RunJob {
  pid_t pid = -1;
  int pidfd = -1;
  void *region = MAP_FAILED;
  size_t total = 0;
  uint8_t *trace = (uint8_t *)MAP_FAILED;
  uint8_t *ctx = nullptr, *pkt = nullptr;
  size_t ctxLen = 0, pktLen = 0;
  uint32_t timeoutMs = 0;
  bool cancelled = false;
  // Kills and reaps the child if nobody did (the server dropped the run), frees the memory.
  void Release() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      pid = -1;
    }
    if (pidfd >= 0) close(pidfd);
    pidfd = -1;
    if (trace != MAP_FAILED) munmap(trace, kTraceBytes);
    trace = (uint8_t *)MAP_FAILED;
    if (region != MAP_FAILED) munmap(region, total);
    region = MAP_FAILED;
  }
  ~RunJob() { Release(); }
};

RunJob *GetJob(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal() || !v.As<Napi::External<RunJob>>().CheckTypeTag(&kRunTag)) {
    Throw(env, "expected a run from progTestRunStart");
    return nullptr;
  }
  return v.As<Napi::External<RunJob>>().Data();
}

// progTestRunStart(handle, opts) -> { run, pidfd } | { errno, error }: forks the child that runs
// the program and returns at once; the caller waits for pidfd to become readable (the child
// exited) and then calls progTestRunFinish(run). opts.timeoutMs (0: none) ends a run that takes
// longer with SIGALRM.
Napi::Value ProgTestRunStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  ProgHandle *h = GetProg(env, info[0]);
  if (!h) return env.Undefined();
  if (!info[1].IsObject()) return Throw(env, "progTestRunStart(handle, opts)");
  Napi::Object o = info[1].As<Napi::Object>();
  Napi::Value ctxV = o.Get("ctx"), pktV = o.Get("pkt"), ptrsV = o.Get("ptrs");
  size_t ctxLen = ctxV.IsBuffer() ? ctxV.As<Napi::Buffer<uint8_t>>().Length() : 0;
  size_t pktLen = pktV.IsBuffer() ? pktV.As<Napi::Buffer<uint8_t>>().Length() : 0;
  uint64_t repeat = o.Get("repeat").IsNumber() ? (uint64_t)o.Get("repeat").As<Napi::Number>().Int64Value() : 1;
  int cpu = o.Get("cpu").IsNumber() ? o.Get("cpu").As<Napi::Number>().Int32Value() : -1;
  // The caller of BPF_PROG_TEST_RUN, whom the kernel's helpers report as current.
  uint64_t asPidTgid = 0;
  int64_t asUid = -1, asGid = -1;
  std::string asComm;
  if (o.Get("asPid").IsNumber()) {
    uint64_t pid = (uint64_t)o.Get("asPid").As<Napi::Number>().Int64Value();
    uint64_t tid = o.Get("asTid").IsNumber() ? (uint64_t)o.Get("asTid").As<Napi::Number>().Int64Value() : pid;
    asPidTgid = pid << 32 | (uint32_t)tid;
  }
  if (o.Get("asUid").IsNumber()) asUid = o.Get("asUid").As<Napi::Number>().Int64Value();
  if (o.Get("asGid").IsNumber()) asGid = o.Get("asGid").As<Napi::Number>().Int64Value();
  if (o.Get("asComm").IsString()) asComm = o.Get("asComm").As<Napi::String>().Utf8Value();
  uint32_t timeoutMs = o.Get("timeoutMs").IsNumber() ? o.Get("timeoutMs").As<Napi::Number>().Uint32Value() : 0;
  if (repeat == 0) repeat = 1;

  auto *job = new RunJob;
  job->timeoutMs = timeoutMs;
  job->ctxLen = ctxLen;
  job->pktLen = pktLen;
  size_t ctxArea = RoundUp(ctxLen ? ctxLen : 1, 64);
  job->total = RoundUp(kReportBytes + ctxArea + pktLen, (size_t)sysconf(_SC_PAGESIZE));
  // Below 2 GiB: u32 context fields hold real pointers (see the top of this file).
  job->region = mmap(nullptr, job->total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (job->region == MAP_FAILED) {
    delete job;
    return Fail(env, -ENOMEM, std::string("mmap: ") + strerror(errno));
  }
  job->trace = (uint8_t *)mmap(nullptr, kTraceBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (job->trace == MAP_FAILED) {
    delete job;
    return Fail(env, -ENOMEM, std::string("mmap: ") + strerror(errno));
  }
  auto *report = (RunReport *)job->region;
  uint8_t *ctx = job->ctx = (uint8_t *)job->region + kReportBytes;
  uint8_t *pkt = job->pkt = ctx + ctxArea;
  uint8_t *trace = job->trace;
  if (ctxLen) memcpy(ctx, ctxV.As<Napi::Buffer<uint8_t>>().Data(), ctxLen);
  if (pktLen) memcpy(pkt, pktV.As<Napi::Buffer<uint8_t>>().Data(), pktLen);
  if (ptrsV.IsArray()) {
    Napi::Array a = ptrsV.As<Napi::Array>();
    for (uint32_t k = 0; k + 1 < a.Length(); k += 2) {
      uint32_t co = a.Get(k).ToNumber().Uint32Value(), po = a.Get(k + 1).ToNumber().Uint32Value();
      if (co + 4 > ctxLen || po > pktLen) {
        delete job;
        return Throw(env, "progTestRunStart: pointer field out of range");
      }
      uint32_t v = (uint32_t)(uintptr_t)(pkt + po);
      memcpy(ctx + co, &v, 4);
    }
  }
  uint64_t r1 = ctxLen ? (uint64_t)(uintptr_t)ctx : 0;
  std::vector<uint32_t> slots;
  if (o.Get("perfSlots").IsArray()) {
    Napi::Array a = o.Get("perfSlots").As<Napi::Array>();
    for (uint32_t k = 0; k + 4 < a.Length(); k += 5)
      for (uint32_t j = 0; j < 5; j++) slots.push_back(a.Get(k + j).ToNumber().Uint32Value());
  }

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    delete job;
    return Fail(env, -e, std::string("fork: ") + strerror(e));
  }
  if (pid == 0) {
    // The child: only C from here on, then _exit.
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof(set), &set);
    }
    if (timeoutMs) alarm((timeoutMs + 999) / 1000);
    // Speak for the caller: its pid/tid, thread name and ids (where we may take them).
    if (asPidTgid) bpftime_helpers_run_as(asPidTgid);
    if (!asComm.empty()) prctl(PR_SET_NAME, asComm.c_str(), 0, 0, 0);
    if (asGid >= 0) (void)!setresgid((gid_t)asGid, (gid_t)asGid, (gid_t)asGid);
    if (asUid >= 0) (void)!setresuid((uid_t)asUid, (uid_t)asUid, (uid_t)asUid);
    // The child's own copies of the fds (the table closes what it is given).
    for (size_t k = 0; k + 4 < slots.size(); k += 5)
      bpftime_perf_slot_set(slots[k], slots[k + 1], slots[k + 2], dup((int)slots[k + 3]), dup((int)slots[k + 4]));
    struct bpftime_helper_host host = *bpftime_helpers_host();
    host.perf_output = bpftime_perf_slot_output;
    g_childTrace = trace;
    host.trace_printk = ChildTracePrintk;
    bpftime_helpers_set_host(&host);
    struct bpftime_run_ctx rc = {};
    bpftime_run_ctx_set(&rc);
    const struct bpftime_loaded_prog *p = &h->prog;
    uint64_t r0 = 0;
    uint64_t t0 = NowNs();
    for (uint64_t k = 0; k < repeat; k++) r0 = bpftime_loaded_prog_run(p, r1);
    report->ns = NowNs() - t0;
    report->r0 = r0;
    report->done = 1;
    _exit(0);
  }
  job->pid = pid;
  job->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (job->pidfd < 0) {
    int e = errno;
    delete job; // kills and reaps the child
    return Fail(env, -e, std::string("pidfd_open: ") + strerror(e));
  }
  fcntl(job->pidfd, F_SETFD, FD_CLOEXEC);
  auto ext = Napi::External<RunJob>::New(env, job, [](Napi::Env, RunJob *j) { delete j; });
  ext.TypeTag(&kRunTag);
  Napi::Object res = Napi::Object::New(env);
  res.Set("run", ext);
  res.Set("pidfd", Napi::Number::New(env, job->pidfd));
  return res;
}

// progTestRunCancel(run): ends the run now (SIGKILL); its finish then says cancelled.
Napi::Value ProgTestRunCancel(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RunJob *job = GetJob(env, info[0]);
  if (job && job->pid > 0) {
    job->cancelled = true;
    kill(job->pid, SIGKILL);
  }
  return env.Undefined();
}

// progTestRunFinish(run) -> { ok, retval: bigint, totalNs, ctx?: Buffer, pkt?: Buffer, pktBase,
// trace, error?, timedOut?, cancelled? }: reaps the child (waits for it if it still runs) and
// reads what it reported. The run's memory is freed; the handle is spent.
Napi::Value ProgTestRunFinish(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RunJob *job = GetJob(env, info[0]);
  if (!job) return env.Undefined();
  if (job->pid <= 0) return Throw(env, "progTestRunFinish: the run was finished already");
  int status = 0;
  while (waitpid(job->pid, &status, 0) < 0 && errno == EINTR) {
  }
  job->pid = -1;
  auto *report = (RunReport *)job->region;
  Napi::Object res = Napi::Object::New(env);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && report->done;
  res.Set("ok", Napi::Boolean::New(env, ok));
  if (!ok) {
    std::string why;
    bool timedOut = WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM;
    if (job->cancelled)
      why = "was interrupted";
    else if (timedOut)
      why = "did not finish within " + std::to_string(job->timeoutMs) + " ms";
    else if (WIFSIGNALED(status))
      why = std::string("faulted (") + strsignal(WTERMSIG(status)) + ")";
    else
      why = "run ended without a result";
    res.Set("error", Napi::String::New(env, why));
    res.Set("timedOut", Napi::Boolean::New(env, timedOut));
    res.Set("cancelled", Napi::Boolean::New(env, job->cancelled));
  }
  res.Set("retval", Napi::BigInt::New(env, report->r0));
  res.Set("totalNs", Napi::Number::New(env, (double)report->ns));
  res.Set("pktBase", Napi::Number::New(env, (double)(uint32_t)(uintptr_t)job->pkt));
  if (job->ctxLen) res.Set("ctx", Napi::Buffer<uint8_t>::Copy(env, job->ctx, job->ctxLen));
  if (job->pktLen) res.Set("pkt", Napi::Buffer<uint8_t>::Copy(env, job->pkt, job->pktLen));
  // trace: [{ text, cpu, tsNs }] in the order the run printed them.
  uint8_t *trace = job->trace;
  Napi::Array lines = Napi::Array::New(env);
  uint32_t used = *(uint32_t *)trace, n = 0;
  for (uint32_t off = 0; off + sizeof(TraceRecordHdr) <= used && used <= kTraceBytes - 4;) {
    TraceRecordHdr h;
    memcpy(&h, trace + 4 + off, sizeof(h));
    if (off + sizeof(h) + h.len > used) break;
    Napi::Object l = Napi::Object::New(env);
    l.Set("text", Napi::String::New(env, (const char *)trace + 4 + off + sizeof(h), h.len));
    l.Set("cpu", Napi::Number::New(env, h.cpu));
    l.Set("tsNs", Napi::BigInt::New(env, h.tsNs));
    lines.Set(n++, l);
    off += (uint32_t)((sizeof(h) + h.len + 7) & ~(size_t)7);
  }
  res.Set("trace", lines);
  job->Release();
  return res;
}

// fdHungUp(fd) -> whether the pipe read end fd has no writer left (poll, no wait): the server
// checks its BPF_ENABLE_STATS fds synchronously before answering, so a caller that closed its
// stats fd sees counting stop at once, as on the kernel.
Napi::Value FdHungUp(const Napi::CallbackInfo &info) {
  struct pollfd p = {info[0].As<Napi::Number>().Int32Value(), POLLIN, 0};
  int n = poll(&p, 1, 0);
  return Napi::Boolean::New(info.Env(), n > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0);
}

}  // namespace

void InitProg(Napi::Env env, Napi::Object exports) {
  exports.Set("progOpen", Napi::Function::New(env, ProgOpen, "progOpen"));
  exports.Set("progClose", Napi::Function::New(env, ProgClose, "progClose"));
  exports.Set("progJited", Napi::Function::New(env, ProgJited, "progJited"));
  exports.Set("progTestRunStart", Napi::Function::New(env, ProgTestRunStart, "progTestRunStart"));
  exports.Set("progTestRunFinish", Napi::Function::New(env, ProgTestRunFinish, "progTestRunFinish"));
  exports.Set("progTestRunCancel", Napi::Function::New(env, ProgTestRunCancel, "progTestRunCancel"));
  exports.Set("fdHungUp", Napi::Function::New(env, FdHungUp, "fdHungUp"));
}
