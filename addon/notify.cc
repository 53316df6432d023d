// SPDX-License-Identifier: MIT
//
// notify.node: unix datagram sockets, the one thing sd_notify needs that
// Node's core lacks (node:dgram speaks UDP only, node:net streams only).
// Loaded only by src/daemon/notify.ts.  Kept apart from ffwall.node, which
// owns /dev/ffwall: nothing here knows ffwall.
//
//   send(path, data)  one datagram to a socket path, "@name" for the abstract
//                     namespace; sent from this process, so the receiver sees
//                     the main PID (systemd's NotifyAccess=main needs that)
//   bind(path)        a non-blocking receiving socket with SO_PASSCRED (tests)
//   recv(fd)          {data, pid} of the next datagram, or null when none
//   close(fd)
//
// Errors have Node's shape: code, errno, syscall, path.
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "errno_error.h"

namespace {

using ffwall::ErrnoError;

// Fills @sa from "/path" or "@abstract"; returns the address length, or 0
// when the name does not fit.
socklen_t MakeAddress(const std::string& path, sockaddr_un* sa) {
  std::memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa->sun_path)) return 0;
  std::memcpy(sa->sun_path, path.data(), path.size());
  if (path[0] == '@') {
    sa->sun_path[0] = '\0';
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  }
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
}

Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer()) {
    Napi::TypeError::New(env, "send(path: string, data: Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  sockaddr_un sa;
  socklen_t len = MakeAddress(path, &sa);
  if (len == 0) {
    ErrnoError(env, ENAMETOOLONG, "sendto", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "socket", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = sendto(fd, data.Data(), data.Length(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), len);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) ErrnoError(env, err, "sendto", path).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "bind(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>();
  sockaddr_un sa;
  socklen_t len = MakeAddress(path, &sa);
  if (len == 0) {
    ErrnoError(env, ENAMETOOLONG, "bind", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ErrnoError(env, errno, "socket", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sa), len) < 0) {
    int err = errno;
    close(fd);
    ErrnoError(env, err, "bind", path).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "recv(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  iovec iov = {buf, sizeof(buf)};
  msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
    ErrnoError(env, errno, "recvmsg", "").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int pid = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
      pid = cred.pid;
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", Napi::Buffer<char>::Copy(env, buf, static_cast<size_t>(n)));
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("truncated", Napi::Boolean::New(env, (msg.msg_flags & MSG_TRUNC) != 0));
  return out;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() >= 1 && info[0].IsNumber()) close(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  exports.Set("recv", Napi::Function::New(env, Recv, "recv"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  return exports;
}

}  // namespace

NODE_API_MODULE(notify, Init)
