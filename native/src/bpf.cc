// The one BPF loader of greoip, over libbpf: open and load an object (maps
// pinned by name under a directory, so objects share maps and a restarted
// daemon adopts them), pin and fetch objects, map elements, BPF_PROG_TEST_RUN,
// TCX links (bpf_link_create with the TCX attach types, Linux 6.6+), clsact
// filters (bpf_tc_*), XDP attachment, object info and helper probes. No
// protocol logic: what to load where is decided in TypeScript (src/bpf/).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common.h"

namespace greoip {
namespace {

// libbpf's messages for the call in progress (verifier logs included), so a
// failed load can say why. Control-plane calls run on the main thread only.
std::string g_libbpf_log;

int CollectLibbpfLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (n > 0) g_libbpf_log.append(line, std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1));
  // Keep the tail: the verifier's last lines say what it refused.
  if (g_libbpf_log.size() > 16384) g_libbpf_log.erase(0, g_libbpf_log.size() - 16384);
  return 0;
}

Napi::Error LibbpfError(Napi::Env env, int err, const std::string& call, const std::string& subject) {
  Napi::Error e = ErrnoError(env, err, call, subject);
  if (!g_libbpf_log.empty()) e.Set("log", Napi::String::New(env, g_libbpf_log));
  return e;
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsBuffer())
    throw ArgTypeError(info.Env(), std::string("The \"") + what + "\" argument must be a Buffer");
  return info[index].As<Napi::Buffer<uint8_t>>();
}

Napi::Object OptObject(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() > index && info[index].IsObject()) return info[index].As<Napi::Object>();
  return Napi::Object::New(info.Env());
}

std::string OptString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

uint32_t OptUint(const Napi::Object& o, const char* key, uint32_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

// --- objects ------------------------------------------------------------------------------

// What a handle holds: the object until bpfObjectClose or the garbage collector closes it.
struct ObjectHolder {
  bpf_object* obj;
};

void FreeObject(Napi::Env, ObjectHolder* holder) {
  if (holder->obj) bpf_object__close(holder->obj);
  delete holder;
}

// bpfObjectLoad(path, { pinRoot?, progType? }) -> { handle, programs: [{name, section, fd}], maps: [...] }
// progType: a libbpf program type name ("xdp", "sched_cls") forced on every program.
Napi::Value BpfObjectLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  Napi::Object opts = OptObject(info, 1);
  std::string pin_root = OptString(opts, "pinRoot");
  std::string prog_type = OptString(opts, "progType");

  g_libbpf_log.clear();
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  if (!pin_root.empty()) open_opts.pin_root_path = pin_root.c_str();
  bpf_object* obj = bpf_object__open_file(path.c_str(), &open_opts);
  if (!obj) throw LibbpfError(env, errno, "bpf_object__open_file", path);

  if (!prog_type.empty()) {
    enum bpf_prog_type type;
    enum bpf_attach_type attach;
    std::string sec = prog_type;
    if (libbpf_prog_type_by_name(sec.c_str(), &type, &attach) < 0) {
      bpf_object__close(obj);
      throw ErrnoError(env, EINVAL, "libbpf_prog_type_by_name", prog_type, "Invalid argument: unknown program type");
    }
    bpf_program* p;
    bpf_object__for_each_program(p, obj) {
      bpf_program__set_type(p, type);
      bpf_program__set_expected_attach_type(p, attach);
    }
  }
  int err = bpf_object__load(obj);
  if (err) {
    Napi::Error e = LibbpfError(env, -err, "bpf_object__load", path);
    bpf_object__close(obj);
    throw e;
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::External<ObjectHolder>::New(env, new ObjectHolder{obj}, FreeObject));
  Napi::Array programs = Napi::Array::New(env);
  uint32_t i = 0;
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(p));
    o.Set("section", bpf_program__section_name(p));
    o.Set("fd", bpf_program__fd(p));
    programs.Set(i++, o);
  }
  out.Set("programs", programs);
  Napi::Array maps = Napi::Array::New(env);
  i = 0;
  bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_map__name(m));
    o.Set("fd", bpf_map__fd(m));
    o.Set("type", static_cast<uint32_t>(bpf_map__type(m)));
    o.Set("keySize", bpf_map__key_size(m));
    o.Set("valueSize", bpf_map__value_size(m));
    o.Set("maxEntries", bpf_map__max_entries(m));
    const char* pin = bpf_map__pin_path(m);
    o.Set("pinPath", pin ? Napi::Value(Napi::String::New(env, pin)) : env.Null());
    maps.Set(i++, o);
  }
  out.Set("maps", maps);
  return out;
}

// bpfObjectClose(handle): closes the object's fds (pinned objects and links stay).
Napi::Value BpfObjectClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) throw ArgTypeError(env, "The \"handle\" argument must be a handle");
  ObjectHolder* holder = info[0].As<Napi::External<ObjectHolder>>().Data();
  if (holder->obj) bpf_object__close(holder->obj);
  holder->obj = nullptr;
  return env.Undefined();
}

// --- pins, fds, info -------------------------------------------------------------------------

Napi::Value BpfObjGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw ErrnoError(env, errno, "BPF_OBJ_GET", path);
  return Napi::Number::New(env, fd);
}

Napi::Value BpfObjPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  std::string path = ArgString(info, 1, "path");
  if (bpf_obj_pin(fd, path.c_str()) < 0) throw ErrnoError(env, errno, "BPF_OBJ_PIN", path);
  return env.Undefined();
}

// bpfProgInfo(fd) -> { id, type, name, mapIds }
Napi::Value BpfProgInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  uint32_t map_ids[64];
  bpf_prog_info pi;
  memset(&pi, 0, sizeof(pi));
  pi.nr_map_ids = 64;
  pi.map_ids = reinterpret_cast<uint64_t>(map_ids);
  uint32_t len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len) < 0) throw ErrnoError(env, errno, "BPF_OBJ_GET_INFO_BY_FD", FdSubject(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", pi.id);
  o.Set("type", pi.type);
  o.Set("name", std::string(pi.name, strnlen(pi.name, sizeof(pi.name))));
  Napi::Array ids = Napi::Array::New(env);
  for (uint32_t i = 0; i < std::min<uint32_t>(pi.nr_map_ids, 64); i++) ids.Set(i, map_ids[i]);
  o.Set("mapIds", ids);
  return o;
}

// bpfMapInfo(fd) -> { id, type, name, keySize, valueSize, maxEntries }
Napi::Value BpfMapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  uint32_t len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) < 0) throw ErrnoError(env, errno, "BPF_OBJ_GET_INFO_BY_FD", FdSubject(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", mi.id);
  o.Set("type", mi.type);
  o.Set("name", std::string(mi.name, strnlen(mi.name, sizeof(mi.name))));
  o.Set("keySize", mi.key_size);
  o.Set("valueSize", mi.value_size);
  o.Set("maxEntries", mi.max_entries);
  return o;
}

Napi::Value BpfMapGetFdById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgUint32(info, 0, "id", 1, 0xffffffff);
  int fd = bpf_map_get_fd_by_id(id);
  if (fd < 0) throw ErrnoError(env, errno, "BPF_MAP_GET_FD_BY_ID", std::to_string(id));
  return Napi::Number::New(env, fd);
}

// bpfLinkInfo(fd) -> { id, progId, type, ifindex, attachType }
Napi::Value BpfLinkInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  // libbpf 1.1's struct bpf_link_info predates tcx: read the common head
  // and the ifindex/attach_type pair every netdev link puts first in its union.
  struct {
    bpf_link_info head;
    uint8_t spare[64];
  } li;
  memset(&li, 0, sizeof(li));
  uint32_t len = sizeof(li);
  if (bpf_obj_get_info_by_fd(fd, &li, &len) < 0) throw ErrnoError(env, errno, "BPF_OBJ_GET_INFO_BY_FD", FdSubject(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", li.head.id);
  o.Set("progId", li.head.prog_id);
  o.Set("type", li.head.type);
  // xdp: { ifindex }, netns: { netns_ino, attach_type }; tcx: { ifindex, attach_type }.
  o.Set("ifindex", li.head.xdp.ifindex);
  o.Set("attachType", li.head.netns.attach_type);
  return o;
}

Napi::Value BpfProgGetFdById(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgUint32(info, 0, "id", 1, 0xffffffff);
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) throw ErrnoError(env, errno, "BPF_PROG_GET_FD_BY_ID", std::to_string(id));
  return Napi::Number::New(env, fd);
}

// --- maps ---------------------------------------------------------------------------------------

Napi::Value BpfMapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  auto value = ArgBuffer(info, 2, "value");
  uint32_t flags = info.Length() > 3 ? ArgUint32(info, 3, "flags", 0, 4) : 0;
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) < 0)
    throw ErrnoError(env, errno, "BPF_MAP_UPDATE_ELEM", FdSubject(fd));
  return env.Undefined();
}

// bpfMapLookup(fd, key, valueSize) -> Buffer | null. valueSize: the whole
// value, i.e. value_size rounded to 8 times the possible CPUs for per-CPU maps.
Napi::Value BpfMapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  uint32_t size = ArgUint32(info, 2, "valueSize", 1, 1u << 24);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, size);
  memset(out.Data(), 0, size);
  if (bpf_map_lookup_elem(fd, key.Data(), out.Data()) < 0) {
    if (errno == ENOENT) return env.Null();
    throw ErrnoError(env, errno, "BPF_MAP_LOOKUP_ELEM", FdSubject(fd));
  }
  return out;
}

Napi::Value BpfMapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  if (bpf_map_delete_elem(fd, key.Data()) < 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    throw ErrnoError(env, errno, "BPF_MAP_DELETE_ELEM", FdSubject(fd));
  }
  return Napi::Boolean::New(env, true);
}

// bpfMapNextKey(fd, key | null, keySize) -> Buffer | null (no more keys)
Napi::Value BpfMapNextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  const void* key = nullptr;
  if (info.Length() > 1 && info[1].IsBuffer()) key = info[1].As<Napi::Buffer<uint8_t>>().Data();
  uint32_t size = ArgUint32(info, 2, "keySize", 1, 1u << 16);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, size);
  if (bpf_map_get_next_key(fd, key, out.Data()) < 0) {
    if (errno == ENOENT) return env.Null();
    throw ErrnoError(env, errno, "BPF_MAP_GET_NEXT_KEY", FdSubject(fd));
  }
  return out;
}

Napi::Value BpfPossibleCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = libbpf_num_possible_cpus();
  if (n < 0) throw ErrnoError(env, -n, "libbpf_num_possible_cpus");
  return Napi::Number::New(env, n);
}

// --- test runs ------------------------------------------------------------------------------------

// bpfTestRun(progFd, data, { repeat?, dataSizeOut? }) -> { retval, data, duration }
Napi::Value BpfTestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "progFd");
  auto data = ArgBuffer(info, 1, "data");
  Napi::Object opts = OptObject(info, 2);
  uint32_t size_out = OptUint(opts, "dataSizeOut", static_cast<uint32_t>(data.Length()) + 512);
  std::vector<uint8_t> out(size_out);
  LIBBPF_OPTS(bpf_test_run_opts, run);
  run.data_in = data.Data();
  run.data_size_in = static_cast<uint32_t>(data.Length());
  run.data_out = out.data();
  run.data_size_out = size_out;
  run.repeat = OptUint(opts, "repeat", 1);
  if (bpf_prog_test_run_opts(fd, &run) < 0) throw ErrnoError(env, errno, "BPF_PROG_TEST_RUN", FdSubject(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("retval", static_cast<int32_t>(run.retval));  // TC_ACT_UNSPEC is -1
  o.Set("duration", run.duration);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, out.data(), std::min(run.data_size_out, size_out)));
  return o;
}

// --- attachment ---------------------------------------------------------------------------------

// bpfLinkCreate(progFd, ifindex, attachType) -> link fd (TCX: attach types 46/47; XDP: 37).
Napi::Value BpfLinkCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog = ArgFd(info, 0, "progFd");
  uint32_t ifindex = ArgUint32(info, 1, "ifindex", 1, 0x7fffffff);
  uint32_t type = ArgUint32(info, 2, "attachType", 0, 1024);
  int fd = bpf_link_create(prog, static_cast<int>(ifindex), static_cast<enum bpf_attach_type>(type), nullptr);
  if (fd < 0) throw ErrnoError(env, errno, "BPF_LINK_CREATE", "ifindex " + std::to_string(ifindex));
  return Napi::Number::New(env, fd);
}

Napi::Value BpfLinkDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  if (bpf_link_detach(fd) < 0) throw ErrnoError(env, errno, "BPF_LINK_DETACH", FdSubject(fd));
  return env.Undefined();
}

enum bpf_tc_attach_point TcPoint(const Napi::CallbackInfo& info, size_t index) {
  std::string dir = ArgString(info, index, "direction");
  if (dir == "ingress") return BPF_TC_INGRESS;
  if (dir == "egress") return BPF_TC_EGRESS;
  throw ArgRangeError(info.Env(), "The \"direction\" argument must be \"ingress\" or \"egress\"");
}

// bpfTcHookCreate(ifindex) -> true when it created the clsact qdisc, false when it existed.
Napi::Value BpfTcHookCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = BPF_TC_INGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err == -EEXIST) return Napi::Boolean::New(env, false);
  if (err) throw ErrnoError(env, -err, "bpf_tc_hook_create", "ifindex " + std::to_string(ifindex));
  return Napi::Boolean::New(env, true);
}

// bpfTcHookDestroy(ifindex): removes the clsact qdisc with every filter on it.
Napi::Value BpfTcHookDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err && err != -ENOENT && err != -EINVAL)
    throw ErrnoError(env, -err, "bpf_tc_hook_destroy", "ifindex " + std::to_string(ifindex));
  return env.Undefined();
}

// bpfTcAttach(ifindex, direction, progFd, handle, priority): a direct-action
// cls_bpf filter, replacing one with the same handle and priority.
Napi::Value BpfTcAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = TcPoint(info, 1));
  int prog = ArgFd(info, 2, "progFd");
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog, .flags = BPF_TC_F_REPLACE,
              .handle = ArgUint32(info, 3, "handle", 1, 0xffffffff),
              .priority = ArgUint32(info, 4, "priority", 1, 0xffff));
  int err = bpf_tc_attach(&hook, &opts);
  if (err) throw ErrnoError(env, -err, "bpf_tc_attach", "ifindex " + std::to_string(ifindex));
  return env.Undefined();
}

// bpfTcDetach(ifindex, direction, handle, priority) -> false when no such filter.
Napi::Value BpfTcDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = TcPoint(info, 1));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ArgUint32(info, 2, "handle", 1, 0xffffffff),
              .priority = ArgUint32(info, 3, "priority", 1, 0xffff));
  int err = bpf_tc_detach(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return Napi::Boolean::New(env, false);
  if (err) throw ErrnoError(env, -err, "bpf_tc_detach", "ifindex " + std::to_string(ifindex));
  return Napi::Boolean::New(env, true);
}

// bpfTcQuery(ifindex, direction, handle, priority) -> program id, or 0 when there is no such filter.
Napi::Value BpfTcQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = TcPoint(info, 1));
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ArgUint32(info, 2, "handle", 1, 0xffffffff),
              .priority = ArgUint32(info, 3, "priority", 1, 0xffff));
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return Napi::Number::New(env, 0);
  if (err) throw ErrnoError(env, -err, "bpf_tc_query", "ifindex " + std::to_string(ifindex));
  return Napi::Number::New(env, opts.prog_id);
}

// bpfXdpAttach(ifindex, progFd, flags): XDP_FLAGS_* (1 update-if-noexist, 2 skb/generic, 4 drv/native).
Napi::Value BpfXdpAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  int prog = ArgFd(info, 1, "progFd");
  uint32_t flags = ArgUint32(info, 2, "flags", 0, 0xff);
  int err = bpf_xdp_attach(static_cast<int>(ifindex), prog, flags, nullptr);
  if (err) throw ErrnoError(env, -err, "bpf_xdp_attach", "ifindex " + std::to_string(ifindex));
  return env.Undefined();
}

Napi::Value BpfXdpDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  uint32_t flags = ArgUint32(info, 1, "flags", 0, 0xff);
  int err = bpf_xdp_detach(static_cast<int>(ifindex), flags, nullptr);
  if (err) throw ErrnoError(env, -err, "bpf_xdp_detach", "ifindex " + std::to_string(ifindex));
  return env.Undefined();
}

// bpfXdpQuery(ifindex) -> { prog, skb, drv } program ids (0 = none).
Napi::Value BpfXdpQuery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t ifindex = ArgUint32(info, 0, "ifindex", 1, 0x7fffffff);
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  int err = bpf_xdp_query(static_cast<int>(ifindex), 0, &q);
  if (err) throw ErrnoError(env, -err, "bpf_xdp_query", "ifindex " + std::to_string(ifindex));
  Napi::Object o = Napi::Object::New(env);
  o.Set("prog", q.prog_id);
  o.Set("skb", q.skb_prog_id);
  o.Set("drv", q.drv_prog_id);
  o.Set("attachMode", q.attach_mode);
  return o;
}

// bpfProbeHelper(progType, helperId) -> whether the kernel offers the helper to that program type.
Napi::Value BpfProbeHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t type = ArgUint32(info, 0, "progType", 1, 1024);
  uint32_t helper = ArgUint32(info, 1, "helperId", 1, 1u << 16);
  int r = libbpf_probe_bpf_helper(static_cast<enum bpf_prog_type>(type), static_cast<enum bpf_func_id>(helper), nullptr);
  if (r < 0) throw ErrnoError(env, -r, "libbpf_probe_bpf_helper", std::to_string(helper));
  return Napi::Boolean::New(env, r == 1);
}

}  // namespace

void InitBpf(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(CollectLibbpfLog);
  exports.Set("bpfObjectLoad", Napi::Function::New(env, BpfObjectLoad, "bpfObjectLoad"));
  exports.Set("bpfObjectClose", Napi::Function::New(env, BpfObjectClose, "bpfObjectClose"));
  exports.Set("bpfObjGet", Napi::Function::New(env, BpfObjGet, "bpfObjGet"));
  exports.Set("bpfObjPin", Napi::Function::New(env, BpfObjPin, "bpfObjPin"));
  exports.Set("bpfProgInfo", Napi::Function::New(env, BpfProgInfo, "bpfProgInfo"));
  exports.Set("bpfLinkInfo", Napi::Function::New(env, BpfLinkInfo, "bpfLinkInfo"));
  exports.Set("bpfProgGetFdById", Napi::Function::New(env, BpfProgGetFdById, "bpfProgGetFdById"));
  exports.Set("bpfMapGetFdById", Napi::Function::New(env, BpfMapGetFdById, "bpfMapGetFdById"));
  exports.Set("bpfMapInfo", Napi::Function::New(env, BpfMapInfo, "bpfMapInfo"));
  exports.Set("bpfMapUpdate", Napi::Function::New(env, BpfMapUpdate, "bpfMapUpdate"));
  exports.Set("bpfMapLookup", Napi::Function::New(env, BpfMapLookup, "bpfMapLookup"));
  exports.Set("bpfMapDelete", Napi::Function::New(env, BpfMapDelete, "bpfMapDelete"));
  exports.Set("bpfMapNextKey", Napi::Function::New(env, BpfMapNextKey, "bpfMapNextKey"));
  exports.Set("bpfPossibleCpus", Napi::Function::New(env, BpfPossibleCpus, "bpfPossibleCpus"));
  exports.Set("bpfTestRun", Napi::Function::New(env, BpfTestRun, "bpfTestRun"));
  exports.Set("bpfLinkCreate", Napi::Function::New(env, BpfLinkCreate, "bpfLinkCreate"));
  exports.Set("bpfLinkDetach", Napi::Function::New(env, BpfLinkDetach, "bpfLinkDetach"));
  exports.Set("bpfTcHookCreate", Napi::Function::New(env, BpfTcHookCreate, "bpfTcHookCreate"));
  exports.Set("bpfTcHookDestroy", Napi::Function::New(env, BpfTcHookDestroy, "bpfTcHookDestroy"));
  exports.Set("bpfTcAttach", Napi::Function::New(env, BpfTcAttach, "bpfTcAttach"));
  exports.Set("bpfTcDetach", Napi::Function::New(env, BpfTcDetach, "bpfTcDetach"));
  exports.Set("bpfTcQuery", Napi::Function::New(env, BpfTcQuery, "bpfTcQuery"));
  exports.Set("bpfXdpAttach", Napi::Function::New(env, BpfXdpAttach, "bpfXdpAttach"));
  exports.Set("bpfXdpDetach", Napi::Function::New(env, BpfXdpDetach, "bpfXdpDetach"));
  exports.Set("bpfXdpQuery", Napi::Function::New(env, BpfXdpQuery, "bpfXdpQuery"));
  exports.Set("bpfProbeHelper", Napi::Function::New(env, BpfProbeHelper, "bpfProbeHelper"));
}

}  // namespace greoip
