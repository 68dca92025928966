// SPDX-License-Identifier: GPL-2.0
/*
 * pkt: the guest test's packet tool (the initramfs has no tcpdump or scapy).
 *
 *   pkt cap IFNAME PROTO COUNT TIMEOUT_MS
 *   pkt cap raw4 PROTO COUNT TIMEOUT_MS
 *   pkt send DST PROTO HEX
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
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "send"))
		return send_packet(argv[2], atoi(argv[3]), argv[4]);
	if (argc >= 2 && !strcmp(argv[1], "cap"))
		return capture(argc - 1, argv + 1);
	fprintf(stderr, "usage: pkt cap IFNAME|raw4 PROTO COUNT TIMEOUT_MS\n"
			"       pkt send DST PROTO HEX\n");
	return 1;
}
