// SPDX-License-Identifier: GPL-2.0
/*
 * eoipctl: creates, changes, deletes and lists eoip / eoipv6 links of the
 * greoip kernel modules over rtnetlink. iproute2 does not know these kinds'
 * attributes; this speaks the same numbers as the old `eoip` tool
 * (../uapi/linux/if_eoip.h) with the same command line:
 *
 *   eoipctl add [name N] tunnel-id|tid ID [local IP] remote IP [ttl T]
 *               [tos T|inherit] [link IFNAME|IFINDEX]
 *               [keepalive none|SECS[,RETRIES]] [mtu M]
 *   eoipctl change|set name N [any of the above]
 *   eoipctl del|delete [name] N
 *   eoipctl list|show [[name] N]
 *   eoipctl version
 *
 * An IPv6 address selects eoipv6. Errors print the kernel's extack message.
 * Plain libc only, so it links statically into a test initramfs.
 */
/* glibc's net/if.h first: linux/libc-compat.h then skips the kernel's copies. */
#include <net/if.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../uapi/linux/if_eoip.h"

#define EOIPCTL_VERSION "1.0"

struct addr {
	int family;		/* 0: unset */
	unsigned char bytes[16];
};

struct options {
	const char *name;
	bool has_tid, has_ttl, has_tos, has_link, has_ka, has_mtu;
	uint32_t tid, link, ka_interval, mtu;
	uint8_t ttl, tos, ka_retries;
	struct addr local, remote;
};

struct request {
	struct nlmsghdr n;
	struct ifinfomsg i;
	char buf[2048];
};

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "eoipctl: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fputs("usage: eoipctl add [name N] tunnel-id|tid ID [local IP] remote IP [ttl T]\n"
	      "                   [tos T|inherit] [link IFNAME|IFINDEX]\n"
	      "                   [keepalive none|SECS[,RETRIES]] [mtu M]\n"
	      "       eoipctl change|set name N [options as for add]\n"
	      "       eoipctl del|delete [name] N\n"
	      "       eoipctl list|show [[name] N]\n"
	      "       eoipctl version\n", stderr);
	exit(1);
}

/* ---- netlink message building ---- */

static struct rtattr *tail_of(struct nlmsghdr *n)
{
	return (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
}

static void add_attr(struct nlmsghdr *n, size_t max, int type, const void *data, size_t len)
{
	struct rtattr *rta = tail_of(n);
	size_t rlen = RTA_LENGTH(len);

	if (NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rlen) > max)
		die("%s", "netlink message too long");
	rta->rta_type = type;
	rta->rta_len = rlen;
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rlen);
}

static void add_u32(struct nlmsghdr *n, size_t max, int type, uint32_t v)
{
	add_attr(n, max, type, &v, sizeof(v));
}

static void add_u8(struct nlmsghdr *n, size_t max, int type, uint8_t v)
{
	add_attr(n, max, type, &v, sizeof(v));
}

static struct rtattr *nest_start(struct nlmsghdr *n, size_t max, int type)
{
	struct rtattr *nest = tail_of(n);

	add_attr(n, max, type, NULL, 0);
	return nest;
}

static void nest_end(struct nlmsghdr *n, struct rtattr *nest)
{
	nest->rta_len = (char *)tail_of(n) - (char *)nest;
}

/* ---- netlink I/O ---- */

static int nl_open(void)
{
	int one = 1;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		die("netlink socket: %s", strerror(errno));
	/* Ask for the kernel's error messages; older kernels ignore it. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	return fd;
}

static void nl_send(int fd, struct nlmsghdr *n)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("netlink send: %s", strerror(errno));
}

/* IFLA_INFO_DATA attributes: name and meaning, for errors the kernel reports by offset. */
static const struct {
	const char *name, *what;
} info_data_attrs[IFLA_EOIP_MAX + 1] = {
	[IFLA_GRE_LINK]		= { "IFLA_GRE_LINK", "underlay interface" },
	[IFLA_GRE_IKEY]		= { "IFLA_GRE_IKEY", "tunnel id" },
	[IFLA_GRE_LOCAL]	= { "IFLA_GRE_LOCAL", "local address" },
	[IFLA_GRE_REMOTE]	= { "IFLA_GRE_REMOTE", "remote address" },
	[IFLA_GRE_TTL]		= { "IFLA_GRE_TTL", "ttl" },
	[IFLA_GRE_TOS]		= { "IFLA_GRE_TOS", "tos" },
	[IFLA_EOIP_KA_INTERVAL]	= { "IFLA_EOIP_KA_INTERVAL", "keepalive interval" },
	[IFLA_EOIP_KA_RETRIES]	= { "IFLA_EOIP_KA_RETRIES", "keepalive retries" },
	[IFLA_EOIP_KA_STATE]	= { "IFLA_EOIP_KA_STATE", "keepalive state" },
	[IFLA_EOIP_KA_LAST_RX_MS] = { "IFLA_EOIP_KA_LAST_RX_MS", "last keepalive" },
	[IFLA_EOIP_KA_RX]	= { "IFLA_EOIP_KA_RX", "keepalives received" },
	[IFLA_EOIP_KA_TX]	= { "IFLA_EOIP_KA_TX", "keepalives sent" },
};

/* What an NLMSG_ERROR's extended ack carries (zero: absent). */
struct extack {
	const char *msg;
	uint32_t offset;		/* NLMSGERR_ATTR_OFFS: the rejected attribute in the request */
	bool has_values, has_lengths;	/* NLMSGERR_ATTR_POLICY: the policy it failed */
	uint64_t min_value, max_value;
	uint32_t min_length, max_length;
};

static void parse_policy(const struct rtattr *policy, struct extack *x)
{
	int len = RTA_PAYLOAD(policy);

	for (const struct rtattr *a = RTA_DATA(policy); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case NL_POLICY_TYPE_ATTR_MIN_VALUE_U:
			memcpy(&x->min_value, RTA_DATA(a), sizeof(x->min_value));
			x->has_values = true;
			break;
		case NL_POLICY_TYPE_ATTR_MAX_VALUE_U:
			memcpy(&x->max_value, RTA_DATA(a), sizeof(x->max_value));
			x->has_values = true;
			break;
		case NL_POLICY_TYPE_ATTR_MIN_LENGTH:
			memcpy(&x->min_length, RTA_DATA(a), sizeof(x->min_length));
			x->has_lengths = true;
			break;
		case NL_POLICY_TYPE_ATTR_MAX_LENGTH:
			memcpy(&x->max_length, RTA_DATA(a), sizeof(x->max_length));
			x->has_lengths = true;
			break;
		}
	}
}

/* The extended ack of an NLMSG_ERROR, if the kernel sent one. */
static struct extack extack_of(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	struct extack x = { 0 };
	size_t off = sizeof(*e);
	int len;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return x;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	len = (int)h->nlmsg_len - (int)NLMSG_HDRLEN - (int)off;
	for (const struct rtattr *a = (const void *)((const char *)e + off); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == NLMSGERR_ATTR_MSG)
			x.msg = RTA_DATA(a);
		else if (a->rta_type == NLMSGERR_ATTR_OFFS && RTA_PAYLOAD(a) >= sizeof(uint32_t))
			memcpy(&x.offset, RTA_DATA(a), sizeof(x.offset));
		else if (a->rta_type == (NLMSGERR_ATTR_POLICY | NLA_F_NESTED) ||
			 a->rta_type == NLMSGERR_ATTR_POLICY)
			parse_policy(a, &x);
	}
	return x;
}

/* The attribute starting @offset bytes into @n, searched in @nest's children and below. */
static const struct rtattr *attr_at(const struct nlmsghdr *n, const struct rtattr *first, int len,
				    uint32_t offset, int depth, int *type_path)
{
	for (const struct rtattr *a = first; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		uint32_t at = (const char *)a - (const char *)n;

		type_path[depth] = a->rta_type & NLA_TYPE_MASK;
		if (at == offset)
			return a;
		if (depth < 2 && offset > at && offset < at + a->rta_len)
			return attr_at(n, RTA_DATA(a), RTA_PAYLOAD(a), offset, depth + 1, type_path);
	}
	return NULL;
}

/*
 * The kernel's policy (eoip_policy in ../netlink.c) reports a rejected range
 * or length with a generic message and the attribute's offset: name the
 * attribute and say what it allows, as the module's own messages do
 * ("IFLA_GRE_IKEY: tunnel id 70000: integer out of range 0-65535").
 */
static void print_error(const struct nlmsghdr *req, int error, const struct extack *x)
{
	const char *msg = x->msg ? x->msg : strerror(-error);
	const struct rtattr *a = NULL;
	int path[3] = { 0 };
	char value[48] = "", range[64] = "";

	if (x->offset)
		a = attr_at(req, (const void *)((const char *)NLMSG_DATA(req) +
						 NLMSG_ALIGN(sizeof(struct ifinfomsg))),
			    (int)req->nlmsg_len - (int)NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			    x->offset, 0, path);
	if (!a || path[0] != IFLA_LINKINFO || path[1] != IFLA_INFO_DATA || path[2] > IFLA_EOIP_MAX ||
	    !info_data_attrs[path[2]].name ||
	    !strncmp(msg, info_data_attrs[path[2]].name, strlen(info_data_attrs[path[2]].name))) {
		fprintf(stderr, "eoipctl: %s%s%s\n", strerror(-error), x->msg ? ": " : "",
			x->msg ? x->msg : "");
		return;
	}
	if (x->has_lengths) {
		snprintf(value, sizeof(value), " of %u bytes", (unsigned int)RTA_PAYLOAD(a));
		if (x->min_length == x->max_length)
			snprintf(range, sizeof(range), " (%u bytes)", x->min_length);
		else
			snprintf(range, sizeof(range), " (%u-%u bytes)", x->min_length, x->max_length);
	} else if (x->has_values) {
		uint32_t v;

		if (RTA_PAYLOAD(a) == sizeof(uint8_t)) {
			snprintf(value, sizeof(value), " %u", *(const uint8_t *)RTA_DATA(a));
		} else if (RTA_PAYLOAD(a) == sizeof(v)) {
			memcpy(&v, RTA_DATA(a), sizeof(v));
			snprintf(value, sizeof(value), " %u", v);
		}
		snprintf(range, sizeof(range), " %llu-%llu", (unsigned long long)x->min_value,
			 (unsigned long long)x->max_value);
	}
	fprintf(stderr, "eoipctl: %s: %s: %s%s: %s%s\n", strerror(-error),
		info_data_attrs[path[2]].name, info_data_attrs[path[2]].what, value, msg, range);
}

/* Sends @n and waits for its ack; on error prints errno and the extack message, exits 2. */
static void nl_talk(struct nlmsghdr *n)
{
	char buf[16384];
	int fd = nl_open();
	ssize_t len;

	n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	n->nlmsg_seq = 1;
	nl_send(fd, n);
	len = recv(fd, buf, sizeof(buf), 0);
	if (len < 0)
		die("netlink recv: %s", strerror(errno));
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
		const struct nlmsgerr *e;
		struct extack x;

		if (h->nlmsg_type != NLMSG_ERROR)
			continue;
		e = NLMSG_DATA(h);
		if (e->error == 0)
			break;
		x = extack_of(h);
		print_error(n, e->error, &x);
		exit(2);
	}
	close(fd);
}

/* ---- argument parsing ---- */

static uint32_t parse_uint(const char *s, uint32_t max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || *s == '-' || v > max) {
		fprintf(stderr, "eoipctl: bad %s: %s\n", what, s);
		exit(1);
	}
	return (uint32_t)v;
}

static void parse_addr(const char *s, struct addr *a)
{
	if (inet_pton(AF_INET, s, a->bytes) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, a->bytes) == 1)
		a->family = AF_INET6;
	else
		die("bad address: %s", s);
}

/* keepalive none | SECS[,RETRIES]; SECS may carry RouterOS's `s`. Range checks are the kernel's. */
static void parse_keepalive(const char *s, struct options *o)
{
	char buf[32], *comma, *secs;
	size_t n;

	o->has_ka = true;
	o->ka_retries = EOIP_DEFAULT_KA_RETRIES;
	if (strcmp(s, "none") == 0) {
		o->ka_interval = 0;
		return;
	}
	if (strlen(s) >= sizeof(buf))
		die("bad keepalive: %s", s);
	strcpy(buf, s);
	comma = strchr(buf, ',');
	if (comma) {
		*comma = '\0';
		o->ka_retries = (uint8_t)parse_uint(comma + 1, 255, "keepalive retries");
	}
	secs = buf;
	n = strlen(secs);
	if (n > 1 && secs[n - 1] == 's')
		secs[n - 1] = '\0';
	o->ka_interval = parse_uint(secs, UINT32_MAX, "keepalive interval");
}

static uint32_t parse_link(const char *s)
{
	unsigned int idx;

	if (s[0] >= '0' && s[0] <= '9')
		return parse_uint(s, UINT32_MAX, "link");
	idx = if_nametoindex(s);
	if (!idx)
		die("no such link: %s", s);
	return idx;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	for (int i = 0; i < argc; i++) {
		const char *key = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			die("%s needs a value", key);
		i++;
		if (!strcmp(key, "name"))
			o->name = val;
		else if (!strcmp(key, "tunnel-id") || !strcmp(key, "tid"))
			o->tid = parse_uint(val, UINT32_MAX, "tunnel id"), o->has_tid = true;
		else if (!strcmp(key, "local"))
			parse_addr(val, &o->local);
		else if (!strcmp(key, "remote"))
			parse_addr(val, &o->remote);
		else if (!strcmp(key, "ttl"))
			o->ttl = (uint8_t)parse_uint(val, 255, "ttl"), o->has_ttl = true;
		else if (!strcmp(key, "tos"))
			o->tos = !strcmp(val, "inherit") ? EOIP_TOS_INHERIT :
				 (uint8_t)parse_uint(val, 255, "tos"), o->has_tos = true;
		else if (!strcmp(key, "link"))
			o->link = parse_link(val), o->has_link = true;
		else if (!strcmp(key, "keepalive"))
			parse_keepalive(val, o);
		else if (!strcmp(key, "mtu"))
			o->mtu = parse_uint(val, UINT32_MAX, "mtu"), o->has_mtu = true;
		else
			die("unknown option: %s", key);
	}
}

/* ---- commands ---- */

static const char *kind_of_family(int family)
{
	return family == AF_INET6 ? "eoipv6" : "eoip";
}

static void add_addr(struct nlmsghdr *n, size_t max, int type, const struct addr *a)
{
	add_attr(n, max, type, a->bytes, a->family == AF_INET6 ? 16 : 4);
}

static void put_linkinfo(struct nlmsghdr *n, size_t max, const char *kind, const struct options *o)
{
	struct rtattr *info = nest_start(n, max, IFLA_LINKINFO);
	struct rtattr *data;

	add_attr(n, max, IFLA_INFO_KIND, kind, strlen(kind));
	data = nest_start(n, max, IFLA_INFO_DATA);
	if (o->has_tid)
		add_u32(n, max, IFLA_GRE_IKEY, o->tid);
	if (o->local.family)
		add_addr(n, max, IFLA_GRE_LOCAL, &o->local);
	if (o->remote.family)
		add_addr(n, max, IFLA_GRE_REMOTE, &o->remote);
	if (o->has_ttl)
		add_u8(n, max, IFLA_GRE_TTL, o->ttl);
	if (o->has_tos)
		add_u8(n, max, IFLA_GRE_TOS, o->tos);
	if (o->has_link)
		add_u32(n, max, IFLA_GRE_LINK, o->link);
	if (o->has_ka) {
		add_u32(n, max, IFLA_EOIP_KA_INTERVAL, o->ka_interval);
		add_u8(n, max, IFLA_EOIP_KA_RETRIES, o->ka_retries);
	}
	nest_end(n, data);
	nest_end(n, info);
}

static void init_request(struct request *r, int type, int flags)
{
	memset(r, 0, sizeof(*r));
	r->n.nlmsg_len = NLMSG_LENGTH(sizeof(r->i));
	r->n.nlmsg_type = type;
	r->n.nlmsg_flags = flags;
	r->i.ifi_family = AF_UNSPEC;
}

static int family_of(const struct options *o)
{
	int f = o->remote.family ? o->remote.family : o->local.family;

	if (o->remote.family && o->local.family && o->remote.family != o->local.family)
		die("%s", "local and remote are of different address families");
	return f;
}

static int cmd_add(int argc, char **argv)
{
	struct options o = {0};
	struct request r;

	parse_options(argc, argv, &o);
	/* The kernel says what is missing (remote, tunnel id), in its own words. */
	init_request(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	if (o.name)
		add_attr(&r.n, sizeof(r), IFLA_IFNAME, o.name, strlen(o.name) + 1);
	if (o.has_mtu)
		add_u32(&r.n, sizeof(r), IFLA_MTU, o.mtu);
	put_linkinfo(&r.n, sizeof(r), kind_of_family(family_of(&o)), &o);
	nl_talk(&r.n);
	return 0;
}

/* ---- reading links back ---- */

struct link {
	char name[IFNAMSIZ];
	char kind[16];
	int index, mtu, carrier, up;
	struct rtattr *data[IFLA_EOIP_MAX + 1];
};

static void parse_attrs(struct rtattr **tb, int max, struct rtattr *rta, int len)
{
	memset(tb, 0, sizeof(*tb) * (max + 1));
	for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type <= max)
			tb[rta->rta_type] = rta;
}

/* Fills @l from an RTM_NEWLINK message; false when it is not an eoip/eoipv6 link. */
static bool parse_link_msg(struct nlmsghdr *h, struct link *l)
{
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	struct rtattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));

	memset(l, 0, sizeof(*l));
	parse_attrs(tb, IFLA_MAX, IFLA_RTA(ifi), len);
	if (!tb[IFLA_LINKINFO] || !tb[IFLA_IFNAME])
		return false;
	parse_attrs(info, IFLA_INFO_MAX, RTA_DATA(tb[IFLA_LINKINFO]), RTA_PAYLOAD(tb[IFLA_LINKINFO]));
	if (!info[IFLA_INFO_KIND])
		return false;
	snprintf(l->kind, sizeof(l->kind), "%.*s", (int)RTA_PAYLOAD(info[IFLA_INFO_KIND]),
		 (char *)RTA_DATA(info[IFLA_INFO_KIND]));
	if (strcmp(l->kind, "eoip") && strcmp(l->kind, "eoipv6"))
		return false;
	snprintf(l->name, sizeof(l->name), "%s", (char *)RTA_DATA(tb[IFLA_IFNAME]));
	l->index = ifi->ifi_index;
	l->up = !!(ifi->ifi_flags & IFF_UP);
	l->mtu = tb[IFLA_MTU] ? *(int *)RTA_DATA(tb[IFLA_MTU]) : 0;
	l->carrier = tb[IFLA_CARRIER] ? *(uint8_t *)RTA_DATA(tb[IFLA_CARRIER]) : -1;
	if (info[IFLA_INFO_DATA])
		parse_attrs(l->data, IFLA_EOIP_MAX, RTA_DATA(info[IFLA_INFO_DATA]),
			    RTA_PAYLOAD(info[IFLA_INFO_DATA]));
	return true;
}

static uint32_t data_u32(const struct link *l, int type)
{
	return l->data[type] ? *(uint32_t *)RTA_DATA(l->data[type]) : 0;
}

static uint8_t data_u8(const struct link *l, int type)
{
	return l->data[type] ? *(uint8_t *)RTA_DATA(l->data[type]) : 0;
}

static const char *data_addr(const struct link *l, int type, char *buf, size_t len)
{
	const struct rtattr *a = l->data[type];
	int family = a && RTA_PAYLOAD(a) == 16 ? AF_INET6 : AF_INET;

	if (!a)
		return "-";
	return inet_ntop(family, RTA_DATA(a), buf, len);
}

/* One line per tunnel, `key value` pairs in the order the add command takes them. */
static void print_link(const struct link *l)
{
	char local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN];
	uint32_t ka = data_u32(l, IFLA_EOIP_KA_INTERVAL);

	printf("%s kind %s tunnel-id %u local %s remote %s ttl %u tos %u link %u ", l->name, l->kind,
	       data_u32(l, IFLA_GRE_IKEY), data_addr(l, IFLA_GRE_LOCAL, local, sizeof(local)),
	       data_addr(l, IFLA_GRE_REMOTE, remote, sizeof(remote)), data_u8(l, IFLA_GRE_TTL),
	       data_u8(l, IFLA_GRE_TOS), data_u32(l, IFLA_GRE_LINK));
	if (ka)
		printf("keepalive %u,%u", ka, data_u8(l, IFLA_EOIP_KA_RETRIES));
	else
		printf("keepalive none");
	printf(" mtu %d %s carrier %d\n", l->mtu, l->up ? "up" : "down", l->carrier);
}

/* Runs a GETLINK (one name, or a dump) and calls @fn for each eoip link; returns how many. */
static int for_each_link(const char *name, void (*fn)(const struct link *, void *), void *arg)
{
	static char buf[65536];
	struct request r;
	int fd = nl_open(), found = 0;
	bool done = false;

	init_request(&r, RTM_GETLINK, NLM_F_REQUEST | (name ? 0 : NLM_F_DUMP));
	if (name)
		add_attr(&r.n, sizeof(r), IFLA_IFNAME, name, strlen(name) + 1);
	nl_send(fd, &r.n);
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);

		if (len < 0)
			die("netlink recv: %s", strerror(errno));
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			struct link l;

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (e->error)
					die("%s", strerror(-e->error));
				done = true;
				break;
			}
			if (h->nlmsg_type == RTM_NEWLINK && parse_link_msg(h, &l)) {
				fn(&l, arg);
				found++;
			}
			if (name)
				done = true;
		}
	}
	close(fd);
	return found;
}

static void print_cb(const struct link *l, void *arg)
{
	(void)arg;
	print_link(l);
}

static void kind_cb(const struct link *l, void *arg)
{
	strcpy(arg, l->kind);
}

static int cmd_change(int argc, char **argv)
{
	struct options o = {0};
	struct request r;
	char kind[16] = "";

	parse_options(argc, argv, &o);
	if (!o.name)
		die("%s", "change needs name N");
	/* The kind must match the device's, and the addresses may not say it: ask. */
	if (!for_each_link(o.name, kind_cb, kind))
		die("%s is not an eoip or eoipv6 link", o.name);
	init_request(&r, RTM_NEWLINK, 0);
	add_attr(&r.n, sizeof(r), IFLA_IFNAME, o.name, strlen(o.name) + 1);
	if (o.has_mtu)
		add_u32(&r.n, sizeof(r), IFLA_MTU, o.mtu);
	put_linkinfo(&r.n, sizeof(r), kind, &o);
	nl_talk(&r.n);
	return 0;
}

static const char *name_arg(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[0], "name"))
		return argv[1];
	if (argc == 1)
		return argv[0];
	usage();
	return NULL;
}

static int cmd_del(int argc, char **argv)
{
	const char *name = name_arg(argc, argv);
	struct request r;
	char kind[16] = "";

	if (!for_each_link(name, kind_cb, kind))
		die("%s is not an eoip or eoipv6 link", name);
	init_request(&r, RTM_DELLINK, 0);
	add_attr(&r.n, sizeof(r), IFLA_IFNAME, name, strlen(name) + 1);
	nl_talk(&r.n);
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	const char *name = argc ? name_arg(argc, argv) : NULL;

	if (!for_each_link(name, print_cb, NULL) && name)
		die("%s is not an eoip or eoipv6 link", name);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "list";

	argc = argc > 1 ? argc - 2 : 0;
	argv += 2;
	if (!strcmp(cmd, "add"))
		return cmd_add(argc, argv);
	if (!strcmp(cmd, "change") || !strcmp(cmd, "set"))
		return cmd_change(argc, argv);
	if (!strcmp(cmd, "del") || !strcmp(cmd, "delete"))
		return cmd_del(argc, argv);
	if (!strcmp(cmd, "list") || !strcmp(cmd, "show"))
		return cmd_list(argc, argv);
	if (!strcmp(cmd, "version")) {
		printf("eoipctl %s\n", EOIPCTL_VERSION);
		return 0;
	}
	usage();
	return 1;
}
