// One datagram to a unix datagram socket by path (a leading '@' names an
// abstract socket), as sd_notify(3) sends to $NOTIFY_SOCKET: Node's dgram
// module has no AF_UNIX. The message text is the caller's business.
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>

#include "common.h"

namespace greoip {
namespace {

// unixDatagramSend(path, message: Buffer)
Napi::Value UnixDatagramSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  if (info.Length() < 2 || !info[1].IsBuffer()) throw ArgTypeError(env, "message must be a Buffer");
  Napi::Buffer<uint8_t> message = info[1].As<Napi::Buffer<uint8_t>>();

  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@'))
    throw ErrnoError(env, EINVAL, "sendto", path, "not an absolute path or @abstract name that fits sun_path");
  if (path.find('\0') != std::string::npos) throw ErrnoError(env, EINVAL, "sendto", "path", "contains a NUL byte");
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + (path[0] == '/' ? 1 : 0));

  FdGuard sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) throw ErrnoError(env, errno, "socket");
  ssize_t sent = ::sendto(sock.get(), message.Data(), message.Length(), MSG_NOSIGNAL,
                          reinterpret_cast<struct sockaddr*>(&addr), len);
  if (sent < 0) throw ErrnoError(env, errno, "sendto", path);
  return env.Undefined();
}

}  // namespace

void InitUnixDatagram(Napi::Env env, Napi::Object exports) {
  exports.Set("unixDatagramSend", Napi::Function::New(env, UnixDatagramSend, "unixDatagramSend"));
}

}  // namespace greoip
