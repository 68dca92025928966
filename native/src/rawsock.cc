// Raw IP sockets for the tunnel protocols (IPv4 protocol 47, IPv6 next header
// 97) with the kernel building the outer header and fragmenting, optional
// classic-BPF admission filters; plus close() and SO_PEERCRED.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"

namespace greoip {
namespace {

void SetIntOption(Napi::Env env, int fd, int level, int name, int value, const char* label) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) < 0) throw ErrnoError(env, errno, "setsockopt", label);
}

// IPv4: the socket sees the whole IPv4 header at offset 0. Accept only when
// the four bytes after the header (IHL * 4) are MikroTik EoIP's 20 01 64 00.
//   ldxb 4*([0]&0xf) ; ld [x+0] ; jeq #0x20016400, accept, drop
const struct sock_filter kEoip4Filter[] = {
    BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
    BPF_STMT(BPF_LD | BPF_W | BPF_IND, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20016400, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

// IPv6: the socket sees the payload only. Accept when the first byte's low
// nibble is 3 (EoIPv6's version field).
//   ldb [0] ; and #0xf ; jeq #3, accept, drop
const struct sock_filter kEoip6Filter[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x0f),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36  // linux/in6.h; since Linux 4.5
#endif

void AttachProgram(Napi::Env env, int fd, struct sock_fprog prog);

void AttachFilter(Napi::Env env, int fd, int family) {
  struct sock_fprog prog;
  if (family == 4) {
    prog.len = sizeof(kEoip4Filter) / sizeof(kEoip4Filter[0]);
    prog.filter = const_cast<struct sock_filter*>(kEoip4Filter);
  } else {
    prog.len = sizeof(kEoip6Filter) / sizeof(kEoip6Filter[0]);
    prog.filter = const_cast<struct sock_filter*>(kEoip6Filter);
  }
  AttachProgram(env, fd, prog);
}

// Accept only packets of at most `max` bytes (what the socket sees: the whole
// IPv4 packet, or the IPv6 payload). A GRE keepalive is tens of bytes; GRE
// data traffic on a busy router never reaches userland.
//   ld len ; jgt #max, drop, accept
void AttachMaxLengthFilter(Napi::Env env, int fd, uint32_t max) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, max, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog;
  prog.len = sizeof(code) / sizeof(code[0]);
  prog.filter = code;
  AttachProgram(env, fd, prog);
}

void AttachProgram(Napi::Env env, int fd, struct sock_fprog prog) {
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
    throw ErrnoError(env, errno, "setsockopt", "SO_ATTACH_FILTER");
  }
  // Packets queued between socket() and the attach were not filtered: drop
  // them so the filter's promise holds from the first packet read.
  char scratch[1];
  for (int i = 0; i < 65536; ++i) {
    if (::recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT | MSG_TRUNC) < 0) break;
  }
}

bool HasOption(const Napi::Object& opts, const char* key) {
  if (!opts.Has(key)) return false;
  Napi::Value value = opts.Get(key);
  return !value.IsUndefined() && !value.IsNull();
}

uint32_t OptionUint(const Napi::Object& opts, const char* key, uint32_t max) {
  Napi::Value value = opts.Get(key);
  if (!value.IsNumber()) throw ArgTypeError(opts.Env(), std::string("opts.") + key + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || static_cast<double>(static_cast<uint32_t>(d)) != d) {
    throw ArgRangeError(opts.Env(), std::string("opts.") + key + " must be an integer in 0.." + std::to_string(max));
  }
  return static_cast<uint32_t>(d);
}

std::string OptionString(const Napi::Object& opts, const char* key) {
  Napi::Value value = opts.Get(key);
  if (!value.IsString()) throw ArgTypeError(opts.Env(), std::string("opts.") + key + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

void SetBuffer(Napi::Env env, int fd, int force, int plain, uint32_t bytes, const char* label) {
  int value = static_cast<int>(bytes);
  // The *FORCE variants pass rmem_max/wmem_max (needs CAP_NET_ADMIN).
  if (::setsockopt(fd, SOL_SOCKET, force, &value, sizeof(value)) == 0) return;
  SetIntOption(env, fd, SOL_SOCKET, plain, value, label);
}

// rawOpen(family: 4|6, protocol, opts) -> fd
Napi::Value RawOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t family = ArgUint32(info, 0, "family", 4, 6);
  if (family != 4 && family != 6) throw ArgRangeError(env, "The \"family\" argument must be 4 or 6");
  uint32_t protocol = ArgUint32(info, 1, "protocol", 1, 254);
  Napi::Object opts = Napi::Object::New(env);
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsObject()) throw ArgTypeError(env, "The \"opts\" argument must be an object");
    opts = info[2].As<Napi::Object>();
  }

  int domain = family == 4 ? AF_INET : AF_INET6;
  int raw = ::socket(domain, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(protocol));
  if (raw < 0) throw ErrnoError(env, errno, "socket", family == 4 ? "AF_INET SOCK_RAW" : "AF_INET6 SOCK_RAW");
  FdGuard fd(raw);

  if (family == 4) {
    // No IP_HDRINCL: the kernel writes the outer header and fragments.
    SetIntOption(env, fd.get(), IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT, "IP_MTU_DISCOVER");
    if (HasOption(opts, "ttl")) {
      uint32_t ttl = OptionUint(opts, "ttl", 255);
      if (ttl == 0) throw ArgRangeError(env, "opts.ttl must be an integer in 1..255");
      SetIntOption(env, fd.get(), IPPROTO_IP, IP_TTL, static_cast<int>(ttl), "IP_TTL");
    }
    if (HasOption(opts, "tos")) {
      SetIntOption(env, fd.get(), IPPROTO_IP, IP_TOS, static_cast<int>(OptionUint(opts, "tos", 255)), "IP_TOS");
    }
  } else {
    SetIntOption(env, fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    SetIntOption(env, fd.get(), IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DONT, "IPV6_MTU_DISCOVER");
    SetIntOption(env, fd.get(), IPPROTO_IPV6, IPV6_DONTFRAG, 0, "IPV6_DONTFRAG");
    if (HasOption(opts, "ttl")) {
      uint32_t hops = OptionUint(opts, "ttl", 255);
      if (hops == 0) throw ArgRangeError(env, "opts.ttl must be an integer in 1..255");
      SetIntOption(env, fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, static_cast<int>(hops), "IPV6_UNICAST_HOPS");
    }
    if (HasOption(opts, "tos")) {
      SetIntOption(env, fd.get(), IPPROTO_IPV6, IPV6_TCLASS, static_cast<int>(OptionUint(opts, "tos", 255)),
                   "IPV6_TCLASS");
    }
  }

  if (HasOption(opts, "recvBufferSize")) {
    SetBuffer(env, fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, OptionUint(opts, "recvBufferSize", 0x7fffffff),
              "SO_RCVBUF");
  }
  if (HasOption(opts, "sendBufferSize")) {
    SetBuffer(env, fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, OptionUint(opts, "sendBufferSize", 0x7fffffff),
              "SO_SNDBUF");
  }

  unsigned int device_index = 0;
  if (HasOption(opts, "device")) {
    std::string device = OptionString(opts, "device");
    CheckIfName(env, device, "setsockopt");
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, device.c_str(),
                     static_cast<socklen_t>(device.size() + 1)) < 0) {
      throw ErrnoError(env, errno, "setsockopt", "SO_BINDTODEVICE " + device);
    }
    device_index = ::if_nametoindex(device.c_str());
  }

  if (HasOption(opts, "bindAddress")) {
    std::string address = OptionString(opts, "bindAddress");
    int rc;
    if (family == 4) {
      struct sockaddr_in sin;
      memset(&sin, 0, sizeof(sin));
      sin.sin_family = AF_INET;
      if (::inet_pton(AF_INET, address.c_str(), &sin.sin_addr) != 1) {
        throw ArgTypeError(env, "opts.bindAddress is not an IPv4 address: " + address);
      }
      rc = ::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&sin), sizeof(sin));
    } else {
      struct sockaddr_in6 sin6;
      memset(&sin6, 0, sizeof(sin6));
      sin6.sin6_family = AF_INET6;
      if (::inet_pton(AF_INET6, address.c_str(), &sin6.sin6_addr) != 1) {
        throw ArgTypeError(env, "opts.bindAddress is not an IPv6 address: " + address);
      }
      if (IN6_IS_ADDR_LINKLOCAL(&sin6.sin6_addr)) sin6.sin6_scope_id = device_index;
      rc = ::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&sin6), sizeof(sin6));
    }
    if (rc < 0) throw ErrnoError(env, errno, "bind", address);
  }

  if (HasOption(opts, "hdrincl")) {
    Napi::Value value = opts.Get("hdrincl");
    if (!value.IsBoolean()) throw ArgTypeError(env, "opts.hdrincl must be a boolean");
    // We send packets whose IP header we built (the keepalive reflector's replies).
    if (value.As<Napi::Boolean>().Value()) {
      if (family == 4) SetIntOption(env, fd.get(), IPPROTO_IP, IP_HDRINCL, 1, "IP_HDRINCL");
      else SetIntOption(env, fd.get(), IPPROTO_IPV6, IPV6_HDRINCL, 1, "IPV6_HDRINCL");
    }
  }

  bool eoip_filter = false;
  if (HasOption(opts, "eoipFilter")) {
    Napi::Value value = opts.Get("eoipFilter");
    if (!value.IsBoolean()) throw ArgTypeError(env, "opts.eoipFilter must be a boolean");
    eoip_filter = value.As<Napi::Boolean>().Value();
  }
  if (HasOption(opts, "maxLength")) {
    if (eoip_filter) throw ArgTypeError(env, "opts.maxLength and opts.eoipFilter cannot be combined");
    AttachMaxLengthFilter(env, fd.get(), OptionUint(opts, "maxLength", 65535));
  } else if (eoip_filter) {
    AttachFilter(env, fd.get(), static_cast<int>(family));
  }

  return Napi::Number::New(env, fd.release());
}

// close(fd)
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  // Linux releases the descriptor even when close() reports EINTR.
  if (::close(fd) < 0 && errno != EINTR) throw ErrnoError(info.Env(), errno, "close", FdSubject(fd));
  return info.Env().Undefined();
}

// peerCred(fd) -> { pid, uid, gid } of the peer of a connected unix socket.
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  struct ucred cred;
  socklen_t len = sizeof(cred);
  memset(&cred, 0, sizeof(cred));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    throw ErrnoError(env, errno, "getsockopt", "SO_PEERCRED");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

}  // namespace

void InitRawsock(Napi::Env env, Napi::Object exports) {
  exports.Set("rawOpen", Napi::Function::New(env, RawOpen, "rawOpen"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
}

}  // namespace greoip
