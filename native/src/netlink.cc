// Route netlink sockets (NETLINK_ROUTE) for the kernel backend: open, send one
// message buffer, receive one datagram. Messages are built and parsed in
// TypeScript (src/netlink/); this file only moves bytes. Control-plane use
// only: receive blocks the calling thread for at most `timeoutMs`.
#include <linux/netlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11  // linux/netlink.h; since Linux 4.12
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10  // since Linux 4.3
#endif

namespace greoip {
namespace {

// Extended acks carry the kernel's error text; capped acks keep an error reply
// from echoing a whole request back. Older kernels lack them: not fatal.
void EnableAckOptions(int fd) {
  int on = 1;
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
}

// netlinkOpen() -> fd: a close-on-exec NETLINK_ROUTE socket bound to a kernel-chosen port id.
Napi::Value NetlinkOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdGuard fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (fd.get() < 0) throw ErrnoError(env, errno, "socket", "AF_NETLINK");
  EnableAckOptions(fd.get());
  struct sockaddr_nl local;
  memset(&local, 0, sizeof(local));
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&local), sizeof(local)) < 0)
    throw ErrnoError(env, errno, "bind", "AF_NETLINK");
  return Napi::Number::New(env, fd.release());
}

// netlinkSend(fd, buffer): one sendto() to the kernel (port id 0).
Napi::Value NetlinkSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  if (info.Length() < 2 || !info[1].IsTypedArray()) throw ArgTypeError(env, "message must be a Uint8Array");
  Napi::Uint8Array msg = info[1].As<Napi::Uint8Array>();
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = ::sendto(fd, msg.Data(), msg.ByteLength(), 0, reinterpret_cast<struct sockaddr*>(&kernel), sizeof(kernel));
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw ErrnoError(env, errno, "sendto", FdSubject(fd));
  return env.Undefined();
}

// netlinkRecv(fd, timeoutMs) -> Buffer | null (null: nothing arrived in time).
// The datagram's size is peeked first, so a large dump part is never cut.
Napi::Value NetlinkRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  uint32_t timeout = ArgUint32(info, 1, "timeoutMs", 0, 600000);
  struct pollfd pfd = {fd, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, static_cast<int>(timeout));
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) throw ErrnoError(env, errno, "poll", FdSubject(fd));
  if (ready == 0) return env.Null();
  ssize_t size;
  do {
    size = ::recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
  } while (size < 0 && errno == EINTR);
  if (size < 0) throw ErrnoError(env, errno, "recv", FdSubject(fd));
  std::vector<uint8_t> data(static_cast<size_t>(size > 0 ? size : 1));
  ssize_t n;
  do {
    n = ::recv(fd, data.data(), data.size(), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw ErrnoError(env, errno, "recv", FdSubject(fd));
  return Napi::Buffer<uint8_t>::Copy(env, data.data(), static_cast<size_t>(n));
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkOpen", Napi::Function::New(env, NetlinkOpen, "netlinkOpen"));
  exports.Set("netlinkSend", Napi::Function::New(env, NetlinkSend, "netlinkSend"));
  exports.Set("netlinkRecv", Napi::Function::New(env, NetlinkRecv, "netlinkRecv"));
}

}  // namespace greoip
