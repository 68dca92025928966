// SPDX-License-Identifier: GPL-2.0
/*
 * pkt: the guest test's packet tool (the initramfs has no tcpdump or scapy).
 *
 *   pkt cap IFNAME PROTO COUNT TIMEOUT_MS
 *   pkt cap raw4 PROTO COUNT TIMEOUT_MS
 *   pkt send DST PROTO HEX
 *   pkt features IFNAME [FEATURE on|off]...
 *   pkt udp-gso DST PORT SEGMENT LENGTH
 *
 * cap:
 * Prints up to COUNT packets seen on IFNAME whose IPv4 protocol or IPv6 next
 * header is PROTO (IPv6: also behind a fragment header), one line each:
 * `in|out HEX` with HEX from the IP header on. Exits when COUNT were printed
 * or TIMEOUT_MS after it started. Prints `pktcap: listening` on stderr once
 * the socket is bound. Static, plain libc.
 *
 * `raw4` reads an IPv4 raw socket instead: it sees only what the IPv4 stack
 * delivered, i.e. what netfilter's LOCAL_IN hooks (eoip.ko's) let through.
 *
 * send: sends HEX as the payload of one IPv4 or IPv6 packet (by DST's family)
 * with protocol / next header PROTO through a raw socket; the kernel writes
 * the IP header. For hand-made EoIP packets the modules must judge.
 *
 * features: sets the offload features named (sg, tx-csum, tso, gso), then
 * prints all four, `sg on tx-csum on tso on gso on`, as `ethtool -k` would
 * (the initramfs has no ethtool). The legacy SIOCETHTOOL requests: a feature
 * the device does not list in hw_features cannot be set (EOPNOTSUPP).
 *
 * udp-gso: sends LENGTH bytes to DST:PORT in one sendto() with UDP_SEGMENT
 * SEGMENT: one UDP GSO superpacket, LENGTH / SEGMENT datagrams on the wire.
 */
#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int matches(const unsigned char *p, size_t len, int ethertype, int proto)
{
	if (ethertype == ETH_P_IP)
		return len >= 20 && (p[0] >> 4) == 4 && p[9] == proto;
	if (ethertype != ETH_P_IPV6 || len < 40 || (p[0] >> 4) != 6)
		return 0;
	if (p[6] == proto)
		return 1;
	return p[6] == 44 && len >= 48 && p[40] == proto;	/* fragment header */
}

static int send_packet(const char *dst, int proto, const char *hex)
{
	unsigned char buf[65536];
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	size_t n = strlen(hex) / 2;
	int fd, v6 = strchr(dst, ':') != NULL;

	if (strlen(hex) % 2 || n > sizeof(buf)) {
		fprintf(stderr, "pkt: bad hex\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &buf[i]) != 1) {
			fprintf(stderr, "pkt: bad hex\n");
			return 1;
		}
	if (v6 ? inet_pton(AF_INET6, dst, &sin6.sin6_addr) != 1 : inet_pton(AF_INET, dst, &sin.sin_addr) != 1) {
		fprintf(stderr, "pkt: bad address %s\n", dst);
		return 1;
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, proto);
	if (fd < 0) {
		perror("raw socket");
		return 1;
	}
	if (sendto(fd, buf, n, 0, v6 ? (struct sockaddr *)&sin6 : (struct sockaddr *)&sin,
		   v6 ? sizeof(sin6) : sizeof(sin)) != (ssize_t)n) {
		perror("sendto");
		return 1;
	}
	close(fd);
	return 0;
}

static int capture(int argc, char **argv)
{
	unsigned char buf[70000];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd, proto, count, raw = 0, printed = 0;
	long deadline;

	if (argc != 5) {
		fprintf(stderr, "usage: pkt cap IFNAME|raw4 PROTO COUNT TIMEOUT_MS\n");
		return 1;
	}
	proto = atoi(argv[2]);
	count = atoi(argv[3]);
	deadline = now_ms() + atol(argv[4]);
	if (!strcmp(argv[1], "raw4")) {
		raw = 1;
		fd = socket(AF_INET, SOCK_RAW, proto);
		if (fd < 0) {
			perror("raw socket");
			return 1;
		}
	} else {
		sll.sll_ifindex = if_nametoindex(argv[1]);
		if (!sll.sll_ifindex) {
			perror(argv[1]);
			return 1;
		}
		/* Cooked mode: the link header is stripped, the sockaddr carries the ethertype. */
		fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
		if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			perror("packet socket");
			return 1;
		}
	}
	/* Ready: the caller may start traffic. */
	fprintf(stderr, "pkt: listening on %s\n", argv[1]);
	while (printed < count && now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll from = { .sll_protocol = htons(ETH_P_IP), .sll_pkttype = PACKET_HOST };
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
			break;
		/* A raw socket's sockaddr is a sockaddr_in: keep the defaults above. */
		n = raw ? recv(fd, buf, sizeof(buf), 0)
			: recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0 || !matches(buf, n, ntohs(from.sll_protocol), proto))
			continue;
		printf("%s ", from.sll_pkttype == PACKET_OUTGOING ? "out" : "in");
		for (ssize_t i = 0; i < n; i++)
			printf("%02x", buf[i]);
		printf("\n");
		fflush(stdout);
		printed++;
	}
	close(fd);
	return 0;
}

static const struct feature {
	const char *name;
	__u32 get, set;
} features[] = {
	{ "sg", ETHTOOL_GSG, ETHTOOL_SSG },
	{ "tx-csum", ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM },
	{ "tso", ETHTOOL_GTSO, ETHTOOL_STSO },
	{ "gso", ETHTOOL_GGSO, ETHTOOL_SGSO },
};
#define N_FEATURES (sizeof(features) / sizeof(features[0]))

/* One legacy ethtool request on IFNAME: reads or writes *value. */
static int ethtool_value(int fd, const char *ifname, __u32 cmd, __u32 *value)
{
	struct ethtool_value ev = { .cmd = cmd, .data = *value };
	struct ifreq ifr = { .ifr_data = (char *)&ev };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		return -1;
	*value = ev.data;
	return 0;
}

static int offload_features(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	__u32 v;

	if (fd < 0) {
		perror("socket");
		return 1;
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		size_t f = 0;

		while (f < N_FEATURES && strcmp(features[f].name, argv[i]))
			f++;
		if (f == N_FEATURES || (strcmp(argv[i + 1], "on") && strcmp(argv[i + 1], "off"))) {
			fprintf(stderr, "pkt: bad feature setting %s %s\n", argv[i], argv[i + 1]);
			return 1;
		}
		v = !strcmp(argv[i + 1], "on");
		if (ethtool_value(fd, argv[0], features[f].set, &v) < 0) {
			perror(argv[i]);
			return 1;
		}
	}
	for (size_t f = 0; f < N_FEATURES; f++) {
		v = 0;
		if (ethtool_value(fd, argv[0], features[f].get, &v) < 0) {
			perror(features[f].name);
			return 1;
		}
		printf("%s%s %s", f ? " " : "", features[f].name, v ? "on" : "off");
	}
	printf("\n");
	close(fd);
	return 0;
}

static int send_udp_gso(const char *dst, int port, int segment, int length)
{
	static unsigned char buf[65000];
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, v6 = strchr(dst, ':') != NULL;

	if (length < 0 || length > (int)sizeof(buf)) {
		fprintf(stderr, "pkt: bad length %d\n", length);
		return 1;
	}
	for (int i = 0; i < length; i++)
		buf[i] = (unsigned char)(i * 7);
	if (v6 ? inet_pton(AF_INET6, dst, &sin6.sin6_addr) != 1 : inet_pton(AF_INET, dst, &sin.sin_addr) != 1) {
		fprintf(stderr, "pkt: bad address %s\n", dst);
		return 1;
	}
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &segment, sizeof(segment)) < 0) {
		perror("UDP_SEGMENT");
		return 1;
	}
	if (sendto(fd, buf, length, 0, v6 ? (struct sockaddr *)&sin6 : (struct sockaddr *)&sin,
		   v6 ? sizeof(sin6) : sizeof(sin)) != length) {
		perror("sendto");
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "send"))
		return send_packet(argv[2], atoi(argv[3]), argv[4]);
	if (argc >= 2 && !strcmp(argv[1], "cap"))
		return capture(argc - 1, argv + 1);
	if (argc >= 3 && argc % 2 == 1 && !strcmp(argv[1], "features"))
		return offload_features(argc - 2, argv + 2);
	if (argc == 6 && !strcmp(argv[1], "udp-gso"))
		return send_udp_gso(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: pkt cap IFNAME|raw4 PROTO COUNT TIMEOUT_MS\n"
			"       pkt send DST PROTO HEX\n"
			"       pkt features IFNAME [FEATURE on|off]...\n"
			"       pkt udp-gso DST PORT SEGMENT LENGTH\n");
	return 1;
}
