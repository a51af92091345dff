// Map regions and map operations for the TypeScript server (bpftool-style dumps, tests). The
// server creates each map as a memfd (objfile.h): it asks mapRegionSize for the bytes the region
// needs (negative errno: the kernel's MAP_CREATE error), sizes the memfd, then mapRegionInit
// formats the region at BPFTIME_OBJ_HDR_SIZE. mapOpen maps the region into the server and gives
// a handle for syscall-side operations, with the kernel's return conventions (0 | -errno).
//
// Programmer errors (wrong argument types, key/value buffers of the wrong length, a closed
// handle) throw; map errors are returned.
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bpftime/map.h"
#include "bpftime/ringbuf.h"

namespace {

// Tags our externals so a foreign External cannot be passed as a map handle.
const napi_type_tag kMapHandleTag = {0x6270667469d6d617ull, 0x7068616e646c6531ull};

struct MapHandle {
  struct bpftime_map *map = nullptr;
  void *addr = nullptr;
  size_t len = 0;

  void Close() {
    if (map) bpftime_map_close(map);
    if (addr) munmap(addr, len);
    map = nullptr;
    addr = nullptr;
  }
  ~MapHandle() { Close(); }
};

Napi::Value Errno(Napi::Env env, long err) { return Napi::Number::New(env, (double)err); }

Napi::Value Throw(Napi::Env env, const char *msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// {mapType, keySize, valueSize, maxEntries, mapFlags, mapExtra?} -> spec; false (and a pending
// exception) when malformed.
bool ParseSpec(Napi::Env env, Napi::Value v, struct bpftime_map_spec *spec) {
  if (!v.IsObject()) {
    Throw(env, "map spec must be an object");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  const char *fields[] = {"mapType", "keySize", "valueSize", "maxEntries", "mapFlags"};
  uint32_t *dst[] = {&spec->map_type, &spec->key_size, &spec->value_size, &spec->max_entries,
                     &spec->map_flags};
  for (int i = 0; i < 5; i++) {
    Napi::Value f = o.Get(fields[i]);
    if (!f.IsNumber()) {
      Throw(env, "map spec: mapType, keySize, valueSize, maxEntries, mapFlags must be numbers");
      return false;
    }
    *dst[i] = f.As<Napi::Number>().Uint32Value();
  }
  spec->spin_lock_pos = 0;
  Napi::Value lockPos = o.Get("spinLockPos");
  if (lockPos.IsNumber()) spec->spin_lock_pos = lockPos.As<Napi::Number>().Uint32Value();
  spec->map_extra = 0;
  Napi::Value extra = o.Get("mapExtra");
  if (extra.IsBigInt()) {
    bool lossless;
    spec->map_extra = extra.As<Napi::BigInt>().Uint64Value(&lossless);
  } else if (extra.IsNumber()) {
    spec->map_extra = (uint64_t)extra.As<Napi::Number>().Int64Value();
  } else if (!extra.IsUndefined() && !extra.IsNull()) {
    Throw(env, "map spec: mapExtra must be a number or bigint");
    return false;
  }
  return true;
}

// The live handle behind an External, or nullptr with a pending exception.
MapHandle *GetHandle(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal() || !v.As<Napi::External<MapHandle>>().CheckTypeTag(&kMapHandleTag)) {
    Throw(env, "expected a map handle from mapOpen");
    return nullptr;
  }
  MapHandle *h = v.As<Napi::External<MapHandle>>().Data();
  if (!h->map) {
    Napi::Error::New(env, "map handle is closed").ThrowAsJavaScriptException();
    return nullptr;
  }
  return h;
}

// A Buffer of exactly `len` bytes, or nullptr with a pending exception.
const uint8_t *GetBytes(Napi::Env env, Napi::Value v, size_t len, const char *what) {
  if (!v.IsBuffer()) {
    Throw(env, what);
    return nullptr;
  }
  Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
  if (b.Length() != len) {
    Napi::RangeError::New(env, std::string(what) + ": wrong length").ThrowAsJavaScriptException();
    return nullptr;
  }
  return b.Data();
}

bool GetFlags(Napi::Env env, Napi::Value v, uint64_t *flags) {
  if (v.IsUndefined()) {
    *flags = 0;
  } else if (v.IsBigInt()) {
    bool lossless;
    *flags = v.As<Napi::BigInt>().Uint64Value(&lossless);
  } else if (v.IsNumber()) {
    *flags = (uint64_t)v.As<Napi::Number>().Int64Value();
  } else {
    Throw(env, "flags must be a number or bigint");
    return false;
  }
  return true;
}

// mapRegionSize(spec) -> bytes | -errno
Napi::Value MapRegionSize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  struct bpftime_map_spec spec;
  if (!ParseSpec(env, info[0], &spec)) return env.Undefined();
  return Napi::Number::New(env, (double)bpftime_map_region_size(&spec));
}

// mapRegionInit(fd, offset, spec) -> 0 | -errno. Maps the region, formats it, unmaps it.
Napi::Value MapRegionInit(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) return Throw(env, "mapRegionInit(fd, offset, spec)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int64_t offset = info[1].As<Napi::Number>().Int64Value();
  struct bpftime_map_spec spec;
  if (!ParseSpec(env, info[2], &spec)) return env.Undefined();
  int64_t size = bpftime_map_region_size(&spec);
  if (size < 0) return Errno(env, size);
  void *p = mmap(nullptr, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
  if (p == MAP_FAILED) return Errno(env, -errno);
  int rc = bpftime_map_region_init(p, (uint64_t)size, &spec);
  munmap(p, (size_t)size);
  return Errno(env, rc);
}

// mapOpen(fd, offset, size, id) -> handle | -errno
Napi::Value MapOpen(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  for (int i = 0; i < 4; i++)
    if (!info[i].IsNumber()) return Throw(env, "mapOpen(fd, offset, size, id)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int64_t offset = info[1].As<Napi::Number>().Int64Value();
  int64_t size = info[2].As<Napi::Number>().Int64Value();
  uint32_t id = info[3].As<Napi::Number>().Uint32Value();
  if (size <= 0) return Errno(env, -EINVAL);
  void *p = mmap(nullptr, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
  if (p == MAP_FAILED) return Errno(env, -errno);
  struct bpftime_map *m = nullptr;
  int rc = bpftime_map_open(&m, p, (uint64_t)size, id);
  if (rc) {
    munmap(p, (size_t)size);
    return Errno(env, rc);
  }
  MapHandle *h = new MapHandle;
  h->map = m;
  h->addr = p;
  h->len = (size_t)size;
  auto ext = Napi::External<MapHandle>::New(env, h, [](Napi::Env, MapHandle *d) { delete d; });
  ext.TypeTag(&kMapHandleTag);
  return ext;
}

// mapClose(h): unmaps now; the handle object stays but every use throws.
Napi::Value MapClose(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h = GetHandle(env, info[0]);
  if (h) h->Close();
  return env.Undefined();
}

// mapInfo(h) -> {mapType, keySize, valueSize, maxEntries, mapFlags, mapExtra (bigint),
//               id, sysValueSize, mmapOffset (-errno if not mmapable), mmapLen, frozen}
Napi::Value MapInfo(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h = GetHandle(env, info[0]);
  if (!h) return env.Undefined();
  const struct bpftime_map_spec *s = bpftime_map_get_spec(h->map);
  Napi::Object o = Napi::Object::New(env);
  o.Set("mapType", s->map_type);
  o.Set("keySize", s->key_size);
  o.Set("valueSize", s->value_size);
  o.Set("maxEntries", s->max_entries);
  o.Set("mapFlags", s->map_flags);
  o.Set("mapExtra", Napi::BigInt::New(env, s->map_extra));
  o.Set("id", bpftime_map_id(h->map));
  o.Set("sysValueSize", bpftime_map_sys_value_size(h->map));
  o.Set("mmapOffset", (double)bpftime_map_mmap_offset(h->map));
  o.Set("mmapLen", (double)bpftime_map_mmap_len(h->map));
  o.Set("frozen", bpftime_map_is_frozen(h->map) != 0);
  return o;
}

// The map handle in info[0] and a key of its size in info[1]; false, with a JS exception
// pending, when either is not.
bool HandleAndKey(Napi::Env env, const Napi::CallbackInfo &info, MapHandle **h, const uint8_t **key) {
  *h = GetHandle(env, info[0]);
  if (!*h) return false;
  *key = GetBytes(env, info[1], bpftime_map_get_spec((*h)->map)->key_size, "key must be a Buffer");
  return *key != nullptr;
}

// mapLookup(h, key) -> Buffer (a copy of the value) | null when absent
Napi::Value MapLookup(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h;
  const uint8_t *key;
  if (!HandleAndKey(env, info, &h, &key)) return env.Undefined();
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, bpftime_map_sys_value_size(h->map));
  uint64_t flags = 0; // optional: BPF_F_LOCK (batches with elem_flags)
  if (info.Length() > 2 && info[2].IsBigInt()) {
    bool lossless;
    flags = info[2].As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (bpftime_map_sys_lookup(h->map, key, out.Data(), flags)) return env.Null();
  return out;
}

// mapLookupAndDelete(h, key) -> Buffer | -errno (ENOENT, EPERM when frozen, 524 for arrays)
Napi::Value MapLookupAndDelete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h;
  const uint8_t *key;
  if (!HandleAndKey(env, info, &h, &key)) return env.Undefined();
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, bpftime_map_sys_value_size(h->map));
  long rc = bpftime_map_sys_lookup_and_delete(h->map, key, out.Data(), 0);
  if (rc) return Errno(env, rc);
  return out;
}

// mapUpdate(h, key, value, flags) -> 0 | -errno
Napi::Value MapUpdate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h;
  const uint8_t *key;
  if (!HandleAndKey(env, info, &h, &key)) return env.Undefined();
  const uint8_t *value = GetBytes(env, info[2], bpftime_map_sys_value_size(h->map), "value must be a Buffer");
  if (!value) return env.Undefined();
  uint64_t flags;
  if (!GetFlags(env, info[3], &flags)) return env.Undefined();
  return Errno(env, bpftime_map_sys_update(h->map, key, value, flags));
}

// mapDelete(h, key) -> 0 | -errno
Napi::Value MapDelete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h;
  const uint8_t *key;
  if (!HandleAndKey(env, info, &h, &key)) return env.Undefined();
  return Errno(env, bpftime_map_sys_delete(h->map, key));
}

// mapGetNextKey(h, key | null) -> Buffer | null at the end
Napi::Value MapGetNextKey(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h = GetHandle(env, info[0]);
  if (!h) return env.Undefined();
  uint32_t ks = bpftime_map_get_spec(h->map)->key_size;
  const uint8_t *key = nullptr;
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    key = GetBytes(env, info[1], ks, "key must be a Buffer or null");
    if (!key) return env.Undefined();
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, ks);
  if (bpftime_map_sys_get_next_key(h->map, key, out.Data())) return env.Null();
  return out;
}

// mapFreeze(h) -> 0 | -EBUSY
Napi::Value MapFreeze(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h = GetHandle(env, info[0]);
  if (!h) return env.Undefined();
  return Errno(env, bpftime_map_freeze(h->map));
}

// mapSetWakeFd(h, fd) -> 0 | -errno: the ring's eventfd for the server's own handle, so that
// programs the server runs (BPF_PROG_TEST_RUN) wake a ring buffer's consumer, or a user ring
// buffer's producer, as agents' programs do. The handle keeps a duplicate.
Napi::Value MapSetWakeFd(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  MapHandle *h = GetHandle(env, info[0]);
  if (!h) return env.Undefined();
  if (!info[1].IsNumber()) return Throw(env, "mapSetWakeFd(h, fd)");
  int fd = fcntl(info[1].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return Errno(env, -errno);
  int rc = bpftime_ringbuf_set_wake_fd(h->map, fd);
  if (rc) close(fd);
  return Errno(env, rc);
}

}  // namespace

void InitMaps(Napi::Env env, Napi::Object exports) {
  exports.Set("mapRegionSize", Napi::Function::New(env, MapRegionSize, "mapRegionSize"));
  exports.Set("mapRegionInit", Napi::Function::New(env, MapRegionInit, "mapRegionInit"));
  exports.Set("mapOpen", Napi::Function::New(env, MapOpen, "mapOpen"));
  exports.Set("mapClose", Napi::Function::New(env, MapClose, "mapClose"));
  exports.Set("mapInfo", Napi::Function::New(env, MapInfo, "mapInfo"));
  exports.Set("mapLookup", Napi::Function::New(env, MapLookup, "mapLookup"));
  exports.Set("mapLookupAndDelete", Napi::Function::New(env, MapLookupAndDelete, "mapLookupAndDelete"));
  exports.Set("mapUpdate", Napi::Function::New(env, MapUpdate, "mapUpdate"));
  exports.Set("mapDelete", Napi::Function::New(env, MapDelete, "mapDelete"));
  exports.Set("mapGetNextKey", Napi::Function::New(env, MapGetNextKey, "mapGetNextKey"));
  exports.Set("mapFreeze", Napi::Function::New(env, MapFreeze, "mapFreeze"));
  exports.Set("mapSetWakeFd", Napi::Function::New(env, MapSetWakeFd, "mapSetWakeFd"));
}

// For other areas of the addon (PROG_TEST_RUN): the map behind a handle from mapOpen, or nullptr
// with a pending exception.
struct bpftime_map *MapFromHandle(Napi::Env env, Napi::Value v) {
  MapHandle *h = GetHandle(env, v);
  return h ? h->map : nullptr;
}
