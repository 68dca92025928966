// Tap devices through /dev/net/tun: open (create or attach), persistence,
// carrier, and deletion of a persistent tap.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace greoip {
namespace {

constexpr const char* kTunPath = "/dev/net/tun";

int OpenTunDevice(Napi::Env env) {
  int fd = ::open(kTunPath, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, errno, "open", kTunPath);
  return fd;
}

// TUNSETIFF with IFF_TAP | IFF_NO_PI: creates the tap, or attaches to an
// existing (persistent, unattached) tap of that name. Returns the name the
// kernel settled on (it fills in "tap%d" style templates).
std::string AttachTap(Napi::Env env, int fd, const std::string& name, bool vnet_hdr = false) {
  CheckIfName(env, name, "TUNSETIFF");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) throw ErrnoError(env, errno, "TUNSETIFF", name);
  return std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
}

void SetPersist(Napi::Env env, int fd, bool on, const std::string& subject) {
  unsigned long value = on ? 1 : 0;
  if (::ioctl(fd, TUNSETPERSIST, value) < 0) throw ErrnoError(env, errno, "TUNSETPERSIST", subject);
}

// tapOpen(name, persist[, vnetHdr]) -> { fd, name }. With vnetHdr every
// frame read or written carries a 10-byte virtio_net_hdr in front.
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  bool persist = ArgBool(info, 1, "persist");
  bool vnet_hdr = info.Length() > 2 && !info[2].IsUndefined() && ArgBool(info, 2, "vnetHdr");
  CheckIfName(env, name, "TUNSETIFF");
  FdGuard fd(OpenTunDevice(env));
  std::string actual = AttachTap(env, fd.get(), name, vnet_hdr);
  if (persist) SetPersist(env, fd.get(), true, actual);
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd.release()));
  result.Set("name", Napi::String::New(env, actual));
  return result;
}

// tapSetPersist(fd, on)
Napi::Value TapSetPersist(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  bool on = ArgBool(info, 1, "on");
  SetPersist(info.Env(), fd, on, FdSubject(fd));
  return info.Env().Undefined();
}

// tapSetCarrier(fd, on): carrier off shows NO-CARRIER / operstate DOWN while
// the interface stays administratively up.
Napi::Value TapSetCarrier(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int on = ArgBool(info, 1, "on") ? 1 : 0;
  if (::ioctl(fd, TUNSETCARRIER, &on) < 0) throw ErrnoError(info.Env(), errno, "TUNSETCARRIER", FdSubject(fd));
  return info.Env().Undefined();
}

// tapSetOffload(fd, flags): TUNSETOFFLOAD with TUN_F_* bits (CSUM 1, TSO4 2,
// TSO6 4, TSO_ECN 8, USO4 0x20, USO6 0x40). EINVAL for bits this kernel lacks.
Napi::Value TapSetOffload(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  uint32_t flags = ArgUint32(info, 1, "flags", 0, 0xff);
  if (::ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0) {
    throw ErrnoError(info.Env(), errno, "TUNSETOFFLOAD", FdSubject(fd));
  }
  return info.Env().Undefined();
}

// tapDelete(name): attach to the persistent tap, clear persistence, close.
// ENODEV when no interface has that name (TUNSETIFF would otherwise create a
// fresh tap only to delete it again).
Napi::Value TapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  CheckIfName(env, name, "TUNSETIFF");
  if (name.empty() || ::if_nametoindex(name.c_str()) == 0) throw ErrnoError(env, ENODEV, "TUNSETIFF", name);
  FdGuard fd(OpenTunDevice(env));
  std::string actual = AttachTap(env, fd.get(), name);
  SetPersist(env, fd.get(), false, actual);
  return env.Undefined();
}

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) {
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen, "tapOpen"));
  exports.Set("tapSetPersist", Napi::Function::New(env, TapSetPersist, "tapSetPersist"));
  exports.Set("tapSetCarrier", Napi::Function::New(env, TapSetCarrier, "tapSetCarrier"));
  exports.Set("tapDelete", Napi::Function::New(env, TapDelete, "tapDelete"));
  exports.Set("tapSetOffload", Napi::Function::New(env, TapSetOffload, "tapSetOffload"));
}

}  // namespace greoip
