// SPDX-License-Identifier: MIT
//
// ffwall addon: a thin layer over the ioctls of /dev/ffwall.
//
// One object owns one file descriptor.  Arguments are checked in TypeScript
// (src/lib/native.ts) before they get here; this layer only converts between
// JS values and the uapi structs, and turns errno into Node-shaped errors in
// one place (ErrnoError).
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "uapi/ffwall.h"

namespace {

// An Error with Node's own shape for a failed system call: code (errno
// name), errno (negative, as libuv reports it), syscall and path.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(code) + ": " + uv_strerror(-err) + ", " + syscall;
  if (!path.empty()) msg += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

class Device;

// Per-environment state: the constructor and the open devices, closed by
// the environment cleanup hook when a worker thread or the process exits.
struct AddonData {
  Napi::FunctionReference ctor;
  std::set<Device*> open;
};

class Device : public Napi::ObjectWrap<Device> {
 public:
  static Napi::Function Init(Napi::Env env, AddonData* data) {
    Napi::Function f = DefineClass(env, "Device", {
      InstanceMethod<&Device::Version>("version"),
      InstanceMethod<&Device::Close>("close"),
      InstanceAccessor<&Device::GetFd>("fd"),
      InstanceAccessor<&Device::GetPath>("path"),
    });
    data->ctor = Napi::Persistent(f);
    return f;
  }

  // new Device(path): opens the device read-write.
  explicit Device(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Device>(info) {
    Napi::Env env = info.Env();
    data_ = env.GetInstanceData<AddonData>();
    path_ = info[0].As<Napi::String>().Utf8Value();
    int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      ErrnoError(env, errno, "open", path_).ThrowAsJavaScriptException();
      return;
    }
    fd_ = fd;
    data_->open.insert(this);
  }

  ~Device() override { Release(); }

  // Closes the fd; called by close(), the finalizer and the cleanup hook.
  void Release() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (data_) data_->open.erase(this);
  }

 private:
  bool CheckOpen(Napi::Env env) {
    if (fd_ >= 0) return true;
    ErrnoError(env, EBADF, "ioctl", path_).ThrowAsJavaScriptException();
    return false;
  }

  // ioctl with EINTR retried; returns 0 or the errno.
  int Ioctl(unsigned long cmd, void* arg) {
    for (;;) {
      if (::ioctl(fd_, cmd, arg) == 0) return 0;
      if (errno != EINTR) return errno;
    }
  }

  Napi::Value Version(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    struct ffwall_version v;
    std::memset(&v, 0, sizeof(v));
    if (int err = Ioctl(FFWALL_IOC_VERSION, &v)) {
      ErrnoError(env, err, "ioctl", path_).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("abiVersion", Napi::Number::New(env, v.abi_version));
    o.Set("features", Napi::BigInt::New(env, static_cast<uint64_t>(v.features)));
    o.Set("moduleVersion", Napi::String::New(env, std::string(v.module_version,
        strnlen(v.module_version, sizeof(v.module_version)))));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value GetPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }

  AddonData* data_ = nullptr;
  std::string path_;
  int fd_ = -1;
};

void Cleanup(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  while (!data->open.empty()) (*data->open.begin())->Release();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  napi_add_env_cleanup_hook(env, Cleanup, data);
  exports.Set("Device", Device::Init(env, data));
  exports.Set("ABI_VERSION", Napi::Number::New(env, FFWALL_ABI_VERSION));
  exports.Set("DEVICE_NAME", Napi::String::New(env, FFWALL_DEVICE_NAME));
  return exports;
}

}  // namespace

NODE_API_MODULE(ffwall, Init)
