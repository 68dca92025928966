// Interface control through the classic SIOC* ioctls on a datagram socket:
// MTU, administrative up/down, index lookup. Acts in the caller's netns.
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace greoip {
namespace {

// Any socket family reaches dev_ioctl; AF_INET is the usual one, AF_UNIX the
// fallback for a kernel built without IPv4.
int ControlSocket(Napi::Env env) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 && errno == EAFNOSUPPORT) fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket");
  return fd;
}

struct ifreq NamedIfreq(Napi::Env env, const std::string& name, const char* syscall) {
  CheckIfName(env, name, syscall);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  memcpy(ifr.ifr_name, name.data(), name.size());
  return ifr;
}

// linkSetMtu(name, mtu)
Napi::Value LinkSetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  uint32_t mtu = ArgUint32(info, 1, "mtu", 0, 0x7fffffff);
  struct ifreq ifr = NamedIfreq(env, name, "SIOCSIFMTU");
  ifr.ifr_mtu = static_cast<int>(mtu);
  FdGuard sock(ControlSocket(env));
  if (::ioctl(sock.get(), SIOCSIFMTU, &ifr) < 0) throw ErrnoError(env, errno, "SIOCSIFMTU", name);
  return env.Undefined();
}

// linkSetUp(name, up): sets or clears IFF_UP.
Napi::Value LinkSetUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  bool up = ArgBool(info, 1, "up");
  struct ifreq ifr = NamedIfreq(env, name, "SIOCGIFFLAGS");
  FdGuard sock(ControlSocket(env));
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) throw ErrnoError(env, errno, "SIOCGIFFLAGS", name);
  short flags = up ? static_cast<short>(ifr.ifr_flags | IFF_UP) : static_cast<short>(ifr.ifr_flags & ~IFF_UP);
  if (flags != ifr.ifr_flags) {
    ifr.ifr_flags = flags;
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) throw ErrnoError(env, errno, "SIOCSIFFLAGS", name);
  }
  return env.Undefined();
}

// Returns the index, 0 with *err set when the ioctl failed.
int GetIndex(Napi::Env env, const std::string& name, int* err) {
  struct ifreq ifr = NamedIfreq(env, name, "SIOCGIFINDEX");
  FdGuard sock(ControlSocket(env));
  if (::ioctl(sock.get(), SIOCGIFINDEX, &ifr) < 0) {
    *err = errno;
    return 0;
  }
  *err = 0;
  return ifr.ifr_ifindex;
}

// linkGetIndex(name) -> number (throws ENODEV when absent)
Napi::Value LinkGetIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  int err = 0;
  int index = GetIndex(env, name, &err);
  if (err != 0) throw ErrnoError(env, err, "SIOCGIFINDEX", name);
  return Napi::Number::New(env, index);
}

// linkExists(name) -> boolean
Napi::Value LinkExists(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  if (name.empty() || name.size() >= IFNAMSIZ) return Napi::Boolean::New(env, false);
  int err = 0;
  int index = GetIndex(env, name, &err);
  if (err == ENODEV) return Napi::Boolean::New(env, false);
  if (err != 0) throw ErrnoError(env, err, "SIOCGIFINDEX", name);
  return Napi::Boolean::New(env, index > 0);
}

}  // namespace

void InitLink(Napi::Env env, Napi::Object exports) {
  exports.Set("linkSetMtu", Napi::Function::New(env, LinkSetMtu, "linkSetMtu"));
  exports.Set("linkSetUp", Napi::Function::New(env, LinkSetUp, "linkSetUp"));
  exports.Set("linkGetIndex", Napi::Function::New(env, LinkGetIndex, "linkGetIndex"));
  exports.Set("linkExists", Napi::Function::New(env, LinkExists, "linkExists"));
}

}  // namespace greoip
