// The identity of the caller's network namespace: its cookie, a 64-bit number
// the kernel never hands out twice in one boot (unlike the nsfs inode, which a
// new namespace may reuse as soon as the old one is gone).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common.h"

// Linux 5.14 (include/uapi/asm-generic/socket.h); older libc headers lack it.
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace greoip {
namespace {

// netnsCookie() -> bigint: SO_NETNS_COOKIE of a fresh socket (any socket
// reports the namespace it was created in).
Napi::Value NetnsCookie(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket");
  FdGuard sock(fd);
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(sock.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0) {
    throw ErrnoError(env, errno, "getsockopt", "SO_NETNS_COOKIE");
  }
  return Napi::BigInt::New(env, cookie);
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsCookie", Napi::Function::New(env, NetnsCookie, "netnsCookie"));
}

}  // namespace greoip
