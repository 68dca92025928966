// Errors thrown to JavaScript: every failing system call becomes an Error with
// `code` (the errno name), `syscall` and `errno`, like Node's own.
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>

#include "common.h"

namespace greoip {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& subject,
                       const char* description) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  const char* text = description;
  if (text == nullptr) text = strerrordesc_np(err);
  if (text == nullptr) text = "Unknown error";
  std::string message = syscall;
  if (!subject.empty()) message += " " + subject;
  message += ": ";
  message += text;
  message += " (" + code + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.Set("errno", Napi::Number::New(env, -err));
  return error;
}

Napi::Error UvError(Napi::Env env, int status, const std::string& syscall) {
  return ErrnoError(env, -status, syscall);
}

Napi::Error ArgTypeError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return error;
}

Napi::Error ArgRangeError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::RangeError::New(env, message);
  error.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  return error;
}

static double ArgNumber(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw ArgTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a number");
  }
  return info[index].As<Napi::Number>().DoubleValue();
}

int ArgFd(const Napi::CallbackInfo& info, size_t index, const char* what) {
  double value = ArgNumber(info, index, what);
  if (!(value >= 0 && value <= 2147483647.0) || std::floor(value) != value) {
    throw ArgRangeError(info.Env(), std::string("The \"") + what + "\" argument must be a file descriptor");
  }
  return static_cast<int>(value);
}

uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t index, const char* what, uint32_t min, uint32_t max) {
  double value = ArgNumber(info, index, what);
  if (!(value >= min && value <= max) || std::floor(value) != value) {
    throw ArgRangeError(info.Env(), std::string("The \"") + what + "\" argument must be an integer in " +
                                        std::to_string(min) + ".." + std::to_string(max));
  }
  return static_cast<uint32_t>(value);
}

bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (index >= info.Length() || !info[index].IsBoolean()) {
    throw ArgTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a boolean");
  }
  return info[index].As<Napi::Boolean>().Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (index >= info.Length() || !info[index].IsString()) {
    throw ArgTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

void CheckIfName(Napi::Env env, const std::string& name, const char* syscall) {
  if (name.size() >= IFNAMSIZ) {
    throw ErrnoError(env, EINVAL, syscall, name, "Invalid argument: interface names are at most 15 bytes");
  }
  if (name.find('\0') != std::string::npos) {
    throw ErrnoError(env, EINVAL, syscall, name, "Invalid argument: interface name holds a NUL byte");
  }
}

FdGuard::~FdGuard() {
  if (fd_ >= 0) ::close(fd_);
}

std::string FdSubject(int fd) { return "fd " + std::to_string(fd); }

}  // namespace greoip
