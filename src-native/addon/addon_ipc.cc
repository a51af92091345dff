// Sockets with SCM_RIGHTS, memfds and fd readiness for the TypeScript server.
//
// Node's `net` module can neither pass nor receive file descriptors on Unix sockets, and every
// object the server hands out is a memfd that must reach the tool as a real fd. So the server's
// socket I/O is done here, synchronously, and readiness comes from libuv's uv_poll on the same
// event loop as the rest of the server: no threads, no polling loops.
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <map>
#include <memory>
#include <vector>

namespace {

Napi::Value Errno(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

// listenUnix(path, backlog) -> fd | -errno. The socket is non-blocking and close-on-exec.
Napi::Value ListenUnix(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(env, errno);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) {
    close(fd);
    return Errno(env, ENAMETOOLONG);
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  // Only the owner may connect (and root): the runtime dir is 0700 too, this is belt and braces.
  mode_t old = umask(0077);
  int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
  umask(old);
  if (rc < 0 || listen(fd, 128) < 0) {
    int e = errno;
    close(fd);
    return Errno(env, e);
  }
  return Napi::Number::New(env, fd);
}

// accept(listenFd) -> {fd, pid, uid, gid} | null when nothing is pending.
Napi::Value Accept(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int lfd = info[0].As<Napi::Number>().Int32Value();
  int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return env.Null();
    return Errno(env, errno);
  }
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", fd);
  o.Set("pid", (double)cred.pid);
  o.Set("uid", (double)cred.uid);
  o.Set("gid", (double)cred.gid);
  return o;
}

// connectUnix(path) -> fd | -errno (blocking socket; used by the CLI's status command and tests).
Napi::Value ConnectUnix(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(env, errno);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) {
    close(fd);
    return Errno(env, ENAMETOOLONG);
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(fd);
    return Errno(env, e);
  }
  return Napi::Number::New(env, fd);
}

// recv(fd, maxBytes) -> {data: Buffer, fds: number[]} ; data.length == 0 means EOF;
// null when nothing is available (EAGAIN); a negative number for other errors.
// Received fds are close-on-exec. A read shorter than maxBytes that carried no fds drained the
// socket (a stream socket hands over all it has, up to the first message with fds), so the
// caller need not ask again to learn that it is empty.
//
// The bytes land in one buffer kept across calls: a fresh (zeroed) buffer of maxBytes per call
// cost more than the whole rest of a round trip.
std::vector<char> g_recvBuf;

Napi::Value Recv(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  size_t max = info.Length() > 1 ? info[1].As<Napi::Number>().Uint32Value() : 65536;
  if (g_recvBuf.size() < max) g_recvBuf.resize(max);
  std::vector<char> &buf = g_recvBuf;
  union {
    char raw[CMSG_SPACE(sizeof(int) * 253)];
    struct cmsghdr align;
  } ctrl;
  struct iovec iov = {buf.data(), max};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl.raw;
  msg.msg_controllen = sizeof(ctrl.raw);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
    if (errno == ECONNRESET) n = 0; // a killed peer is an EOF like any other
    else return Errno(env, errno);
  }
  Napi::Array fds = Napi::Array::New(env);
  uint32_t k = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *p = (int *)CMSG_DATA(c);
      for (size_t i = 0; i < cnt; i++) fds.Set(k++, p[i]);
    }
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", Napi::Buffer<char>::Copy(env, buf.data(), (size_t)n));
  o.Set("fds", fds);
  return o;
}

// send(fd, data: Buffer, fds: number[], timeoutMs) -> 0 | -errno. Sends the whole buffer; the fds
// ride on the first byte. Waits for the peer to drain its socket up to timeoutMs, so one stuck
// client can delay the server at most that long (and is then dropped by the caller).
Napi::Value Send(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  Napi::Array fdArr = info.Length() > 2 && info[2].IsArray() ? info[2].As<Napi::Array>() : Napi::Array::New(env);
  int timeoutMs = info.Length() > 3 ? info[3].As<Napi::Number>().Int32Value() : 5000;
  size_t nfds = fdArr.Length();
  if (nfds > 253) return Errno(env, E2BIG);
  const char *p = data.Data();
  size_t left = data.Length();
  bool fdsSent = nfds == 0;
  while (left > 0 || !fdsSent) {
    union {
      char raw[CMSG_SPACE(sizeof(int) * 253)];
      struct cmsghdr align;
    } ctrl;
    struct iovec iov = {(void *)p, left};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fdsSent) {
      memset(ctrl.raw, 0, sizeof(ctrl.raw));
      msg.msg_control = ctrl.raw;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      int *fp = (int *)CMSG_DATA(c);
      for (size_t i = 0; i < nfds; i++) fp[i] = fdArr.Get(i).As<Napi::Number>().Int32Value();
    }
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int r = poll(&pfd, 1, timeoutMs);
        if (r <= 0) return Errno(env, r == 0 ? ETIMEDOUT : errno);
        continue;
      }
      return Errno(env, errno);
    }
    fdsSent = true;
    p += n;
    left -= (size_t)n;
  }
  return Napi::Number::New(env, 0);
}

// --- readiness: uv_poll on arbitrary fds, callbacks into JS -----------------------------------

struct Watch {
  uv_poll_t handle;
  Napi::FunctionReference cb;
  napi_env env;
  int fd;
};

std::map<int, Watch *> g_watches;

void OnPollClose(uv_handle_t *h) { delete static_cast<Watch *>(h->data); }

void OnPoll(uv_poll_t *h, int status, int events) {
  Watch *w = static_cast<Watch *>(h->data);
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  // MakeCallback drains microtasks and reports exceptions like any other libuv-driven callback.
  w->cb.MakeCallback(env.Global(), {Napi::Number::New(env, status < 0 ? -1 : events)});
}

// watch(fd, callback(events)): calls back whenever fd is readable (or has hung up).
Napi::Value WatchFd(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (g_watches.count(fd)) return Errno(env, EEXIST);
  uv_loop_t *loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  Watch *w = new Watch();
  w->env = env;
  w->fd = fd;
  w->cb = Napi::Persistent(info[1].As<Napi::Function>());
  int rc = uv_poll_init(loop, &w->handle, fd);
  if (rc < 0) {
    delete w;
    return Napi::Number::New(env, rc);
  }
  w->handle.data = w;
  uv_poll_start(&w->handle, UV_READABLE | UV_DISCONNECT, OnPoll);
  g_watches[fd] = w;
  return Napi::Number::New(env, 0);
}

// unwatch(fd): stops watching (call before closing the fd).
Napi::Value UnwatchFd(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto it = g_watches.find(fd);
  if (it != g_watches.end()) {
    Watch *w = it->second;
    g_watches.erase(it);
    uv_poll_stop(&w->handle);
    w->cb.Reset();
    uv_close(reinterpret_cast<uv_handle_t *>(&w->handle), OnPollClose);
  }
  return info.Env().Undefined();
}

// unrefWatch(fd, unref): an unref'd watch does not keep the process alive.
Napi::Value RefWatch(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool ref = info[1].As<Napi::Boolean>();
  auto it = g_watches.find(fd);
  if (it != g_watches.end()) {
    if (ref) uv_ref(reinterpret_cast<uv_handle_t *>(&it->second->handle));
    else uv_unref(reinterpret_cast<uv_handle_t *>(&it->second->handle));
  }
  return info.Env().Undefined();
}

// --- files ------------------------------------------------------------------------------------

// memfdCreate(name, size) -> fd | -errno. Close-on-exec in the server; the receiver decides its own.
Napi::Value MemfdCreate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  double size = info[1].As<Napi::Number>().DoubleValue();
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Errno(env, errno);
  if (ftruncate(fd, (off_t)size) < 0) {
    int e = errno;
    close(fd);
    return Errno(env, e);
  }
  return Napi::Number::New(env, fd);
}

// fstatIno(fd) -> {dev: bigint, ino: bigint, size: number} | -errno
Napi::Value FstatIno(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct stat st;
  if (fstat(fd, &st) < 0) return Errno(env, errno);
  Napi::Object o = Napi::Object::New(env);
  o.Set("dev", Napi::BigInt::New(env, (uint64_t)st.st_dev));
  o.Set("ino", Napi::BigInt::New(env, (uint64_t)st.st_ino));
  o.Set("size", (double)st.st_size);
  return o;
}

// lockFile(path) -> fd holding an exclusive flock | -errno (-EWOULDBLOCK when another holds it).
Napi::Value LockFile(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(env, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    close(fd);
    return Errno(env, e);
  }
  return Napi::Number::New(env, fd);
}

// pipe() -> [readFd, writeFd] | -errno. Both close-on-exec; the write end is non-blocking so a
// reader that stops reading can never stall the server.
Napi::Value Pipe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return Errno(env, errno);
  fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, p[0]);
  a.Set(1u, p[1]);
  return a;
}

// eventfd() -> fd | -errno: non-blocking, close-on-exec. Producers in agents write it to wake a
// tool blocked on a perf buffer; the tool's shim waits on it in place of the perf event fd.
Napi::Value EventFd(const Napi::CallbackInfo &info) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int rc = close(fd);
  return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
}

} // namespace

void InitIpc(Napi::Env env, Napi::Object exports) {
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("accept", Napi::Function::New(env, Accept));
  exports.Set("recv", Napi::Function::New(env, Recv));
  exports.Set("send", Napi::Function::New(env, Send));
  exports.Set("watch", Napi::Function::New(env, WatchFd));
  exports.Set("unwatch", Napi::Function::New(env, UnwatchFd));
  exports.Set("refWatch", Napi::Function::New(env, RefWatch));
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  exports.Set("fstatIno", Napi::Function::New(env, FstatIno));
  exports.Set("lockFile", Napi::Function::New(env, LockFile));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("pipe", Napi::Function::New(env, Pipe));
  exports.Set("eventfd", Napi::Function::New(env, EventFd));
}
