// Shared helpers of the greoip addon: errno-carrying errors, argument checks
// and a tiny fd guard. No protocol logic lives in this addon.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace greoip {

// An Error whose message reads "SYSCALL SUBJECT: DESCRIPTION (ENAME)" with
// `code` = errno name, `syscall` = SYSCALL and `errno` = -err (the sign Node
// uses for system errors). `description` replaces strerror's text when given;
// `subject` (an interface name, "fd 12", an option name) may be empty.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall, const std::string& subject = "",
                       const char* description = nullptr);

// Same, for a libuv status code (negative errno on Linux).
Napi::Error UvError(Napi::Env env, int status, const std::string& syscall);

// A TypeError or RangeError with a Node-style `code`.
Napi::Error ArgTypeError(Napi::Env env, const std::string& message);
Napi::Error ArgRangeError(Napi::Env env, const std::string& message);

// Argument readers: throw ArgTypeError/ArgRangeError naming `what`.
int ArgFd(const Napi::CallbackInfo& info, size_t index, const char* what = "fd");
uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t index, const char* what, uint32_t min, uint32_t max);
bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* what);
std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* what);

// Copies an interface name into an ifreq-sized buffer, throwing EINVAL (with
// `syscall` as the failing call) when it does not fit IFNAMSIZ - 1 bytes or
// holds a NUL byte.
void CheckIfName(Napi::Env env, const std::string& name, const char* syscall);

// Closes the fd on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard();
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// "fd 12", used as the subject of fd-based errors.
std::string FdSubject(int fd);

void InitTap(Napi::Env env, Napi::Object exports);
void InitLink(Napi::Env env, Napi::Object exports);
void InitRawsock(Napi::Env env, Napi::Object exports);
void InitBatch(Napi::Env env, Napi::Object exports);
void InitNetlink(Napi::Env env, Napi::Object exports);
void InitBpf(Napi::Env env, Napi::Object exports);
void InitNetns(Napi::Env env, Napi::Object exports);
void InitUnixDatagram(Napi::Env env, Napi::Object exports);

}  // namespace greoip
