// SPDX-License-Identifier: MIT
//
// ffwall addon: a thin layer over the ioctls of /dev/ffwall.
//
// One Device owns one file descriptor and has one method per ioctl of
// kmod/uapi/ffwall.h, the single source of the ABI: TypeScript never knows a
// struct offset.  Arguments are checked in TypeScript (validate.ts) before
// they get here; this layer converts between JS values and the uapi structs
// and turns errno into Node-shaped errors in one place (ErrnoError).
//
// Small commands are synchronous.  ADD, DEL, ALLOW_ADD/DEL, FILTER_LOAD,
// FILTER_ADD and DUMP run on the libuv thread pool (PromiseWorker): their
// inputs are copied into plain structs on the main thread, in the worker's
// constructor, before Execute runs; results are turned into JS values back
// on the main thread.  The fd is shared with in-flight workers through a
// shared_ptr, so close() never pulls it from under a running ioctl: the fd is
// closed when the last user lets go.  A bulk load's chunks reuse their
// record buffers (RecordPool), which the load frees when it ends
// (releaseBatchBuffers()).
//
// EventReader opens the device for reading (its own kernel ring) and watches
// it with uv_poll on the loop of its environment: no thread ever blocks in
// read().
//
// Two pure helpers live here because they are the hot loops of bulk work:
// the membership filter's build (filterBuild, off the event loop) and the
// plain feed's IPv4 lines (packV4Lines, for Ffwall.blockFeed() and
// `ffwall import`).  Each mirrors a TypeScript definition that tests compare
// it with.
//
// Per-environment state (AddonData) makes the addon usable from several
// worker_threads at once; environment cleanup hooks close what is left open.
#include <napi.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "errno_error.h"

#include "uapi/ffwall.h"

namespace {

constexpr uint32_t kNoIndex = 0xffffffffU;

// ---------------------------------------------------------------------------
// Errors

using ffwall::ErrnoError;

// A batch error: the errno error plus applied and, when one record was
// refused, badIndex (both relative to the chunk the call was given).
Napi::Error BatchError(Napi::Env env, int err, const std::string& path, uint32_t applied, uint32_t bad) {
  Napi::Error e = ErrnoError(env, err, "ioctl", path);
  e.Set("applied", Napi::Number::New(env, applied));
  if (bad != kNoIndex) e.Set("badIndex", Napi::Number::New(env, bad));
  return e;
}

void ThrowType(Napi::Env env, const char* msg) { Napi::TypeError::New(env, msg).ThrowAsJavaScriptException(); }

// ---------------------------------------------------------------------------
// Argument helpers: the TypeScript layer already checked the values; these
// only make sure a wrong call cannot read out of bounds.

template <typename T>
struct TypedKind;
template <>
struct TypedKind<uint8_t> {
  static constexpr napi_typedarray_type value = napi_uint8_array;
};
template <>
struct TypedKind<uint16_t> {
  static constexpr napi_typedarray_type value = napi_uint16_array;
};
template <>
struct TypedKind<uint32_t> {
  static constexpr napi_typedarray_type value = napi_uint32_array;
};
template <>
struct TypedKind<double> {
  static constexpr napi_typedarray_type value = napi_float64_array;
};

// A typed array of exactly element type T with at least minLen elements.
template <typename T>
bool GetTyped(const Napi::Value& v, size_t minLen, T** out, const char* what) {
  Napi::Env env = v.Env();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TypedKind<T>::value) {
    ThrowType(env, what);
    return false;
  }
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  if (arr.ElementLength() < minLen) {
    ThrowType(env, what);
    return false;
  }
  *out = arr.Data();
  return true;
}

bool GetU32(const Napi::Value& v, uint32_t* out, const char* what) {
  if (!v.IsNumber()) {
    ThrowType(v.Env(), what);
    return false;
  }
  *out = v.As<Napi::Number>().Uint32Value();
  return true;
}

bool GetU64(const Napi::Value& v, uint64_t* out, const char* what) {
  if (v.IsBigInt()) {
    bool lossless = true;
    *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d < 18446744073709551616.0) {
      *out = static_cast<uint64_t>(d);
      return true;
    }
  }
  ThrowType(v.Env(), what);
  return false;
}

// ---------------------------------------------------------------------------
// The file descriptor, shared by a Device and its in-flight workers.

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  // ioctl with EINTR retried; returns 0 or the errno.
  int Ioctl(unsigned long cmd, void* arg) const {
    for (;;) {
      if (::ioctl(fd, cmd, arg) == 0) return 0;
      if (errno != EINTR) return errno;
    }
  }
};

class Device;
class EventReader;

// Per-environment state: the constructors and the open objects, closed by
// the environment cleanup hooks when a worker thread or the process exits.
struct AddonData {
  Napi::FunctionReference deviceCtor;
  Napi::FunctionReference readerCtor;
  std::set<Device*> devices;
};

// ---------------------------------------------------------------------------
// Thread-pool work that settles a promise.  Execute sets err_ (an errno);
// Resolve() builds the value on the main thread.

class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name, std::shared_ptr<Fd> fd, std::string path)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), fd_(std::move(fd)), path_(std::move(path)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (err_ != 0) {
      deferred_.Reject(MakeError(env).Value());
      return;
    }
    deferred_.Resolve(Result(env));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  virtual Napi::Value Result(Napi::Env env) = 0;
  virtual Napi::Error MakeError(Napi::Env env) { return ErrnoError(env, err_, "ioctl", path_); }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Fd> fd_;
  std::string path_;
  int err_ = 0;
};

// ADD, DEL, ALLOW_ADD, ALLOW_DEL of one chunk.
// Record buffers of the batches of one bulk operation, reused.  A bulk load
// converts chunk after chunk of up to FFWALL_BATCH_MAX records, and a fresh
// 3 MiB buffer per chunk was a fresh page per 85 records to fault in and
// zero: most of the memory a 1M load touched besides its input.  A batch of
// at least kMinPooled records gets a buffer of the full capacity from here;
// its worker gives it back when the ioctl is done.  At most kMaxKept are
// kept (a bulk load has one chunk in the kernel and the next being
// converted), and only until the operation ends: releaseBatchBuffers() (the
// end of KernelNative's #runBatch) and close() free them and stop keeping
// the ones still in flight.  Main thread only: Prepare() takes, and a worker
// is destroyed on the main thread.
class RecordPool {
 public:
  static constexpr uint32_t kMinPooled = 4096;
  static constexpr size_t kMaxKept = 2;

  // A buffer of FFWALL_BATCH_MAX records, or nullptr (out of memory).
  std::unique_ptr<struct ffwall_rule[]> Take() {
    active_ = true;
    if (!kept_.empty()) {
      std::unique_ptr<struct ffwall_rule[]> b = std::move(kept_.back());
      kept_.pop_back();
      return b;
    }
    return std::unique_ptr<struct ffwall_rule[]>(new (std::nothrow) struct ffwall_rule[FFWALL_BATCH_MAX]);
  }

  void Give(std::unique_ptr<struct ffwall_rule[]>&& b) {
    if (active_ && kept_.size() < kMaxKept) kept_.push_back(std::move(b));
  }

  void Release() {
    active_ = false;
    kept_.clear();
  }

  size_t Kept() const { return kept_.size(); }

 private:
  bool active_ = false;
  std::vector<std::unique_ptr<struct ffwall_rule[]>> kept_;
};

class BatchWorker : public PromiseWorker {
 public:
  // @pool: where @rules came from (nullptr: a buffer of its own), to go back to when the worker is done.
  BatchWorker(Napi::Env env, std::shared_ptr<Fd> fd, std::string path, unsigned long cmd, std::unique_ptr<struct ffwall_rule[]>&& rules,
              uint32_t count, std::shared_ptr<RecordPool> pool)
      : PromiseWorker(env, "ffwall:batch", std::move(fd), std::move(path)),
        cmd_(cmd),
        rules_(std::move(rules)),
        count_(count),
        pool_(std::move(pool)) {}
  ~BatchWorker() override {
    if (pool_ && rules_) pool_->Give(std::move(rules_));
  }

 protected:
  void Execute() override {
    std::memset(&batch_, 0, sizeof(batch_));
    batch_.records = static_cast<__u64>(reinterpret_cast<uintptr_t>(rules_.get()));
    batch_.count = count_;
    batch_.record_size = sizeof(struct ffwall_rule);
    batch_.bad_index = kNoIndex;
    err_ = fd_->Ioctl(cmd_, &batch_);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("applied", Napi::Number::New(env, batch_.applied));
    o.Set("changed", Napi::Number::New(env, batch_.changed));
    return o;
  }
  Napi::Error MakeError(Napi::Env env) override { return BatchError(env, err_, path_, batch_.applied, batch_.bad_index); }

 private:
  unsigned long cmd_;
  std::unique_ptr<struct ffwall_rule[]> rules_;
  uint32_t count_;
  std::shared_ptr<RecordPool> pool_;
  struct ffwall_batch batch_ {};
};

// Output arrays of entries (DUMP, ALLOW_DUMP), columnar.
Napi::Object EntriesToColumns(Napi::Env env, const struct ffwall_entry_info* e, size_t n) {
  auto addrs = Napi::Uint8Array::New(env, n * 16);
  auto prefixLen = Napi::Uint8Array::New(env, n);
  auto nports = Napi::Uint8Array::New(env, n);
  auto flags = Napi::Uint16Array::New(env, n);
  auto ttl = Napi::Uint32Array::New(env, n);
  auto ports = Napi::Uint16Array::New(env, n * FFWALL_MAX_PORTS);
  auto expires = Napi::Float64Array::New(env, n);
  auto lastHit = Napi::Float64Array::New(env, n);
  auto hits = Napi::Uint32Array::New(env, n);
  auto kind = Napi::Uint8Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    const struct ffwall_rule& r = e[i].rule;
    std::memcpy(addrs.Data() + i * 16, r.addr, 16);
    prefixLen[i] = r.prefix_len;
    nports[i] = r.nports;
    flags[i] = r.flags;
    ttl[i] = r.ttl;
    for (size_t p = 0; p < FFWALL_MAX_PORTS; p++) ports[i * FFWALL_MAX_PORTS + p] = r.ports[p];
    expires[i] = static_cast<double>(e[i].expires);
    lastHit[i] = static_cast<double>(e[i].last_hit);
    hits[i] = e[i].hits;
    kind[i] = static_cast<uint8_t>(e[i].kind);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Napi::Number::New(env, static_cast<double>(n)));
  o.Set("addrs", addrs);
  o.Set("prefixLen", prefixLen);
  o.Set("nports", nports);
  o.Set("flags", flags);
  o.Set("ttl", ttl);
  o.Set("ports", ports);
  o.Set("expires", expires);
  o.Set("lastHit", lastHit);
  o.Set("hits", hits);
  o.Set("kind", kind);
  return o;
}

// One DUMP or ALLOW_DUMP call.
// RESERVE: may move every entry of a full table, so off the event loop.
class ReserveWorker : public PromiseWorker {
 public:
  ReserveWorker(Napi::Env env, std::shared_ptr<Fd> fd, std::string path, uint32_t entries)
      : PromiseWorker(env, "ffwall:reserve", std::move(fd), std::move(path)) {
    std::memset(&r_, 0, sizeof(r_));
    r_.entries = entries;
  }

 protected:
  void Execute() override { err_ = fd_->Ioctl(FFWALL_IOC_RESERVE, &r_); }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(r_.buckets)); }

 private:
  struct ffwall_reserve r_ {};
};

class DumpWorker : public PromiseWorker {
 public:
  DumpWorker(Napi::Env env, std::shared_ptr<Fd> fd, std::string path, unsigned long cmd, uint64_t cursor, uint32_t capacity, uint64_t hitSince)
      : PromiseWorker(env, "ffwall:dump", std::move(fd), std::move(path)), cmd_(cmd), cursor_(cursor), capacity_(capacity), hitSince_(hitSince) {}

 protected:
  void Execute() override {
    records_.resize(capacity_);
    std::memset(&dump_, 0, sizeof(dump_));
    dump_.records = static_cast<__u64>(reinterpret_cast<uintptr_t>(records_.data()));
    dump_.capacity = capacity_;
    dump_.record_size = sizeof(struct ffwall_entry_info);
    dump_.cursor = cursor_;
    dump_.hit_since = hitSince_;
    err_ = fd_->Ioctl(cmd_, &dump_);
  }
  Napi::Value Result(Napi::Env env) override {
    size_t n = dump_.count <= records_.size() ? dump_.count : records_.size();
    Napi::Object o = EntriesToColumns(env, records_.data(), n);
    o.Set("cursor", Napi::BigInt::New(env, static_cast<uint64_t>(dump_.cursor)));
    return o;
  }

 private:
  unsigned long cmd_;
  uint64_t cursor_;
  uint32_t capacity_;
  uint64_t hitSince_;
  std::vector<struct ffwall_entry_info> records_;
  struct ffwall_dump dump_ {};
};

// FILTER_LOAD: the filter bytes are copied before Execute.
class FilterLoadWorker : public PromiseWorker {
 public:
  FilterLoadWorker(Napi::Env env, std::shared_ptr<Fd> fd, std::string path, std::vector<uint8_t>&& data, uint32_t nhashes, uint64_t seed0, uint64_t seed1, uint64_t members)
      : PromiseWorker(env, "ffwall:filterLoad", std::move(fd), std::move(path)), data_(std::move(data)) {
    std::memset(&load_, 0, sizeof(load_));
    load_.size = data_.size();
    load_.algorithm = FFWALL_FILTER_BLOCKED_BLOOM;
    load_.nhashes = nhashes;
    load_.seed[0] = seed0;
    load_.seed[1] = seed1;
    load_.members = members;
  }

 protected:
  void Execute() override {
    load_.data = static_cast<__u64>(reinterpret_cast<uintptr_t>(data_.data()));
    err_ = fd_->Ioctl(FFWALL_IOC_FILTER_LOAD, &load_);
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::vector<uint8_t> data_;
  struct ffwall_filter_load load_ {};
};

// FILTER_ADD of one chunk of addresses.
class FilterAddWorker : public PromiseWorker {
 public:
  FilterAddWorker(Napi::Env env, std::shared_ptr<Fd> fd, std::string path, std::vector<uint8_t>&& addrs)
      : PromiseWorker(env, "ffwall:filterAdd", std::move(fd), std::move(path)), addrs_(std::move(addrs)) {}

 protected:
  void Execute() override {
    struct ffwall_filter_add a;
    std::memset(&a, 0, sizeof(a));
    a.addrs = static_cast<__u64>(reinterpret_cast<uintptr_t>(addrs_.data()));
    a.count = static_cast<__u32>(addrs_.size() / 16);
    err_ = fd_->Ioctl(FFWALL_IOC_FILTER_ADD, &a);
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(addrs_.size() / 16)); }

 private:
  std::vector<uint8_t> addrs_;
};

// ---------------------------------------------------------------------------
// Device

Napi::Object RuleToObject(Napi::Env env, const struct ffwall_entry_info& e) {
  Napi::Object o = Napi::Object::New(env);
  auto addr = Napi::Uint8Array::New(env, 16);
  std::memcpy(addr.Data(), e.rule.addr, 16);
  o.Set("addr", addr);
  o.Set("prefixLen", Napi::Number::New(env, e.rule.prefix_len));
  o.Set("flags", Napi::Number::New(env, e.rule.flags));
  o.Set("ttl", Napi::Number::New(env, e.rule.ttl));
  size_t np = e.rule.nports <= FFWALL_MAX_PORTS ? e.rule.nports : FFWALL_MAX_PORTS;
  Napi::Array ports = Napi::Array::New(env, np);
  for (size_t i = 0; i < np; i++) ports.Set(static_cast<uint32_t>(i), Napi::Number::New(env, e.rule.ports[i]));
  o.Set("ports", ports);
  o.Set("expires", Napi::Number::New(env, static_cast<double>(e.expires)));
  o.Set("lastHit", Napi::Number::New(env, static_cast<double>(e.last_hit)));
  o.Set("hits", Napi::Number::New(env, e.hits));
  o.Set("kind", Napi::Number::New(env, e.kind));
  return o;
}

Napi::Object ConfigToObject(Napi::Env env, const struct ffwall_config& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("maxEntries", Napi::Number::New(env, c.max_entries));
  o.Set("mode", Napi::Number::New(env, c.mode));
  o.Set("gcInterval", Napi::Number::New(env, c.gc_interval));
  o.Set("hookPriority", Napi::Number::New(env, c.hook_priority));
  o.Set("maxPrefixes", Napi::Number::New(env, c.max_prefixes));
  o.Set("maxAllow", Napi::Number::New(env, c.max_allow));
  o.Set("filterMaxBytes", Napi::Number::New(env, c.filter_max_bytes));
  return o;
}

// A batch converted to kernel records by prepareBatch(), waiting for
// submitBatch(); an External tagged kPreparedBatchTag holds it.
struct PreparedBatch {
  unsigned long cmd = 0;
  uint32_t count = 0;
  std::unique_ptr<struct ffwall_rule[]> rules;
  // rules came from the Device's RecordPool (it goes back there after the ioctl).
  bool pooled = false;
};

const napi_type_tag kPreparedBatchTag = {0x6666'7761'6c6c'6261ULL, 0x7463'6870'7265'7031ULL};

class Device : public Napi::ObjectWrap<Device> {
 public:
  static Napi::Function Init(Napi::Env env, AddonData* data) {
    Napi::Function f = DefineClass(env, "Device", {
      InstanceMethod<&Device::Version>("version"),
      InstanceMethod<&Device::GetConfig>("getConfig"),
      InstanceMethod<&Device::SetConfig>("setConfig"),
      InstanceMethod<&Device::Attach>("attach"),
      InstanceMethod<&Device::Detach>("detach"),
      InstanceMethod<&Device::ListDevices>("listDevices"),
      InstanceMethod<&Device::Batch>("batch"),
      InstanceMethod<&Device::PrepareBatch>("prepareBatch"),
      InstanceMethod<&Device::SubmitBatch>("submitBatch"),
      InstanceMethod<&Device::Lookup>("lookup"),
      InstanceMethod<&Device::Flush>("flush"),
      InstanceMethod<&Device::Reserve>("reserve"),
      InstanceMethod<&Device::Dump>("dump"),
      InstanceMethod<&Device::Stats>("stats"),
      InstanceMethod<&Device::FilterLoad>("filterLoad"),
      InstanceMethod<&Device::FilterAdd>("filterAdd"),
      InstanceMethod<&Device::ReleaseBatchBuffers>("releaseBatchBuffers"),
      InstanceMethod<&Device::Close>("close"),
      InstanceAccessor<&Device::GetFd>("fd"),
      InstanceAccessor<&Device::GetPath>("path"),
    });
    data->deviceCtor = Napi::Persistent(f);
    return f;
  }

  // new Device(path): opens the device write-only, for the ioctls.  A file
  // opened for reading gets an event ring in the module, and a ring nobody
  // reads fills up and inflates STATS events_lost; events have their own
  // descriptor (EventReader).
  explicit Device(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Device>(info) {
    Napi::Env env = info.Env();
    data_ = env.GetInstanceData<AddonData>();
    if (!info[0].IsString()) {
      ThrowType(env, "Device: path must be a string");
      return;
    }
    path_ = info[0].As<Napi::String>().Utf8Value();
    int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      ErrnoError(env, errno, "open", path_).ThrowAsJavaScriptException();
      return;
    }
    fd_ = std::make_shared<Fd>(fd);
    data_->devices.insert(this);
  }

  ~Device() override { Release(); }

  // Drops this object's hold on the fd (closed once no worker uses it);
  // called by close(), the finalizer and the cleanup hook.
  void Release() {
    fd_.reset();
    pool_->Release();
    if (data_) data_->devices.erase(this);
  }

 private:
  bool CheckOpen(Napi::Env env) {
    if (fd_) return true;
    ErrnoError(env, EBADF, "ioctl", path_).ThrowAsJavaScriptException();
    return false;
  }

  // Synchronous ioctl: throws on failure, returns false then.
  bool Sync(Napi::Env env, unsigned long cmd, void* arg) {
    if (!CheckOpen(env)) return false;
    if (int err = fd_->Ioctl(cmd, arg)) {
      ErrnoError(env, err, "ioctl", path_).ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  Napi::Value Version(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct ffwall_version v;
    std::memset(&v, 0, sizeof(v));
    if (!Sync(env, FFWALL_IOC_VERSION, &v)) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("abiVersion", Napi::Number::New(env, v.abi_version));
    o.Set("features", Napi::BigInt::New(env, static_cast<uint64_t>(v.features)));
    o.Set("moduleVersion", Napi::String::New(env, std::string(v.module_version, strnlen(v.module_version, sizeof(v.module_version)))));
    return o;
  }

  Napi::Value GetConfig(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct ffwall_config c;
    std::memset(&c, 0, sizeof(c));
    if (!Sync(env, FFWALL_IOC_GET_CONFIG, &c)) return env.Undefined();
    return ConfigToObject(env, c);
  }

  // setConfig(setMask, maxEntries, mode, gcInterval)
  Napi::Value SetConfig(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct ffwall_config c;
    std::memset(&c, 0, sizeof(c));
    if (!GetU32(info[0], &c.set_mask, "setConfig: setMask") || !GetU32(info[1], &c.max_entries, "setConfig: maxEntries") ||
        !GetU32(info[2], &c.mode, "setConfig: mode") || !GetU32(info[3], &c.gc_interval, "setConfig: gcInterval"))
      return env.Undefined();
    Sync(env, FFWALL_IOC_SET_CONFIG, &c);
    return env.Undefined();
  }

  bool FillDevice(const Napi::CallbackInfo& info, struct ffwall_device* d) {
    std::memset(d, 0, sizeof(*d));
    if (!info[0].IsString()) {
      ThrowType(info.Env(), "device name must be a string");
      return false;
    }
    std::string name = info[0].As<Napi::String>().Utf8Value();
    if (name.size() >= FFWALL_IFNAMSIZ) {
      Napi::RangeError::New(info.Env(), "device name too long").ThrowAsJavaScriptException();
      return false;
    }
    std::memcpy(d->name, name.data(), name.size());
    return true;
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    struct ffwall_device d;
    if (FillDevice(info, &d)) Sync(info.Env(), FFWALL_IOC_ATTACH, &d);
    return info.Env().Undefined();
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    struct ffwall_device d;
    if (FillDevice(info, &d)) Sync(info.Env(), FFWALL_IOC_DETACH, &d);
    return info.Env().Undefined();
  }

  Napi::Value ListDevices(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<struct ffwall_device> devs(64);
    struct ffwall_device_list l;
    for (;;) {
      std::memset(&l, 0, sizeof(l));
      std::memset(devs.data(), 0, devs.size() * sizeof(devs[0]));
      l.devices = static_cast<__u64>(reinterpret_cast<uintptr_t>(devs.data()));
      l.capacity = static_cast<__u32>(devs.size());
      if (!Sync(env, FFWALL_IOC_LIST_DEVICES, &l)) return env.Undefined();
      if (l.count <= l.capacity) break;
      devs.resize(l.count + 16);
    }
    Napi::Array out = Napi::Array::New(env, l.count);
    for (uint32_t i = 0; i < l.count; i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", Napi::String::New(env, std::string(devs[i].name, strnlen(devs[i].name, sizeof(devs[i].name)))));
      o.Set("ifindex", Napi::Number::New(env, devs[i].ifindex));
      o.Set("flags", Napi::Number::New(env, devs[i].flags));
      out.Set(i, o);
    }
    return out;
  }

  // batch(op, count, addrs, prefixLen, nports?, flags?, ttl?, ports?) -> Promise<{applied, changed}>
  // op: 0 ADD, 1 DEL, 2 ALLOW_ADD, 3 ALLOW_DEL.  The optional columns may be
  // undefined (zeros).  The same as submitBatch(prepareBatch(...)).
  Napi::Value Batch(const Napi::CallbackInfo& info) {
    std::unique_ptr<PreparedBatch> b = Prepare(info, false);
    if (!b) return info.Env().Undefined();
    return Submit(info.Env(), std::move(b));
  }

  // prepareBatch(op, count, addrs, ...) -> an opaque prepared batch: the
  // columns copied into kernel records now, on this thread, so that a bulk
  // load converts its next chunk while the thread pool runs the ioctl of the
  // one before.  Arguments as batch().
  Napi::Value PrepareBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::unique_ptr<PreparedBatch> b = Prepare(info, true);
    if (!b) return env.Undefined();
    auto ext = Napi::External<PreparedBatch>::New(env, b.release(), [](Napi::Env, PreparedBatch* p) { delete p; });
    ext.TypeTag(&kPreparedBatchTag);
    return ext;
  }

  // submitBatch(prepared) -> Promise<{applied, changed}>, as batch().  A
  // prepared batch is submitted once; its records belong to the ioctl then.
  Napi::Value SubmitBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsExternal() || !info[0].As<Napi::External<PreparedBatch>>().CheckTypeTag(&kPreparedBatchTag)) {
      Napi::TypeError::New(env, "submitBatch: not a prepared batch").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    PreparedBatch* p = info[0].As<Napi::External<PreparedBatch>>().Data();
    if (!p->rules) {
      Napi::Error::New(env, "submitBatch: this batch was already submitted").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!CheckOpen(env)) return env.Undefined();
    auto b = std::make_unique<PreparedBatch>();
    b->cmd = p->cmd;
    b->count = p->count;
    b->rules = std::move(p->rules);
    b->pooled = p->pooled;
    return Submit(env, std::move(b));
  }

 private:
  // The checked arguments of batch()/prepareBatch() as kernel records, or
  // nullptr with a JavaScript exception pending.
  // @pool: a large batch may take a buffer of the RecordPool (prepareBatch(),
  // the bulk path that calls releaseBatchBuffers() at its end; not batch()).
  std::unique_ptr<PreparedBatch> Prepare(const Napi::CallbackInfo& info, bool pool) {
    Napi::Env env = info.Env();
    static const unsigned long cmds[] = {FFWALL_IOC_ADD, FFWALL_IOC_DEL, FFWALL_IOC_ALLOW_ADD, FFWALL_IOC_ALLOW_DEL};
    uint32_t op = 0, n = 0;
    if (!GetU32(info[0], &op, "batch: op") || !GetU32(info[1], &n, "batch: count")) return nullptr;
    if (op > 3 || n > FFWALL_BATCH_MAX) {
      Napi::RangeError::New(env, "batch: bad op or count").ThrowAsJavaScriptException();
      return nullptr;
    }
    uint8_t *addrs = nullptr, *plen = nullptr, *nports = nullptr;
    uint16_t *flags = nullptr, *ports = nullptr;
    uint32_t* ttl = nullptr;
    if (!GetTyped(info[2], size_t(n) * 16, &addrs, "batch: addrs must be a Uint8Array of count*16 bytes") ||
        !GetTyped(info[3], n, &plen, "batch: prefixLen must be a Uint8Array of count bytes"))
      return nullptr;
    if (!info[4].IsUndefined() && !GetTyped(info[4], n, &nports, "batch: nports must be a Uint8Array")) return nullptr;
    if (!info[5].IsUndefined() && !GetTyped(info[5], n, &flags, "batch: flags must be a Uint16Array")) return nullptr;
    if (!info[6].IsUndefined() && !GetTyped(info[6], n, &ttl, "batch: ttl must be a Uint32Array")) return nullptr;
    if (!info[7].IsUndefined() && !GetTyped(info[7], size_t(n) * FFWALL_MAX_PORTS, &ports, "batch: ports must be a Uint16Array of count*8"))
      return nullptr;
    if (!CheckOpen(env)) return nullptr;
    // Not value-initialized: the loop writes every field (the struct has no
    // padding), so the chunk is not zeroed first (3 MiB for 65,536 records,
    // a memset that cost as much as the copy under emulation).
    static_assert(sizeof(struct ffwall_rule) == 16 + 1 + 1 + 2 + 4 + 2 * FFWALL_MAX_PORTS + 8, "ffwall_rule has padding");
    const bool pooled = pool && n >= RecordPool::kMinPooled;
    std::unique_ptr<struct ffwall_rule[]> rules = pooled ? pool_->Take() : std::unique_ptr<struct ffwall_rule[]>(new (std::nothrow) struct ffwall_rule[n]);
    if (!rules) {
      ErrnoError(env, ENOMEM, "batch", path_).ThrowAsJavaScriptException();
      return nullptr;
    }
    for (uint32_t i = 0; i < n; i++) {
      struct ffwall_rule& r = rules[i];
      std::memcpy(r.addr, addrs + size_t(i) * 16, 16);
      r.prefix_len = plen[i];
      r.nports = nports ? nports[i] : 0;
      r.flags = flags ? flags[i] : 0;
      r.ttl = ttl ? ttl[i] : 0;
      if (ports)
        std::memcpy(r.ports, ports + size_t(i) * FFWALL_MAX_PORTS, sizeof(r.ports));
      else
        std::memset(r.ports, 0, sizeof(r.ports));
      r.reserved = 0;
    }
    auto b = std::make_unique<PreparedBatch>();
    b->cmd = cmds[op];
    b->count = n;
    b->rules = std::move(rules);
    b->pooled = pooled;
    return b;
  }

  Napi::Value Submit(Napi::Env env, std::unique_ptr<PreparedBatch> b) {
    auto* w = new BatchWorker(env, fd_, path_, b->cmd, std::move(b->rules), b->count, b->pooled ? pool_ : nullptr);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

 public:

  // lookup(addr16, port, flags) -> {verdict, match, now, entry | undefined}
  Napi::Value Lookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* addr = nullptr;
    uint32_t port = 0, flags = 0;
    if (!GetTyped(info[0], 16, &addr, "lookup: addr must be a Uint8Array of 16 bytes") || !GetU32(info[1], &port, "lookup: port") ||
        !GetU32(info[2], &flags, "lookup: flags"))
      return env.Undefined();
    struct ffwall_lookup l;
    std::memset(&l, 0, sizeof(l));
    std::memcpy(l.addr, addr, 16);
    l.port = static_cast<__u16>(port);
    l.flags = static_cast<__u16>(flags);
    if (!Sync(env, FFWALL_IOC_LOOKUP, &l)) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("verdict", Napi::Number::New(env, l.verdict));
    o.Set("match", Napi::Number::New(env, l.match));
    o.Set("now", Napi::Number::New(env, static_cast<double>(l.now)));
    o.Set("entry", l.match == FFWALL_MATCH_NONE ? env.Undefined() : Napi::Value(RuleToObject(env, l.entry)));
    return o;
  }

  // flush(scope, withFlags) -> removed
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t scope = 0, with = 0;
    if (!GetU32(info[0], &scope, "flush: scope") || !GetU32(info[1], &with, "flush: withFlags")) return env.Undefined();
    struct ffwall_flush f;
    std::memset(&f, 0, sizeof(f));
    f.scope = scope;
    f.with_flags = static_cast<__u16>(with);
    if (!Sync(env, FFWALL_IOC_FLUSH, &f)) return env.Undefined();
    return Napi::Number::New(env, static_cast<double>(f.removed));
  }

  // reserve(entries) -> Promise<buckets>
  Napi::Value Reserve(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t entries = 0;
    if (!GetU32(info[0], &entries, "reserve: entries")) return env.Undefined();
    if (!CheckOpen(env)) return env.Undefined();
    auto* w = new ReserveWorker(env, fd_, path_, entries);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // dump(allow, cursor: bigint, capacity, hitSince) -> Promise<columns & {cursor}>
  Napi::Value Dump(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t cursor = 0, hitSince = 0;
    uint32_t capacity = 0;
    if (!info[0].IsBoolean()) {
      ThrowType(env, "dump: allow must be a boolean");
      return env.Undefined();
    }
    if (!GetU64(info[1], &cursor, "dump: cursor must be a u64 bigint") || !GetU32(info[2], &capacity, "dump: capacity") ||
        !GetU64(info[3], &hitSince, "dump: hitSince"))
      return env.Undefined();
    if (!CheckOpen(env)) return env.Undefined();
    // The kernel never writes more than FFWALL_DUMP_MAX; a smaller capacity
    // is passed as given (so the kernel judges FFWALL_DUMP_MIN).
    if (capacity > FFWALL_DUMP_MAX) capacity = FFWALL_DUMP_MAX;
    unsigned long cmd = info[0].As<Napi::Boolean>().Value() ? FFWALL_IOC_ALLOW_DUMP : FFWALL_IOC_DUMP;
    auto* w = new DumpWorker(env, fd_, path_, cmd, cursor, capacity, hitSince);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct ffwall_stats s;
    std::memset(&s, 0, sizeof(s));
    if (!Sync(env, FFWALL_IOC_STATS, &s)) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
#define FFW_STAT(js, c) o.Set(js, Napi::Number::New(env, static_cast<double>(s.c)))
    FFW_STAT("now", now);
    FFW_STAT("packetsSeen", packets_seen);
    FFW_STAT("packetsNotIp", packets_not_ip);
    FFW_STAT("droppedExact", dropped_exact);
    FFW_STAT("droppedPorts", dropped_ports);
    FFW_STAT("droppedPrefix", dropped_prefix);
    FFW_STAT("passedAllow", passed_allow);
    FFW_STAT("monitorHits", monitor_hits);
    FFW_STAT("filterProbes", filter_probes);
    FFW_STAT("filterHits", filter_hits);
    FFW_STAT("entries", entries);
    FFW_STAT("pinned", pinned);
    FFW_STAT("buckets", buckets);
    FFW_STAT("portsets", portsets);
    FFW_STAT("inserted", inserted);
    FFW_STAT("deleted", deleted);
    FFW_STAT("evicted", evicted);
    FFW_STAT("expired", expired);
    FFW_STAT("resizes", resizes);
    FFW_STAT("bytes", bytes);
    FFW_STAT("entrySize", entry_size);
    FFW_STAT("prefixes", prefixes);
    FFW_STAT("allowEntries", allow_entries);
    FFW_STAT("eventsLost", events_lost);
    FFW_STAT("hookErrors", hook_errors);
    FFW_STAT("prefixBytes", prefix_bytes);
    FFW_STAT("allowBytes", allow_bytes);
    FFW_STAT("filterBytes", filter_bytes);
#undef FFW_STAT
    return o;
  }

  // filterLoad(data: Uint8Array, nhashes, seed0: bigint, seed1: bigint, members) -> Promise<void>
  Napi::Value FilterLoad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* data = nullptr;
    uint32_t nhashes = 0;
    uint64_t seed0 = 0, seed1 = 0, members = 0;
    if (!GetTyped(info[0], 0, &data, "filterLoad: data must be a Uint8Array") || !GetU32(info[1], &nhashes, "filterLoad: nhashes") ||
        !GetU64(info[2], &seed0, "filterLoad: seed0") || !GetU64(info[3], &seed1, "filterLoad: seed1") ||
        !GetU64(info[4], &members, "filterLoad: members"))
      return env.Undefined();
    if (!CheckOpen(env)) return env.Undefined();
    size_t len = info[0].As<Napi::Uint8Array>().ElementLength();
    std::vector<uint8_t> copy(data, data + len);
    auto* w = new FilterLoadWorker(env, fd_, path_, std::move(copy), nhashes, seed0, seed1, members);
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  // filterAdd(addrs: Uint8Array of n*16) -> Promise<number>
  Napi::Value FilterAdd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint8_t* addrs = nullptr;
    if (!GetTyped(info[0], 0, &addrs, "filterAdd: addrs must be a Uint8Array")) return env.Undefined();
    size_t len = info[0].As<Napi::Uint8Array>().ElementLength();
    if (len % 16 != 0 || len / 16 > FFWALL_BATCH_MAX) {
      Napi::RangeError::New(env, "filterAdd: addrs must hold at most FFWALL_BATCH_MAX addresses of 16 bytes").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!CheckOpen(env)) return env.Undefined();
    std::vector<uint8_t> copy(addrs, addrs + len);
    auto* w = new FilterAddWorker(env, fd_, path_, std::move(copy));
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  // releaseBatchBuffers() -> the number of record buffers it freed: the end
  // of a bulk operation (RecordPool).  Batches still in flight free theirs.
  Napi::Value ReleaseBatchBuffers(const Napi::CallbackInfo& info) {
    size_t n = pool_->Kept();
    pool_->Release();
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_ ? fd_->fd : -1); }
  Napi::Value GetPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }

  AddonData* data_ = nullptr;
  std::shared_ptr<RecordPool> pool_ = std::make_shared<RecordPool>();
  std::string path_;
  std::shared_ptr<Fd> fd_;
};

// ---------------------------------------------------------------------------
// EventReader

// The part of a reader that must outlive the JS object until libuv is done
// with the handle: freed in the uv_close callback.
struct ReaderState {
  uv_poll_t poll;
  int fd = -1;
  bool polling = false;
  bool closing = false;
  napi_async_cleanup_hook_handle hook = nullptr;
  EventReader* owner = nullptr;
};

void ReaderClosed(uv_handle_t* h) {
  auto* st = static_cast<ReaderState*>(h->data);
  if (st->fd >= 0) ::close(st->fd);
  // Unregisters the async cleanup hook, or tells Node it has finished.
  if (st->hook) napi_remove_async_cleanup_hook(st->hook);
  delete st;
}

void ReaderStartClose(ReaderState* st);

// Runs when the environment goes away with the reader still open; Node
// keeps the loop running until ReaderClosed removes the hook.
void ReaderCleanupHook(napi_async_cleanup_hook_handle, void* arg) { ReaderStartClose(static_cast<ReaderState*>(arg)); }

// Records read per read(2) call, and at most per poll callback, so that a
// busy ring cannot hold the loop for long.
constexpr size_t kReadRecords = 256;
constexpr size_t kMaxPerWakeup = 4096;

class EventReader : public Napi::ObjectWrap<EventReader> {
 public:
  static Napi::Function Init(Napi::Env env, AddonData* data) {
    Napi::Function f = DefineClass(env, "EventReader", {
      InstanceMethod<&EventReader::Pause>("pause"),
      InstanceMethod<&EventReader::Resume>("resume"),
      InstanceMethod<&EventReader::Close>("close"),
      InstanceAccessor<&EventReader::GetClosed>("closed"),
    });
    data->readerCtor = Napi::Persistent(f);
    return f;
  }

  // new EventReader(path, callback): callback(err, batch) with batch
  // {count, type: Uint16Array, prefixLen, flags: Uint8Array, value:
  // Uint32Array, time: Float64Array, addrs: Uint8Array (count*16)}.
  explicit EventReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EventReader>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || !info[1].IsFunction()) {
      ThrowType(env, "EventReader(path, callback)");
      return;
    }
    path_ = info[0].As<Napi::String>().Utf8Value();
    int fd = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      ErrnoError(env, errno, "open", path_).ThrowAsJavaScriptException();
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      ::close(fd);
      Napi::Error::New(env, "EventReader: no event loop").ThrowAsJavaScriptException();
      return;
    }
    auto* st = new ReaderState();
    st->fd = fd;
    int r = uv_poll_init(loop, &st->poll, fd);
    if (r != 0) {
      ::close(fd);
      delete st;
      ErrnoError(env, -r, "uv_poll_init", path_).ThrowAsJavaScriptException();
      return;
    }
    st->poll.data = st;
    st->owner = this;
    napi_add_async_cleanup_hook(env, ReaderCleanupHook, st, &st->hook);
    st_ = st;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "ffwall:events");
    // Kept alive while open: the poll callback needs this object.
    Ref();
    StartPoll();
  }

  ~EventReader() override {
    if (st_) ReaderStartClose(st_);
    st_ = nullptr;
  }

 public:
  // The state was closed from outside (the cleanup hook).
  void Forget() { st_ = nullptr; }

 private:
  void StartPoll() {
    if (!st_ || st_->closing || st_->polling) return;
    if (uv_poll_start(&st_->poll, UV_READABLE, OnPoll) == 0) st_->polling = true;
  }

  void StopPoll() {
    if (!st_ || st_->closing || !st_->polling) return;
    uv_poll_stop(&st_->poll);
    st_->polling = false;
  }

  void DoClose() {
    if (!st_) return;
    ReaderStartClose(st_);
    st_ = nullptr;
    Unref();
  }

  static void OnPoll(uv_poll_t* h, int status, int) {
    auto* st = static_cast<ReaderState*>(h->data);
    if (st->owner) st->owner->Drain(status);
  }

  // Calls back into JS from a libuv callback: an exception the callback
  // throws has no JS caller to go to, so it becomes an uncaught exception
  // (as it would from an EventEmitter listener), never a C++ terminate.
  void Deliver(Napi::Value err, Napi::Value batch) {
    try {
      callback_.MakeCallback(Value(), {err, batch}, *context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(Env(), e.Value());
    }
  }

  // Reads whole records until EAGAIN (or kMaxPerWakeup) and hands them to
  // JS in one batch.
  void Drain(int status) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      StopPoll();
      Deliver(ErrnoError(env, -status, "poll", path_).Value(), env.Undefined());
      return;
    }
    std::vector<struct ffwall_event> evs;
    int err = 0;
    bool eof = false;
    while (evs.size() < kMaxPerWakeup) {
      size_t old = evs.size();
      evs.resize(old + kReadRecords);
      ssize_t n = ::read(st_->fd, evs.data() + old, kReadRecords * sizeof(struct ffwall_event));
      if (n < 0) {
        evs.resize(old);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      evs.resize(old + static_cast<size_t>(n) / sizeof(struct ffwall_event));
      if (n == 0) {
        // End of file: the device never says so, a FIFO (tests) does.
        eof = true;
        break;
      }
      if (static_cast<size_t>(n) < kReadRecords * sizeof(struct ffwall_event)) break;
    }
    if (!evs.empty()) {
      size_t n = evs.size();
      auto type = Napi::Uint16Array::New(env, n);
      auto prefixLen = Napi::Uint8Array::New(env, n);
      auto flags = Napi::Uint8Array::New(env, n);
      auto value = Napi::Uint32Array::New(env, n);
      auto time = Napi::Float64Array::New(env, n);
      auto addrs = Napi::Uint8Array::New(env, n * 16);
      for (size_t i = 0; i < n; i++) {
        type[i] = evs[i].type;
        prefixLen[i] = evs[i].prefix_len;
        flags[i] = evs[i].flags;
        value[i] = evs[i].value;
        time[i] = static_cast<double>(evs[i].time);
        std::memcpy(addrs.Data() + i * 16, evs[i].addr, 16);
      }
      Napi::Object b = Napi::Object::New(env);
      b.Set("count", Napi::Number::New(env, static_cast<double>(n)));
      b.Set("type", type);
      b.Set("prefixLen", prefixLen);
      b.Set("flags", flags);
      b.Set("value", value);
      b.Set("time", time);
      b.Set("addrs", addrs);
      Deliver(env.Null(), b);
    }
    // The callback may have paused or closed the reader.
    if (eof && st_ && !st_->closing) StopPoll();
    if (err != 0 && st_ && !st_->closing) {
      StopPoll();
      Deliver(ErrnoError(env, err, "read", path_).Value(), env.Undefined());
    }
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    StopPoll();
    return info.Env().Undefined();
  }
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    StartPoll();
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    DoClose();
    return info.Env().Undefined();
  }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), st_ == nullptr); }

  std::string path_;
  ReaderState* st_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

// Stops the poll and closes the handle; the fd is closed and the state freed
// in ReaderClosed, once libuv is done with the handle.
void ReaderStartClose(ReaderState* st) {
  if (st->closing) return;
  st->closing = true;
  if (st->owner) st->owner->Forget();
  st->owner = nullptr;
  st->polling = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&st->poll), ReaderClosed);
}

// ---------------------------------------------------------------------------
// The membership filter, FFWALL_FILTER_BLOCKED_BLOOM, as the uapi header
// defines it: h = SipHash-2-4(key = seed[0] LE || seed[1] LE, the 16 address
// bytes); block (h >> 32) * nblocks >> 32; a = (u32)h, b = (h >> 32) | 1;
// bit i is (a + i * b) mod 512 of the block, bit n being bit n % 8 of byte n / 8.

inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

uint64_t SipHash24(uint64_t k0, uint64_t k1, const uint8_t* msg, size_t len) {
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
  uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
  uint64_t v3 = 0x7465646279746573ULL ^ k1;
  auto round = [&]() {
    v0 += v1; v1 = Rotl(v1, 13); v1 ^= v0; v0 = Rotl(v0, 32);
    v2 += v3; v3 = Rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = Rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = Rotl(v1, 17); v1 ^= v2; v2 = Rotl(v2, 32);
  };
  size_t full = len - len % 8;
  for (size_t i = 0; i < full; i += 8) {
    uint64_t m = Load64(msg + i);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  uint64_t last = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t i = 0; i < len % 8; i++) last |= static_cast<uint64_t>(msg[full + i]) << (8 * i);
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

struct FilterPos {
  uint64_t hash;
  uint32_t block;
  uint16_t bits[16];
};

FilterPos FilterPositions(const uint8_t* addr, uint64_t nblocks, uint32_t nhashes, uint64_t s0, uint64_t s1) {
  FilterPos p{};
  p.hash = SipHash24(s0, s1, addr, 16);
  p.block = static_cast<uint32_t>(((p.hash >> 32) * nblocks) >> 32);
  uint32_t a = static_cast<uint32_t>(p.hash);
  uint32_t b = static_cast<uint32_t>(p.hash >> 32) | 1U;
  for (uint32_t i = 0; i < nhashes && i < 16; i++) p.bits[i] = static_cast<uint16_t>((a + i * b) % 512U);
  return p;
}

bool GetFilterParams(const Napi::CallbackInfo& info, size_t first, uint32_t* nhashes, uint64_t* s0, uint64_t* s1) {
  if (!GetU32(info[first], nhashes, "nhashes must be a number") || !GetU64(info[first + 1], s0, "seed0 must be a u64 bigint") ||
      !GetU64(info[first + 2], s1, "seed1 must be a u64 bigint"))
    return false;
  if (*nhashes < 1 || *nhashes > 16) {
    Napi::RangeError::New(info.Env(), "nhashes must be 1..16").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// Builds a filter on the thread pool, straight into an ArrayBuffer made (and
// held) on the main thread, or into the caller's filter (@into, held until
// the promise settles: the caller must not touch it meanwhile); the
// addresses are copied before Execute.
class FilterBuildWorker : public Napi::AsyncWorker {
 public:
  FilterBuildWorker(Napi::Env env, std::vector<uint8_t>&& addrs, size_t size, uint32_t nhashes, uint64_t s0, uint64_t s1, Napi::Uint8Array into)
      : Napi::AsyncWorker(env, "ffwall:filterBuild"), deferred_(Napi::Promise::Deferred::New(env)), addrs_(std::move(addrs)),
        nhashes_(nhashes), s0_(s0), s1_(s1) {
    size_ = size;
    if (!into.IsEmpty()) {
      out_ = into.Data();
      offset_ = into.ByteOffset();
      buf_ = Napi::Persistent(into.ArrayBuffer());
      return;
    }
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, size);
    std::memset(ab.Data(), 0, size);
    out_ = static_cast<uint8_t*>(ab.Data());
    buf_ = Napi::Persistent(ab);
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    uint64_t nblocks = size_ / FFWALL_FILTER_BLOCK_BYTES;
    for (size_t i = 0; i + 16 <= addrs_.size(); i += 16) {
      FilterPos p = FilterPositions(addrs_.data() + i, nblocks, nhashes_, s0_, s1_);
      uint8_t* blk = out_ + size_t(p.block) * FFWALL_FILTER_BLOCK_BYTES;
      for (uint32_t k = 0; k < nhashes_; k++) blk[p.bits[k] / 8] |= static_cast<uint8_t>(1U << (p.bits[k] % 8));
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(Napi::Uint8Array::New(Env(), size_, buf_.Value(), offset_));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<uint8_t> addrs_;
  uint32_t nhashes_;
  uint64_t s0_, s1_;
  Napi::Reference<Napi::ArrayBuffer> buf_;
  uint8_t* out_ = nullptr;
  size_t size_ = 0;
  size_t offset_ = 0;
};

// filterBuild(addrs, count, sizeBytes, nhashes, seed0, seed1[, into]) -> Promise<Uint8Array>
// With @into (a Uint8Array of sizeBytes), the members are added to it in
// place and it is the result; a filter grows by chunks without a copy.
Napi::Value FilterBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t count = 0;
  uint64_t size = 0;
  uint8_t* addrs = nullptr;
  uint32_t nhashes = 0;
  uint64_t s0 = 0, s1 = 0;
  if (!GetU32(info[1], &count, "filterBuild: count") || !GetTyped(info[0], size_t(count) * 16, &addrs, "filterBuild: addrs must be a Uint8Array of count*16 bytes") ||
      !GetU64(info[2], &size, "filterBuild: sizeBytes") || !GetFilterParams(info, 3, &nhashes, &s0, &s1))
    return env.Undefined();
  if (size == 0 || size % FFWALL_FILTER_BLOCK_BYTES != 0 || size > (uint64_t(1) << 32)) {
    Napi::RangeError::New(env, "filterBuild: sizeBytes must be a non-zero multiple of 64").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array into;
  if (info.Length() > 6 && !info[6].IsUndefined()) {
    if (!info[6].IsTypedArray() || info[6].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        info[6].As<Napi::Uint8Array>().ElementLength() != size) {
      Napi::TypeError::New(env, "filterBuild: into must be a Uint8Array of sizeBytes").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    into = info[6].As<Napi::Uint8Array>();
  }
  std::vector<uint8_t> copy(addrs, addrs + size_t(count) * 16);
  auto* w = new FilterBuildWorker(env, std::move(copy), size, nhashes, s0, s1, into);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// filterHas(data, nhashes, seed0, seed1, addr16) -> boolean
Napi::Value FilterHas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *data = nullptr, *addr = nullptr;
  uint32_t nhashes = 0;
  uint64_t s0 = 0, s1 = 0;
  if (!GetTyped(info[0], FFWALL_FILTER_BLOCK_BYTES, &data, "filterHas: data must be a Uint8Array of at least 64 bytes") ||
      !GetFilterParams(info, 1, &nhashes, &s0, &s1) || !GetTyped(info[4], 16, &addr, "filterHas: addr must be a Uint8Array of 16 bytes"))
    return env.Undefined();
  size_t size = info[0].As<Napi::Uint8Array>().ElementLength();
  if (size % FFWALL_FILTER_BLOCK_BYTES != 0) {
    Napi::RangeError::New(env, "filterHas: data size must be a multiple of 64").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  FilterPos p = FilterPositions(addr, size / FFWALL_FILTER_BLOCK_BYTES, nhashes, s0, s1);
  const uint8_t* blk = data + size_t(p.block) * FFWALL_FILTER_BLOCK_BYTES;
  for (uint32_t k = 0; k < nhashes; k++)
    if (!(blk[p.bits[k] / 8] & (1U << (p.bits[k] % 8)))) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, true);
}

// ---------------------------------------------------------------------------
// The bulk load's plain-feed parser: the lines that are exactly an IPv4
// address or prefix, straight into the kernel's key layout.  It is
// src/lib/addr.ts parseV4PrefixBytes() in C (the same bytes accepted, the same
// key and length written); packPlainFeed() (src/lib/feeds.ts) gives every
// other line to its own parser.  Under emulation the JavaScript loop was
// about a third of a 1M-entry load.

// The 16-byte v4-mapped key of @word (host order) into @key: two stores.
inline void PutV4Key(uint32_t word, uint8_t* key) {
  const uint64_t lo = 0;
  const uint8_t hi[8] = {0, 0, 0xff, 0xff, uint8_t(word >> 24), uint8_t(word >> 16), uint8_t(word >> 8), uint8_t(word)};
  std::memcpy(key, &lo, 8);
  std::memcpy(key + 8, hi, 8);
}

// Bytes that a line starting at p must have after it for ParseV4Fast():
// the longest IPv4 line, "255.255.255.255/32", its \r\n, and one more.
constexpr size_t kV4FastRoom = 21;

// The line at @p as an IPv4 address or prefix in canonical form (no
// leading zeros, host bits zero), found and parsed in one pass with no
// bounds check per byte: at least kV4FastRoom bytes must be readable from
// @p.  Writes the 16-byte v4-mapped key to @key, sets *@next to the start of
// the next line (a line ends at \n, \r\n or \r) and returns the length in
// the 128-bit space, or -1.  src/lib/addr.ts parseV4PrefixBytes() accepts
// the same lines.
int ParseV4Fast(const uint8_t* p, uint8_t* key, const uint8_t** next) {
  const uint8_t* s = p;
  uint32_t word = 0;
  for (int part = 0; part < 4; part++) {
    const unsigned d0 = unsigned(s[0]) - '0';
    if (d0 > 9) return -1;
    unsigned v = d0;
    s++;
    if (d0 != 0) {
      const unsigned d1 = unsigned(s[0]) - '0';
      if (d1 <= 9) {
        v = v * 10 + d1;
        s++;
        const unsigned d2 = unsigned(s[0]) - '0';
        if (d2 <= 9) {
          v = v * 10 + d2;
          s++;
          if (v > 255) return -1;
        }
      }
    }
    word = (word << 8) | v;
    if (part < 3) {
      if (s[0] != '.') return -1;
      s++;
    }
  }
  unsigned bits = 32;
  if (s[0] == '/') {
    const unsigned d0 = unsigned(s[1]) - '0';
    if (d0 > 9) return -1;
    bits = d0;
    s += 2;
    if (d0 != 0) {
      const unsigned d1 = unsigned(s[0]) - '0';
      if (d1 <= 9) {
        bits = bits * 10 + d1;
        s++;
      }
    }
    if (bits > 32) return -1;
    const uint32_t host = bits == 0 ? 0xffffffffU : (1U << (32 - bits)) - 1;
    if (bits < 32 && (word & host) != 0) return -1;
  }
  if (s[0] == '\n') {
    *next = s + 1;
  } else if (s[0] == '\r') {
    *next = s + (s[1] == '\n' ? 2 : 1);
  } else {
    return -1;
  }
  PutV4Key(word, key);
  return int(96 + bits);
}

// packV4Lines(buf, addrs, prefixLen, lineOf, state): from state = [position
// (the start of a line), entries, lines] on, packs line after line while
// each is an IPv4 address or prefix and the columns have room; stops at the
// first other line (not consumed) and writes the new state back.  A line
// ends at \n, \r\n or \r, as readline's.
Napi::Value PackV4Lines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t *buf = nullptr, *addrs = nullptr, *lens = nullptr;
  uint32_t* lineOf = nullptr;
  double* state = nullptr;
  if (!GetTyped(info[0], 0, &buf, "packV4Lines: buf must be a Uint8Array") ||
      !GetTyped(info[1], 0, &addrs, "packV4Lines: addrs must be a Uint8Array") ||
      !GetTyped(info[2], 0, &lens, "packV4Lines: prefixLen must be a Uint8Array") ||
      !GetTyped(info[3], 0, &lineOf, "packV4Lines: lineOf must be a Uint32Array") ||
      !GetTyped(info[4], 3, &state, "packV4Lines: state must be a Float64Array of 3"))
    return env.Undefined();
  const size_t n = info[0].As<Napi::Uint8Array>().ElementLength();
  size_t cap = info[1].As<Napi::Uint8Array>().ElementLength() / 16;
  cap = std::min(cap, info[2].As<Napi::Uint8Array>().ElementLength());
  cap = std::min(cap, info[3].As<Napi::Uint32Array>().ElementLength());
  if (!(state[0] >= 0 && state[1] >= 0 && state[2] >= 0 && state[2] < 4294967295.0)) {
    Napi::RangeError::New(env, "packV4Lines: bad state").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t pos = size_t(state[0]), count = size_t(state[1]);
  uint32_t line = uint32_t(state[2]);
  // The last lines are copied with \n after the buffer's end, which ends a
  // line as the end itself does, so that one parser reads every line.
  uint8_t tail[kV4FastRoom];
  while (pos < n && count < cap && line < 0xffffffffU) {
    const uint8_t* p = buf + pos;
    if (n - pos < kV4FastRoom) {
      std::memcpy(tail, p, n - pos);
      std::memset(tail + (n - pos), '\n', kV4FastRoom - (n - pos));
      p = tail;
    }
    const uint8_t* next = nullptr;
    const int len = ParseV4Fast(p, addrs + count * 16, &next);
    if (len < 0) break;
    lens[count] = uint8_t(len);
    lineOf[count] = ++line;
    count++;
    pos = std::min(n, pos + size_t(next - p));
  }
  state[0] = double(pos);
  state[1] = double(count);
  state[2] = double(line);
  return env.Undefined();
}

// filterPositions(addr16, nblocks, nhashes, seed0, seed1) -> {hash, block, bits}
// (for the known-answer tests).
Napi::Value FilterPositionsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* addr = nullptr;
  uint32_t nblocks = 0, nhashes = 0;
  uint64_t s0 = 0, s1 = 0;
  if (!GetTyped(info[0], 16, &addr, "filterPositions: addr must be a Uint8Array of 16 bytes") || !GetU32(info[1], &nblocks, "nblocks") ||
      !GetFilterParams(info, 2, &nhashes, &s0, &s1))
    return env.Undefined();
  FilterPos p = FilterPositions(addr, nblocks, nhashes, s0, s1);
  Napi::Object o = Napi::Object::New(env);
  o.Set("hash", Napi::BigInt::New(env, p.hash));
  o.Set("block", Napi::Number::New(env, p.block));
  auto bits = Napi::Uint16Array::New(env, nhashes);
  for (uint32_t k = 0; k < nhashes; k++) bits[k] = p.bits[k];
  o.Set("bits", bits);
  return o;
}

// ---------------------------------------------------------------------------
// Module

void Cleanup(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  while (!data->devices.empty()) (*data->devices.begin())->Release();
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto num = [&](const char* k, double v) { c.Set(k, Napi::Number::New(env, v)); };
  auto big = [&](const char* k, uint64_t v) { c.Set(k, Napi::BigInt::New(env, v)); };
  num("ABI_VERSION", FFWALL_ABI_VERSION);
  num("BATCH_MAX", FFWALL_BATCH_MAX);
  num("DUMP_MAX", FFWALL_DUMP_MAX);
  num("DUMP_MIN", FFWALL_DUMP_MIN);
  num("MAX_PORTS", FFWALL_MAX_PORTS);
  num("TTL_MAX", FFWALL_TTL_MAX);
  num("MAX_ENTRIES_MIN", FFWALL_MAX_ENTRIES_MIN);
  num("MAX_ENTRIES_MAX", FFWALL_MAX_ENTRIES_MAX);
  num("GC_INTERVAL_MIN", FFWALL_GC_INTERVAL_MIN);
  num("GC_INTERVAL_MAX", FFWALL_GC_INTERVAL_MAX);
  num("MAX_ATTACH", FFWALL_MAX_ATTACH);
  num("IFNAMSIZ", FFWALL_IFNAMSIZ);
  num("FILTER_BLOCK_BYTES", FFWALL_FILTER_BLOCK_BYTES);
  num("FILTER_MAX_HASHES", 16);
  big("FEAT_CONFIG", FFWALL_FEAT_CONFIG);
  big("FEAT_ATTACH", FFWALL_FEAT_ATTACH);
  big("FEAT_ADD_DEL", FFWALL_FEAT_ADD_DEL);
  big("FEAT_LOOKUP", FFWALL_FEAT_LOOKUP);
  big("FEAT_FLUSH", FFWALL_FEAT_FLUSH);
  big("FEAT_DUMP", FFWALL_FEAT_DUMP);
  big("FEAT_STATS", FFWALL_FEAT_STATS);
  big("FEAT_PORTS", FFWALL_FEAT_PORTS);
  big("FEAT_MONITOR", FFWALL_FEAT_MONITOR);
  big("FEAT_PREFIX", FFWALL_FEAT_PREFIX);
  big("FEAT_ALLOW", FFWALL_FEAT_ALLOW);
  big("FEAT_EVENTS", FFWALL_FEAT_EVENTS);
  big("FEAT_FILTER", FFWALL_FEAT_FILTER);
  big("FEAT_FLUSH_FLAGS", FFWALL_FEAT_FLUSH_FLAGS);
  num("MODE_ENFORCE", FFWALL_MODE_ENFORCE);
  num("MODE_MONITOR", FFWALL_MODE_MONITOR);
  num("CONFIG_MAX_ENTRIES", FFWALL_CONFIG_MAX_ENTRIES);
  num("CONFIG_MODE", FFWALL_CONFIG_MODE);
  num("CONFIG_GC_INTERVAL", FFWALL_CONFIG_GC_INTERVAL);
  num("DEV_NAMED", FFWALL_DEV_NAMED);
  num("DEV_HOOKED", FFWALL_DEV_HOOKED);
  num("F_PINNED", FFWALL_F_PINNED);
  num("F_MONITOR", FFWALL_F_MONITOR);
  num("VERDICT_PASS", FFWALL_VERDICT_PASS);
  num("VERDICT_DROP", FFWALL_VERDICT_DROP);
  num("VERDICT_MONITOR", FFWALL_VERDICT_MONITOR);
  num("VERDICT_PORTS", FFWALL_VERDICT_PORTS);
  num("MATCH_NONE", FFWALL_MATCH_NONE);
  num("MATCH_EXACT", FFWALL_MATCH_EXACT);
  num("MATCH_PREFIX", FFWALL_MATCH_PREFIX);
  num("MATCH_ALLOW", FFWALL_MATCH_ALLOW);
  num("LOOKUP_F_PORT", FFWALL_LOOKUP_F_PORT);
  num("FLUSH_EXACT", FFWALL_FLUSH_EXACT);
  num("FLUSH_PREFIX", FFWALL_FLUSH_PREFIX);
  num("FLUSH_ALLOW", FFWALL_FLUSH_ALLOW);
  big("DUMP_END", FFWALL_DUMP_END);
  num("EVENT_EVICTED", FFWALL_EVENT_EVICTED);
  num("EVENT_EXPIRED", FFWALL_EVENT_EXPIRED);
  num("EVENT_MISS", FFWALL_EVENT_MISS);
  num("EVENT_OVERFLOW", FFWALL_EVENT_OVERFLOW);
  num("BATCH_ADD", 0);
  num("BATCH_DEL", 1);
  num("BATCH_ALLOW_ADD", 2);
  num("BATCH_ALLOW_DEL", 3);
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  napi_add_env_cleanup_hook(env, Cleanup, data);
  exports.Set("Device", Device::Init(env, data));
  exports.Set("EventReader", EventReader::Init(env, data));
  exports.Set("filterBuild", Napi::Function::New(env, FilterBuild, "filterBuild"));
  exports.Set("filterHas", Napi::Function::New(env, FilterHas, "filterHas"));
  exports.Set("filterPositions", Napi::Function::New(env, FilterPositionsJs, "filterPositions"));
  exports.Set("packV4Lines", Napi::Function::New(env, PackV4Lines, "packV4Lines"));
  exports.Set("constants", Constants(env));
  exports.Set("ABI_VERSION", Napi::Number::New(env, FFWALL_ABI_VERSION));
  exports.Set("DEVICE_NAME", Napi::String::New(env, FFWALL_DEVICE_NAME));
  return exports;
}

}  // namespace

NODE_API_MODULE(ffwall, Init)
