// Raw IP sockets for the tunnel protocols (IPv4 protocol 47, IPv6 next header
// 97) with the kernel building the outer header and fragmenting, optional
// classic-BPF admission filters and their eBPF twin that counts what it drops;
// plus close() and SO_PEERCRED.
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

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

// --- the counting admission filter ------------------------------------------
//
// The same admission as kEoip4Filter/kEoip6Filter, as an eBPF socket filter
// that adds one to a per-CPU counter for each packet it drops, by reason, so
// the daemon can show what never reached it. The reasons are the datapath's
// DropReason values (src/eoip/datapath.ts) for what the filter can see.
constexpr uint32_t kDropBadIpHeader = 0;
constexpr uint32_t kDropFragment = 1;
constexpr uint32_t kDropNotEoip = 2;
constexpr uint32_t kDropTruncated = 3;
constexpr uint32_t kFilterReasons = 4;

constexpr uint8_t kR0 = 0, kR1 = 1, kR2 = 2, kR6 = 6, kR7 = 7, kR8 = 8, kR9 = 9, kR10 = 10;

// A tiny assembler: instructions, and forward jumps to the one "count" label.
class FilterAsm {
 public:
  void Emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    struct bpf_insn insn;
    memset(&insn, 0, sizeof(insn));
    insn.code = code;
    insn.dst_reg = dst;
    insn.src_reg = src;
    insn.off = off;
    insn.imm = imm;
    code_.push_back(insn);
  }
  void Mov(uint8_t dst, uint8_t src) { Emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void MovImm(uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void AluImm(uint8_t op, uint8_t dst, int32_t imm) { Emit(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm); }
  // r0 = packet bytes at `off` (network order, as classic BPF); r1-r5 are clobbered.
  void LoadAbs(uint8_t size, int32_t off) { Emit(BPF_LD | BPF_ABS | size, 0, 0, 0, off); }
  void LoadInd(uint8_t size, uint8_t reg, int32_t off) { Emit(BPF_LD | BPF_IND | size, 0, reg, 0, off); }
  void LoadSkbLen(uint8_t dst) {
    Emit(BPF_LDX | BPF_MEM | BPF_W, dst, kR6, static_cast<int16_t>(offsetof(struct __sk_buff, len)), 0);
  }
  // Drop with `reason` unless the condition is false.
  void CountIfImm(uint8_t op, uint8_t reg, int32_t imm, uint32_t reason) {
    MovImm(kR8, static_cast<int32_t>(reason));
    jumps_.push_back(code_.size());
    Emit(BPF_JMP | op | BPF_K, reg, 0, 0, imm);
  }
  void CountIfReg(uint8_t op, uint8_t reg, uint8_t other, uint32_t reason) {
    MovImm(kR8, static_cast<int32_t>(reason));
    jumps_.push_back(code_.size());
    Emit(BPF_JMP | op | BPF_X, reg, other, 0, 0);
  }
  void Accept() {
    Emit(BPF_ALU | BPF_MOV | BPF_K, kR0, 0, 0, -1);  // keep the whole packet
    Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  }
  // count: counters[r8] += 1 (this CPU's slot), drop.
  std::vector<struct bpf_insn> Finish(int map_fd) {
    const size_t label = code_.size();
    for (size_t at : jumps_) code_[at].off = static_cast<int16_t>(label - at - 1);
    Emit(BPF_STX | BPF_MEM | BPF_W, kR10, kR8, -4, 0);
    Mov(kR2, kR10);
    AluImm(BPF_ADD, kR2, -4);
    Emit(BPF_LD | BPF_DW | BPF_IMM, kR1, BPF_PSEUDO_MAP_FD, 0, map_fd);
    Emit(0, 0, 0, 0, 0);
    Emit(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
    Emit(BPF_JMP | BPF_JEQ | BPF_K, kR0, 0, 3, 0);
    Emit(BPF_LDX | BPF_MEM | BPF_DW, kR1, kR0, 0, 0);
    AluImm(BPF_ADD, kR1, 1);
    Emit(BPF_STX | BPF_MEM | BPF_DW, kR0, kR1, 0, 0);
    MovImm(kR0, 0);
    Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    return code_;
  }

 private:
  std::vector<struct bpf_insn> code_;
  std::vector<size_t> jumps_;
};

// IPv4 (the socket sees the IPv4 header): the datapath's own header checks,
// then the EoIP magic behind the header.
std::vector<struct bpf_insn> CountingFilter4(int map_fd) {
  FilterAsm a;
  a.Mov(kR6, kR1);  // LD_ABS/LD_IND take the skb from r6
  a.LoadSkbLen(kR9);
  a.CountIfImm(BPF_JLT, kR9, 20, kDropBadIpHeader);
  a.LoadAbs(BPF_B, 0);
  a.Mov(kR7, kR0);
  a.AluImm(BPF_AND, kR7, 0x0f);
  a.AluImm(BPF_LSH, kR7, 2);  // r7 = header length
  a.AluImm(BPF_RSH, kR0, 4);
  a.CountIfImm(BPF_JNE, kR0, 4, kDropBadIpHeader);
  a.CountIfImm(BPF_JLT, kR7, 20, kDropBadIpHeader);
  a.LoadAbs(BPF_H, 2);  // total length
  a.CountIfReg(BPF_JLT, kR0, kR7, kDropBadIpHeader);
  a.CountIfReg(BPF_JGT, kR0, kR9, kDropBadIpHeader);
  a.Mov(kR9, kR0);  // r9 = total length
  a.LoadAbs(BPF_H, 6);
  a.AluImm(BPF_AND, kR0, 0x3fff);  // more-fragments flag and offset
  a.CountIfImm(BPF_JNE, kR0, 0, kDropFragment);
  a.Mov(kR0, kR7);
  a.AluImm(BPF_ADD, kR0, 4);
  a.CountIfReg(BPF_JLT, kR9, kR0, kDropNotEoip);  // no room for the magic
  a.LoadInd(BPF_W, kR7, 0);
  a.CountIfImm(BPF_JNE, kR0, 0x20016400, kDropNotEoip);
  a.Accept();
  return a.Finish(map_fd);
}

// IPv6 (the socket sees the payload): at least the 2-byte header, version 3.
std::vector<struct bpf_insn> CountingFilter6(int map_fd) {
  FilterAsm a;
  a.Mov(kR6, kR1);
  a.LoadSkbLen(kR9);
  a.CountIfImm(BPF_JLT, kR9, 2, kDropTruncated);
  a.LoadAbs(BPF_B, 0);
  a.AluImm(BPF_AND, kR0, 0x0f);
  a.CountIfImm(BPF_JNE, kR0, 3, kDropNotEoip);
  a.Accept();
  return a.Finish(map_fd);
}

long Bpf(int cmd, union bpf_attr* attr) { return ::syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

// Possible CPUs, as the kernel sizes per-CPU map values ("0-1", "0,2-3").
unsigned PossibleCpus() {
  FILE* f = ::fopen("/sys/devices/system/cpu/possible", "re");
  if (f == nullptr) return 1;
  unsigned count = 0;
  unsigned lo = 0;
  unsigned hi = 0;
  char sep = 0;
  while (::fscanf(f, "%u", &lo) == 1) {
    hi = lo;
    if (::fscanf(f, "%c", &sep) == 1 && sep == '-' && ::fscanf(f, "%u%c", &hi, &sep) < 1) break;
    count += hi - lo + 1;
    if (sep != ',') break;
  }
  ::fclose(f);
  return count == 0 ? 1 : count;
}

// rawAttachCountingFilter(fd, family) -> counters fd. Replaces the socket's
// filter (no unfiltered window: SO_ATTACH_BPF swaps it in one step).
Napi::Value RawAttachCountingFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  uint32_t family = ArgUint32(info, 1, "family", 4, 6);
  if (family != 4 && family != 6) throw ArgRangeError(env, "The \"family\" argument must be 4 or 6");
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_PERCPU_ARRAY;
  attr.key_size = sizeof(uint32_t);
  attr.value_size = sizeof(uint64_t);
  attr.max_entries = kFilterReasons;
  int map = static_cast<int>(Bpf(BPF_MAP_CREATE, &attr));
  if (map < 0) throw ErrnoError(env, errno, "bpf", "BPF_MAP_CREATE");
  FdGuard map_fd(map);
  std::vector<struct bpf_insn> code = family == 4 ? CountingFilter4(map) : CountingFilter6(map);
  static const char kLicense[] = "GPL";
  std::vector<char> log(16384);
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = reinterpret_cast<uint64_t>(code.data());
  attr.insn_cnt = static_cast<uint32_t>(code.size());
  attr.license = reinterpret_cast<uint64_t>(kLicense);
  attr.log_buf = reinterpret_cast<uint64_t>(log.data());
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_level = 1;
  int prog = static_cast<int>(Bpf(BPF_PROG_LOAD, &attr));
  if (prog < 0) {
    int err = errno;
    log.back() = 0;
    const std::string why = std::string(strerror(err)) + (log[0] != 0 ? std::string(": ") + log.data() : "");
    throw ErrnoError(env, err, "bpf", "BPF_PROG_LOAD", why.c_str());
  }
  FdGuard prog_fd(prog);
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof(prog)) < 0) {
    throw ErrnoError(env, errno, "setsockopt", "SO_ATTACH_BPF");
  }
  return Napi::Number::New(env, map_fd.release());  // the socket holds the program
}

// rawFilterDrops(countersFd) -> [bad_ip_header, fragment, not_eoip, truncated], summed over CPUs.
Napi::Value RawFilterDrops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int map = ArgFd(info, 0);
  static const unsigned cpus = PossibleCpus();
  std::vector<uint64_t> values(cpus);
  Napi::Array out = Napi::Array::New(env, kFilterReasons);
  for (uint32_t key = 0; key < kFilterReasons; ++key) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = static_cast<uint32_t>(map);
    attr.key = reinterpret_cast<uint64_t>(&key);
    attr.value = reinterpret_cast<uint64_t>(values.data());
    if (Bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0) throw ErrnoError(env, errno, "bpf", "BPF_MAP_LOOKUP_ELEM");
    double sum = 0;
    for (uint64_t v : values) sum += static_cast<double>(v);
    out.Set(key, Napi::Number::New(env, sum));
  }
  return out;
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
  exports.Set("rawAttachCountingFilter",
              Napi::Function::New(env, RawAttachCountingFilter, "rawAttachCountingFilter"));
  exports.Set("rawFilterDrops", Napi::Function::New(env, RawFilterDrops, "rawFilterDrops"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
}

}  // namespace greoip
