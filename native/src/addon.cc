// greoip native addon: a thin syscall layer (tap, raw sockets, link ioctls,
// route netlink, batched I/O, the libbpf loader) with no protocol logic. See native/README.md.
#include "common.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  greoip::InitTap(env, exports);
  greoip::InitLink(env, exports);
  greoip::InitRawsock(env, exports);
  greoip::InitBatch(env, exports);
  greoip::InitNetlink(env, exports);
  greoip::InitBpf(env, exports);
  greoip::InitNetns(env, exports);
  greoip::InitUnixDatagram(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(greoip, Init)
