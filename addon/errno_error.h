// SPDX-License-Identifier: MIT
//
// The one errno -> Error converter of ffwall's addons (ffwall.node and
// notify.node): an Error with Node's own shape for a failed system call:
// code (errno name), errno (negative, as libuv reports it), syscall and
// path; the message is "CODE: strerror, syscall 'path'" (as validate.ts
// errnoError).
#ifndef FFWALL_ADDON_ERRNO_ERROR_H
#define FFWALL_ADDON_ERRNO_ERROR_H

#include <napi.h>
#include <uv.h>

#include <string>

namespace ffwall {

inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path) {
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

}  // namespace ffwall

#endif  // FFWALL_ADDON_ERRNO_ERROR_H
