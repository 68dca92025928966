// BatchIo: batched receive (recvmmsg or a read() loop) into one preallocated
// buffer, driven by a libuv poll handle so JavaScript is entered once per
// batch, and batched send (sendmmsg or a write() loop).
#include <malloc.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "common.h"

namespace greoip {
namespace {

constexpr uint32_t kMaxSlots = 1024;             // UIO_MAXIOV: recvmmsg's own cap
constexpr uint32_t kMaxSlotSize = 1u << 20;      // far above any frame or datagram
constexpr uint64_t kMaxRxBytes = 256ull << 20;   // one receive area at most
constexpr unsigned kMaxBatchesPerWake = 16;      // then yield to the event loop
constexpr size_t kAddrBytes = 16;                // per-message address slot
constexpr size_t kControlBytes = 64;             // >= CMSG_SPACE(sizeof(in6_pktinfo))

enum class Kind { kIp4, kIp6, kTap };

struct Stats {
  double rx_batches = 0;
  double rx_packets = 0;
  double rx_errors = 0;
  double rx_truncated = 0;
  double tx_packets = 0;
  double tx_errors = 0;
  double tx_dropped = 0;
};

bool IsTransientSendError(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

constexpr uint32_t kListBuffers = 4;         // buffers one SendList's pieces may lie in
constexpr uint32_t kMaxPiecesPerMessage = 1024;  // IOV_MAX
constexpr uint32_t kMaxListPieces = 1u << 16;
const napi_type_tag kSendListTag = {0x6772656f69707365ull, 0x6e646c6973743031ull};

// SendList: messages made of pieces (scatter-gather), described in typed arrays that JS fills in
// place and hands over by count, so a send converts no arguments per message. Piece p lies in
// buffer pieceBuf[p] at pieceOff[p], pieceLen[p] bytes; message i is pieces [msgEnd[i-1], msgEnd[i])
// (from 0 for i = 0), sent to the 16-byte address dsts[i * 16..] (sockets). Buffers are bound once
// with setBuffer; every send checks every piece against its buffer.
class SendList : public Napi::ObjectWrap<SendList> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SendList", {InstanceMethod<&SendList::SetBuffer>("setBuffer")});
  }

  // new SendList(maxMessages, maxPieces)
  explicit SendList(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SendList>(info) {
    Napi::Env env = info.Env();
    max_messages_ = ArgUint32(info, 0, "maxMessages", 1, kMaxSlots);
    max_pieces_ = ArgUint32(info, 1, "maxPieces", 1, kMaxListPieces);
    Napi::Uint8Array piece_buf = Napi::Uint8Array::New(env, max_pieces_);
    Napi::Uint32Array piece_off = Napi::Uint32Array::New(env, max_pieces_);
    Napi::Uint32Array piece_len = Napi::Uint32Array::New(env, max_pieces_);
    Napi::Uint32Array msg_end = Napi::Uint32Array::New(env, max_messages_);
    Napi::Uint8Array dsts = Napi::Uint8Array::New(env, static_cast<size_t>(max_messages_) * kAddrBytes);
    piece_buf_ = piece_buf.Data();
    piece_off_ = piece_off.Data();
    piece_len_ = piece_len.Data();
    msg_end_ = msg_end.Data();
    dsts_ = dsts.Data();
    Napi::Object self = info.This().As<Napi::Object>();
    if (napi_type_tag_object(env, self, &kSendListTag) != napi_ok) throw Napi::Error::New(env, "SendList: type tag");
    self.DefineProperties({
        Napi::PropertyDescriptor::Value("pieceBuf", piece_buf, napi_enumerable),
        Napi::PropertyDescriptor::Value("pieceOff", piece_off, napi_enumerable),
        Napi::PropertyDescriptor::Value("pieceLen", piece_len, napi_enumerable),
        Napi::PropertyDescriptor::Value("msgEnd", msg_end, napi_enumerable),
        Napi::PropertyDescriptor::Value("dsts", dsts, napi_enumerable),
    });
    arrays_[0] = Napi::Persistent(piece_buf.As<Napi::Object>());
    arrays_[1] = Napi::Persistent(piece_off.As<Napi::Object>());
    arrays_[2] = Napi::Persistent(piece_len.As<Napi::Object>());
    arrays_[3] = Napi::Persistent(msg_end.As<Napi::Object>());
    arrays_[4] = Napi::Persistent(dsts.As<Napi::Object>());
    iov_.resize(max_pieces_);
  }

  // setBuffer(index, buf): pieces with pieceBuf = index lie in buf from now on.
  Napi::Value SetBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t index = ArgUint32(info, 0, "index", 0, kListBuffers - 1);
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw ArgTypeError(env, "The \"buf\" argument must be a Buffer or Uint8Array");
    }
    Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
    buffers_[index].data = buf.Data();
    buffers_[index].size = buf.ByteLength();
    buffers_[index].ref = Napi::Persistent(buf.As<Napi::Object>());
    return env.Undefined();
  }

  // The SendList behind a JS value, or a TypeError.
  static SendList* From(Napi::Env env, Napi::Value value) {
    bool tagged = false;
    if (value.IsObject()) napi_check_object_type_tag(env, value, &kSendListTag, &tagged);
    if (!tagged) throw ArgTypeError(env, "The \"list\" argument must be a SendList");
    return Unwrap(value.As<Napi::Object>());
  }

  // Checks messages [0, count) and fills the iovecs of their pieces; throws a RangeError naming
  // the first bad message.
  void Prepare(Napi::Env env, uint32_t count) {
    if (count > max_messages_) throw ArgRangeError(env, "count exceeds the list's messages");
    uint32_t start = 0;
    for (uint32_t i = 0; i < count; ++i) {
      const uint32_t end = msg_end_[i];
      if (end <= start || end > max_pieces_ || end - start > kMaxPiecesPerMessage) {
        throw ArgRangeError(env, "message " + std::to_string(i) + " has no pieces, too many, or ends before it starts");
      }
      for (uint32_t p = start; p < end; ++p) {
        const uint32_t b = piece_buf_[p];
        if (b >= kListBuffers || buffers_[b].data == nullptr ||
            static_cast<uint64_t>(piece_off_[p]) + piece_len_[p] > buffers_[b].size) {
          throw ArgRangeError(env, "piece " + std::to_string(p) + " of message " + std::to_string(i) +
                                       " lies outside its buffer");
        }
        iov_[p].iov_base = buffers_[b].data + piece_off_[p];
        iov_[p].iov_len = piece_len_[p];
      }
      start = end;
    }
  }

  struct iovec* Iov(uint32_t piece) { return &iov_[piece]; }
  uint32_t Start(uint32_t message) const { return message == 0 ? 0 : msg_end_[message - 1]; }
  uint32_t End(uint32_t message) const { return msg_end_[message]; }
  const uint8_t* Dst(uint32_t message) const { return dsts_ + static_cast<size_t>(message) * kAddrBytes; }

 private:
  struct Bound {
    uint8_t* data = nullptr;
    size_t size = 0;
    Napi::ObjectReference ref;
  };
  uint32_t max_messages_ = 0;
  uint32_t max_pieces_ = 0;
  uint8_t* piece_buf_ = nullptr;
  uint32_t* piece_off_ = nullptr;
  uint32_t* piece_len_ = nullptr;
  uint32_t* msg_end_ = nullptr;
  uint8_t* dsts_ = nullptr;
  Napi::ObjectReference arrays_[5];
  Bound buffers_[kListBuffers];
  std::vector<struct iovec> iov_;
};

class BatchIo : public Napi::ObjectWrap<BatchIo> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BatchIo",
                       {
                           InstanceMethod<&BatchIo::Start>("start"),
                           InstanceMethod<&BatchIo::Stop>("stop"),
                           InstanceMethod<&BatchIo::Close>("close"),
                           InstanceMethod<&BatchIo::Send>("send"),
                           InstanceMethod<&BatchIo::SendFromList>("sendList"),
                           InstanceMethod<&BatchIo::GetStats>("stats"),
                       });
  }

  // new BatchIo(fd, kind, slots, slotSize, onBatch[, onError[, area[, headroom]]]): each message
  // is received at `headroom` bytes into its slot (room to put a header in front of it in place).
  explicit BatchIo(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BatchIo>(info) {
    Napi::Env env = info.Env();
    fd_ = ArgFd(info, 0);
    std::string kind = ArgString(info, 1, "kind");
    if (kind == "ip4") {
      kind_ = Kind::kIp4;
    } else if (kind == "ip6") {
      kind_ = Kind::kIp6;
    } else if (kind == "tap") {
      kind_ = Kind::kTap;
    } else if (kind == "tap-vnet") {
      kind_ = Kind::kTap;
      vnet_hdr_ = true;
    } else {
      throw ArgRangeError(env, "The \"kind\" argument must be 'ip4', 'ip6', 'tap' or 'tap-vnet'");
    }
    slots_ = ArgUint32(info, 2, "slots", 1, kMaxSlots);
    slot_size_ = ArgUint32(info, 3, "slotSize", 1, kMaxSlotSize);
    if (static_cast<uint64_t>(slots_) * slot_size_ > kMaxRxBytes) {
      throw ArgRangeError(env, "slots * slotSize must be at most " + std::to_string(kMaxRxBytes) + " bytes");
    }
    if (info.Length() < 5 || !info[4].IsFunction()) {
      throw ArgTypeError(env, "The \"onBatch\" argument must be a function");
    }
    on_batch_ = Napi::Persistent(info[4].As<Napi::Function>());
    if (info.Length() > 5 && !info[5].IsUndefined()) {
      if (!info[5].IsFunction()) throw ArgTypeError(env, "The \"onError\" argument must be a function");
      on_error_ = Napi::Persistent(info[5].As<Napi::Function>());
    }
    async_context_ = std::make_unique<Napi::AsyncContext>(env, "greoip:BatchIo");

    if (info.Length() > 7 && !info[7].IsUndefined()) headroom_ = ArgUint32(info, 7, "headroom", 0, slot_size_ - 1);
    Napi::Object area;
    if (info.Length() > 6 && !info[6].IsUndefined()) {
      // Another port's area (taps of one process take turns in one area: a
      // batch is consumed in onBatch before the next poll callback runs).
      if (!info[6].IsObject()) throw ArgTypeError(env, "The \"area\" argument must be an object from batchArea()");
      area = info[6].As<Napi::Object>();
      CheckArea(env, area, slots_, slot_size_);
    } else {
      area = NewArea(env, slots_, slot_size_);
      owns_area_ = true;
    }
    Napi::Uint8Array rx_buffer = area.Get("rxBuffer").As<Napi::Uint8Array>();
    Napi::Uint32Array rx_lengths = area.Get("rxLengths").As<Napi::Uint32Array>();
    Napi::Uint8Array rx_src = area.Get("rxSrc").As<Napi::Uint8Array>();
    Napi::Uint8Array rx_dst = area.Get("rxDst").As<Napi::Uint8Array>();
    rx_bytes_ = static_cast<size_t>(slots_) * slot_size_;
    rx_data_ = rx_buffer.Data();
    rx_lengths_ = rx_lengths.Data();
    rx_src_ = rx_src.Data();
    rx_dst_ = rx_dst.Data();
    rx_refs_[0] = Napi::Persistent(rx_buffer.As<Napi::Object>());
    rx_refs_[1] = Napi::Persistent(rx_lengths.As<Napi::Object>());
    rx_refs_[2] = Napi::Persistent(rx_src.As<Napi::Object>());
    rx_refs_[3] = Napi::Persistent(rx_dst.As<Napi::Object>());
    Napi::Object self = info.This().As<Napi::Object>();
    self.DefineProperties({
        Napi::PropertyDescriptor::Value("rxBuffer", rx_buffer, napi_enumerable),
        Napi::PropertyDescriptor::Value("rxLengths", rx_lengths, napi_enumerable),
        Napi::PropertyDescriptor::Value("rxSrc", rx_src, napi_enumerable),
        Napi::PropertyDescriptor::Value("rxDst", rx_dst, napi_enumerable),
    });

    if (kind_ != Kind::kTap) {
      rx_msgs_.resize(slots_);
      rx_iov_.resize(slots_);
      rx_names_.resize(slots_);
      if (kind_ == Kind::kIp6) rx_control_.resize(slots_ * kControlBytes / sizeof(uint64_t));
      for (uint32_t i = 0; i < slots_; ++i) {
        rx_iov_[i].iov_base = rx_data_ + static_cast<size_t>(i) * slot_size_ + headroom_;
        rx_iov_[i].iov_len = slot_size_ - headroom_;
        struct msghdr& hdr = rx_msgs_[i].msg_hdr;
        memset(&hdr, 0, sizeof(hdr));
        hdr.msg_name = &rx_names_[i];
        hdr.msg_iov = &rx_iov_[i];
        hdr.msg_iovlen = 1;
        if (kind_ == Kind::kIp6) hdr.msg_control = reinterpret_cast<uint8_t*>(rx_control_.data()) + i * kControlBytes;
      }
    }
  }

  ~BatchIo() override { ReleasePoll(); }

  // A receive area and its side tables, allocated once and shared with JS.
  // The area is its own mapping: pages cost memory only once a frame lands
  // in them, and the mapping goes with the Buffer's finalizer. (A malloc'ed
  // area would come back from the heap for the next tunnel zero-filled, and
  // so resident, whether used or not.)
  static Napi::Object NewArea(Napi::Env env, uint32_t slots, uint32_t slot_size) {
    const size_t bytes = static_cast<size_t>(slots) * slot_size;
    void* data = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) throw ErrnoError(env, errno, "mmap", "BatchIo receive area");
    Napi::Object area = Napi::Object::New(env);
    area.Set("rxBuffer", Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(data), bytes,
                                                    [bytes](Napi::Env, uint8_t* p) { ::munmap(p, bytes); }));
    area.Set("rxLengths", Napi::Uint32Array::New(env, slots));
    area.Set("rxSrc", Napi::Uint8Array::New(env, slots * kAddrBytes));
    area.Set("rxDst", Napi::Uint8Array::New(env, slots * kAddrBytes));
    return area;
  }

  static void CheckArea(Napi::Env env, Napi::Object area, uint32_t slots, uint32_t slot_size) {
    auto bytes = [&](const char* key, napi_typedarray_type type) -> size_t {
      Napi::Value v = area.Get(key);
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
        throw ArgTypeError(env, std::string("area.") + key + " is missing or of the wrong type");
      }
      return v.As<Napi::TypedArray>().ByteLength();
    };
    if (bytes("rxBuffer", napi_uint8_array) < static_cast<size_t>(slots) * slot_size ||
        bytes("rxLengths", napi_uint32_array) < slots * sizeof(uint32_t) ||
        bytes("rxSrc", napi_uint8_array) < slots * kAddrBytes || bytes("rxDst", napi_uint8_array) < slots * kAddrBytes) {
      throw ArgRangeError(env, "area is smaller than slots * slotSize");
    }
  }

  // batchArea(slots, slotSize) -> { rxBuffer, rxLengths, rxSrc, rxDst }
  static Napi::Value CreateArea(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t slots = ArgUint32(info, 0, "slots", 1, kMaxSlots);
    uint32_t slot_size = ArgUint32(info, 1, "slotSize", 1, kMaxSlotSize);
    if (static_cast<uint64_t>(slots) * slot_size > kMaxRxBytes) {
      throw ArgRangeError(env, "slots * slotSize must be at most " + std::to_string(kMaxRxBytes) + " bytes");
    }
    return NewArea(env, slots, slot_size);
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw ErrnoError(env, EBADF, "start", "", "BatchIo is closed");
    if (polling_) return env.Undefined();
    if (poll_ == nullptr) {
      uv_loop_t* loop = nullptr;
      if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
        throw Napi::Error::New(env, "BatchIo.start: no libuv loop");
      }
      auto* poll = new uv_poll_t;
      int rc = uv_poll_init(loop, poll, fd_);
      if (rc < 0) {
        delete poll;
        throw UvError(env, rc, "uv_poll_init");
      }
      poll->data = this;
      poll_ = poll;
    }
    int rc = uv_poll_start(poll_, UV_READABLE, OnPoll);
    if (rc < 0) throw UvError(env, rc, "uv_poll_start");
    polling_ = true;
    Ref();  // a polling BatchIo stays alive like any active handle
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopPolling();
    ReleasePoll();
    if (fd_ >= 0) {
      ::close(fd_);  // Linux frees the descriptor even on EINTR
      fd_ = -1;
    }
    if (!closed_) {
      // The pages go back now; JS may still hold rxBuffer (reads give zeros).
      if (owns_area_) ::madvise(rx_data_, rx_bytes_, MADV_DONTNEED);
      // The callback's closure usually holds this object's JS wrapper: as a
      // strong reference it would keep the whole tunnel alive forever.
      on_batch_.Reset();
      on_error_.Reset();
      for (auto& ref : rx_refs_) ref.Reset();
    }
    closed_ = true;
    return info.Env().Undefined();
  }

  // send(buf, offsets, lengths, dsts, count) -> messages handed to the kernel
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw ErrnoError(env, EBADF, "send", "", "BatchIo is closed");
    if (info.Length() < 5) throw ArgTypeError(env, "send(buf, offsets, lengths, dsts, count) takes 5 arguments");
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw ArgTypeError(env, "The \"buf\" argument must be a Buffer or Uint8Array");
    }
    Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
    Napi::Uint32Array offsets = Uint32ArrayArg(info, 1, "offsets");
    Napi::Uint32Array lengths = Uint32ArrayArg(info, 2, "lengths");
    uint32_t count = ArgUint32(info, 4, "count", 0, 0x7fffffff);
    if (count > offsets.ElementLength() || count > lengths.ElementLength()) {
      throw ArgRangeError(env, "count exceeds the offsets or lengths array");
    }
    const uint8_t* data = buf.Data();
    const size_t size = buf.ByteLength();
    const uint32_t* offs = offsets.Data();
    const uint32_t* lens = lengths.Data();
    for (uint32_t i = 0; i < count; ++i) {
      if (static_cast<uint64_t>(offs[i]) + lens[i] > size) {
        throw ArgRangeError(env, "message " + std::to_string(i) + " lies outside buf");
      }
    }
    const uint8_t* dsts = nullptr;
    if (kind_ != Kind::kTap) {
      if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw ArgTypeError(env, "The \"dsts\" argument must be a Uint8Array");
      }
      Napi::Uint8Array dst_array = info[3].As<Napi::Uint8Array>();
      if (dst_array.ByteLength() < static_cast<size_t>(count) * kAddrBytes) {
        throw ArgRangeError(env, "dsts must hold 16 bytes per message");
      }
      dsts = dst_array.Data();
    }
    if (count == 0) return Napi::Number::New(env, 0);
    uint32_t sent = kind_ == Kind::kTap ? SendTap(env, data, offs, lens, count)
                                        : SendSocket(env, data, offs, lens, dsts, count);
    return Napi::Number::New(env, sent);
  }

  // sendList(list, count) -> messages handed to the kernel: messages [0, count) of a SendList,
  // with send()'s return and error semantics. Sockets: one sendmmsg per call; taps: one writev
  // per message (its pieces are the whole frame, virtio_net_hdr included on a tap-vnet).
  Napi::Value SendFromList(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) throw ErrnoError(env, EBADF, "send", "", "BatchIo is closed");
    SendList* list = SendList::From(env, info[0]);
    uint32_t count = ArgUint32(info, 1, "count", 0, kMaxSlots);
    list->Prepare(env, count);
    if (count == 0) return Napi::Number::New(env, 0);
    uint32_t sent = kind_ == Kind::kTap ? WriteListTap(env, list, count) : SendListSocket(env, list, count);
    return Napi::Number::New(env, sent);
  }

  uint32_t SendListSocket(Napi::Env env, SendList* list, uint32_t count) {
    if (tx_msgs_.size() < count) {
      tx_msgs_.resize(count);
      tx_iov_.resize(count);
      tx_names_.resize(count);
    }
    for (uint32_t i = 0; i < count; ++i) {
      FillName(i, list->Dst(i));
      struct msghdr& hdr = tx_msgs_[i].msg_hdr;
      memset(&hdr, 0, sizeof(hdr));
      hdr.msg_name = &tx_names_[i];
      hdr.msg_namelen = kind_ == Kind::kIp4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
      hdr.msg_iov = list->Iov(list->Start(i));
      hdr.msg_iovlen = list->End(i) - list->Start(i);
    }
    return SendMessages(env, count);
  }

  uint32_t WriteListTap(Napi::Env env, SendList* list, uint32_t count) {
    uint32_t sent = 0;
    while (sent < count) {
      const uint32_t start = list->Start(sent);
      ssize_t n = ::writev(fd_, list->Iov(start), static_cast<int>(list->End(sent) - start));
      if (n >= 0) {
        ++sent;
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      StopSending(env, err, sent, count, "writev");
      break;
    }
    stats_.tx_packets += sent;
    return sent;
  }

  // tx_names_[i] = the address at dst (ip4: its first 4 bytes).
  void FillName(uint32_t i, const uint8_t* dst) {
    struct sockaddr_in6& name6 = tx_names_[i];
    memset(&name6, 0, sizeof(name6));
    if (kind_ == Kind::kIp4) {
      auto* name4 = reinterpret_cast<struct sockaddr_in*>(&name6);
      name4->sin_family = AF_INET;
      memcpy(&name4->sin_addr, dst, 4);
    } else {
      name6.sin6_family = AF_INET6;
      memcpy(&name6.sin6_addr, dst, 16);
    }
  }

  // sendmmsg of tx_msgs_[0, count) until all went or one failed (see StopSending).
  uint32_t SendMessages(Napi::Env env, uint32_t count) {
    uint32_t sent = 0;
    while (sent < count) {
      int n = ::sendmmsg(fd_, tx_msgs_.data() + sent, count - sent, MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<uint32_t>(n);
        continue;
      }
      int err = n < 0 ? errno : EAGAIN;
      if (err == EINTR) continue;
      StopSending(env, err, sent, count, "sendmmsg");
      break;
    }
    stats_.tx_packets += sent;
    return sent;
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("rxBatches", Napi::Number::New(env, stats_.rx_batches));
    out.Set("rxPackets", Napi::Number::New(env, stats_.rx_packets));
    out.Set("rxErrors", Napi::Number::New(env, stats_.rx_errors));
    out.Set("rxTruncated", Napi::Number::New(env, stats_.rx_truncated));
    out.Set("txPackets", Napi::Number::New(env, stats_.tx_packets));
    out.Set("txErrors", Napi::Number::New(env, stats_.tx_errors));
    out.Set("txDropped", Napi::Number::New(env, stats_.tx_dropped));
    return out;
  }

  static Napi::Uint32Array Uint32ArrayArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
    if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      throw ArgTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a Uint32Array");
    }
    return info[index].As<Napi::Uint32Array>();
  }

  // Socket send: one sendmmsg per call of up to UIO_MAXIOV messages. The first
  // message's error is thrown; an error after progress ends the call early and
  // is met again (and thrown) when the caller resends the rest.
  uint32_t SendSocket(Napi::Env env, const uint8_t* data, const uint32_t* offs, const uint32_t* lens,
                      const uint8_t* dsts, uint32_t count) {
    if (tx_msgs_.size() < count) {
      tx_msgs_.resize(count);
      tx_iov_.resize(count);
      tx_names_.resize(count);
    }
    const bool v4 = kind_ == Kind::kIp4;
    for (uint32_t i = 0; i < count; ++i) {
      FillName(i, dsts + i * kAddrBytes);
      tx_iov_[i].iov_base = const_cast<uint8_t*>(data + offs[i]);
      tx_iov_[i].iov_len = lens[i];
      struct msghdr& hdr = tx_msgs_[i].msg_hdr;
      memset(&hdr, 0, sizeof(hdr));
      hdr.msg_name = &tx_names_[i];
      hdr.msg_namelen = v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
      hdr.msg_iov = &tx_iov_[i];
      hdr.msg_iovlen = 1;
    }
    return SendMessages(env, count);
  }

  // How a send loop ends on an error other than EINTR: a full queue drops the
  // rest (counted); any other error after some messages went out ends the
  // batch short (resending the rest shows it); on the first message it throws.
  void StopSending(Napi::Env env, int err, uint32_t sent, uint32_t count, const char* syscall) {
    if (IsTransientSendError(err)) {
      stats_.tx_dropped += count - sent;
      return;
    }
    if (sent > 0) return;
    stats_.tx_errors += 1;
    throw ErrnoError(env, err, syscall, FdSubject(fd_));
  }

  // Tap send: one write() per frame, same return and error semantics. A
  // tap-vnet frame gets a zero virtio_net_hdr in front (no GSO, checksum
  // left to the kernel), written in the same call.
  uint32_t SendTap(Napi::Env env, const uint8_t* data, const uint32_t* offs, const uint32_t* lens, uint32_t count) {
    static const uint8_t kPlainVnetHdr[10] = {0};
    uint32_t sent = 0;
    while (sent < count) {
      struct iovec iov[2];
      iov[0].iov_base = const_cast<uint8_t*>(kPlainVnetHdr);
      iov[0].iov_len = sizeof(kPlainVnetHdr);
      iov[1].iov_base = const_cast<uint8_t*>(data + offs[sent]);
      iov[1].iov_len = lens[sent];
      ssize_t n = vnet_hdr_ ? ::writev(fd_, iov, 2) : ::write(fd_, data + offs[sent], lens[sent]);
      if (n >= 0) {
        ++sent;
        continue;
      }
      int err = errno;
      if (err == EINTR) continue;
      StopSending(env, err, sent, count, "write");
      break;
    }
    stats_.tx_packets += sent;
    return sent;
  }

  // One recvmmsg into every slot; returns the number of messages (0 = none).
  uint32_t ReceiveSocket() {
    const bool v6 = kind_ == Kind::kIp6;
    for (uint32_t i = 0; i < slots_; ++i) {
      struct msghdr& hdr = rx_msgs_[i].msg_hdr;
      hdr.msg_namelen = sizeof(struct sockaddr_in6);
      hdr.msg_controllen = v6 ? kControlBytes : 0;
      hdr.msg_flags = 0;
    }
    int n;
    do {
      n = ::recvmmsg(fd_, rx_msgs_.data(), slots_, MSG_DONTWAIT, nullptr);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) stats_.rx_errors += 1;
      return 0;
    }
    for (int i = 0; i < n; ++i) {
      const struct msghdr& hdr = rx_msgs_[i].msg_hdr;
      const uint32_t len = std::min(rx_msgs_[i].msg_len, slot_size_ - headroom_);
      rx_lengths_[i] = len;
      if (hdr.msg_flags & MSG_TRUNC) stats_.rx_truncated += 1;
      uint8_t* src = rx_src_ + i * kAddrBytes;
      uint8_t* dst = rx_dst_ + i * kAddrBytes;
      memset(src, 0, kAddrBytes);
      memset(dst, 0, kAddrBytes);
      if (!v6) {
        const auto* sin = reinterpret_cast<const struct sockaddr_in*>(&rx_names_[i]);
        if (hdr.msg_namelen >= sizeof(struct sockaddr_in) && sin->sin_family == AF_INET) {
          memcpy(src, &sin->sin_addr, 4);
        }
        // The IPv4 header is part of the data: its destination is at 16..19.
        if (len >= 20) memcpy(dst, rx_data_ + static_cast<size_t>(i) * slot_size_ + headroom_ + 16, 4);
        continue;
      }
      if (hdr.msg_namelen >= sizeof(struct sockaddr_in6) && rx_names_[i].sin6_family == AF_INET6) {
        memcpy(src, &rx_names_[i].sin6_addr, 16);
      }
      for (struct cmsghdr* cm = CMSG_FIRSTHDR(const_cast<struct msghdr*>(&hdr)); cm != nullptr;
           cm = CMSG_NXTHDR(const_cast<struct msghdr*>(&hdr), cm)) {
        if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO &&
            cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
          struct in6_pktinfo pktinfo;
          memcpy(&pktinfo, CMSG_DATA(cm), sizeof(pktinfo));
          memcpy(dst, &pktinfo.ipi6_addr, 16);
        }
      }
    }
    return static_cast<uint32_t>(n);
  }

  // read() frames from the tap until it is empty or every slot is used.
  uint32_t ReceiveTap() {
    uint32_t count = 0;
    while (count < slots_) {
      const size_t room = slot_size_ - headroom_;
      ssize_t n = ::read(fd_, rx_data_ + static_cast<size_t>(count) * slot_size_ + headroom_, room);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          // EBADFD (device deleted), EIO: no later read will do better.
          stats_.rx_errors += 1;
          tap_errno_ = errno;
        }
        break;
      }
      // A frame longer than the slot is cut to it (read() gives no MSG_TRUNC;
      // clamp in case a kernel reports the whole frame's length).
      if (static_cast<size_t>(n) > room) {
        stats_.rx_truncated += 1;
        n = static_cast<ssize_t>(room);
      }
      rx_lengths_[count] = static_cast<uint32_t>(n);
      ++count;
    }
    return count;
  }

  static void OnPoll(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<BatchIo*>(handle->data);
    if (self != nullptr) self->Drain(status);
  }

  void Drain(int status) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object keep_alive = Value();  // JS may drop its last reference in onBatch
    if (status < 0) {
      stats_.rx_errors += 1;
      if (kind_ == Kind::kTap) {
        // A tap reports POLLERR only when its device is gone (ip link del):
        // every read fails from now on, so stop instead of spinning.
        Fail(env, keep_alive, -status);
        return;
      }
      // libuv stops a poll handle on POLLERR (a pending socket error). Clear
      // the error, count it and keep polling.
      if (fd_ >= 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      if (polling_ && poll_ != nullptr && uv_poll_start(poll_, UV_READABLE, OnPoll) < 0) StopPolling();
    }
    for (unsigned batch = 0; batch < kMaxBatchesPerWake && polling_; ++batch) {
      uint32_t n = kind_ == Kind::kTap ? ReceiveTap() : ReceiveSocket();
      if (n > 0) {
        stats_.rx_batches += 1;
        stats_.rx_packets += n;
        try {
          on_batch_.MakeCallback(keep_alive, {Napi::Number::New(env, n)}, *async_context_);
        } catch (const Napi::Error& error) {
          // Like any throwing I/O callback in Node: an uncaught exception.
          napi_fatal_exception(env, error.Value());
          return;
        }
      }
      if (tap_errno_ != 0) {
        Fail(env, keep_alive, tap_errno_);
        return;
      }
      if (n < slots_) break;
    }
  }

  // The fd is unusable for good (a tap whose device was deleted): stop
  // polling and tell JS once, through onError(errno) when it gave one.
  void Fail(Napi::Env env, Napi::Object keep_alive, int err) {
    StopPolling();
    tap_errno_ = 0;
    if (on_error_.IsEmpty()) return;
    try {
      on_error_.MakeCallback(keep_alive, {Napi::Number::New(env, err)}, *async_context_);
    } catch (const Napi::Error& error) {
      napi_fatal_exception(env, error.Value());
    }
  }

  void StopPolling() {
    if (!polling_) return;
    polling_ = false;
    if (poll_ != nullptr) uv_poll_stop(poll_);
    Unref();
  }

  // uv_close is asynchronous: the handle is freed in its close callback.
  void ReleasePoll() {
    if (poll_ == nullptr) return;
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }

  int fd_ = -1;
  Kind kind_ = Kind::kIp4;
  uint32_t slots_ = 0;
  uint32_t slot_size_ = 0;
  uint32_t headroom_ = 0;
  size_t rx_bytes_ = 0;
  bool owns_area_ = false;
  bool vnet_hdr_ = false;  // tap-vnet: frames carry a virtio_net_hdr
  int tap_errno_ = 0;  // set by ReceiveTap on a read error that will not pass
  bool polling_ = false;
  bool closed_ = false;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_error_;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::ObjectReference rx_refs_[4];
  uint8_t* rx_data_ = nullptr;
  uint32_t* rx_lengths_ = nullptr;
  uint8_t* rx_src_ = nullptr;
  uint8_t* rx_dst_ = nullptr;
  std::vector<struct mmsghdr> rx_msgs_;
  std::vector<struct iovec> rx_iov_;
  std::vector<struct sockaddr_in6> rx_names_;
  std::vector<uint64_t> rx_control_;  // 8-byte aligned for cmsghdr
  std::vector<struct mmsghdr> tx_msgs_;
  std::vector<struct iovec> tx_iov_;
  std::vector<struct sockaddr_in6> tx_names_;
  Stats stats_;
};

// mallocTuneForDaemon(): glibc's defaults suit short programs. Its mmap
// threshold rises after each large free (up to 32 MB), so the large buffers
// of config reloads and state writes then come from the heap and stay there
// fragmented; and every libuv pool thread gets an arena of its own. A fixed
// threshold and one arena keep a long-running daemon's RSS where its live
// data is.
Napi::Value MallocTuneForDaemon(const Napi::CallbackInfo& info) {
  ::mallopt(M_ARENA_MAX, 1);
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  return info.Env().Undefined();
}

}  // namespace

void InitBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("mallocTuneForDaemon", Napi::Function::New(env, MallocTuneForDaemon, "mallocTuneForDaemon"));
  exports.Set("BatchIo", BatchIo::Define(env));
  exports.Set("SendList", SendList::Define(env));
  exports.Set("batchArea", Napi::Function::New(env, BatchIo::CreateArea, "batchArea"));
}

}  // namespace greoip
