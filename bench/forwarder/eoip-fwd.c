/*
 * The baseline of bench/userland.mjs: a minimal EoIP forwarder of the classic
 * design of the C userland EoIP tools. One packet per syscall, blocking I/O,
 * no batching, no offloads: a tap and a raw IPv4 socket (protocol 47), one
 * thread per direction.
 *
 *   eoip-fwd TAP LOCAL REMOTE TUNNEL_ID
 *
 * tap -> wire: read() a frame, put the 8-byte EoIP header before it,
 *              sendto() the remote (the kernel adds the IPv4 header and
 *              fragments).
 * wire -> tap: recvfrom() a packet, accept it when it comes from the remote
 *              and carries the EoIP magic and our tunnel id, write() the
 *              frame. Keepalives (frame length 0) are answered by nothing:
 *              the benchmark runs both ends with keepalives off.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define EOIP_HEADER 8
#define MAX_PACKET 65536

static int tap_fd;
static int raw_fd;
static struct sockaddr_in remote;
static uint16_t tunnel_id;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void *tap_to_wire(void *arg) {
  (void)arg;
  static uint8_t buf[MAX_PACKET];
  for (;;) {
    ssize_t n = read(tap_fd, buf + EOIP_HEADER, sizeof(buf) - EOIP_HEADER);
    if (n < 0) die("read tap");
    buf[0] = 0x20;
    buf[1] = 0x01;
    buf[2] = 0x64;
    buf[3] = 0x00;
    buf[4] = (uint8_t)(n >> 8);
    buf[5] = (uint8_t)n;
    buf[6] = (uint8_t)tunnel_id; /* little-endian, as RouterOS sends it */
    buf[7] = (uint8_t)(tunnel_id >> 8);
    /* A full socket buffer drops the frame, as a NIC would. */
    (void)sendto(raw_fd, buf, (size_t)n + EOIP_HEADER, 0, (struct sockaddr *)&remote, sizeof(remote));
  }
  return NULL;
}

static void *wire_to_tap(void *arg) {
  (void)arg;
  static uint8_t buf[MAX_PACKET];
  for (;;) {
    struct sockaddr_in from;
    socklen_t fromlen = sizeof(from);
    ssize_t n = recvfrom(raw_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
    if (n < 0) die("recvfrom");
    if (n < 20 || from.sin_addr.s_addr != remote.sin_addr.s_addr) continue;
    size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
    if ((size_t)n < ihl + EOIP_HEADER) continue;
    const uint8_t *h = buf + ihl;
    if (h[0] != 0x20 || h[1] != 0x01 || h[2] != 0x64 || h[3] != 0x00) continue;
    if ((uint16_t)(h[6] | (h[7] << 8)) != tunnel_id) continue;
    size_t len = (size_t)((h[4] << 8) | h[5]);
    if (len == 0 || len > (size_t)n - ihl - EOIP_HEADER) continue;
    (void)write(tap_fd, h + EOIP_HEADER, len);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s TAP LOCAL REMOTE TUNNEL_ID\n", argv[0]);
    return 2;
  }
  tap_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tap_fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(tap_fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");

  raw_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 47);
  if (raw_fd < 0) die("socket");
  struct sockaddr_in local;
  memset(&local, 0, sizeof(local));
  local.sin_family = AF_INET;
  if (inet_pton(AF_INET, argv[2], &local.sin_addr) != 1) die("LOCAL");
  if (bind(raw_fd, (struct sockaddr *)&local, sizeof(local)) < 0) die("bind");
  memset(&remote, 0, sizeof(remote));
  remote.sin_family = AF_INET;
  if (inet_pton(AF_INET, argv[3], &remote.sin_addr) != 1) die("REMOTE");
  tunnel_id = (uint16_t)atoi(argv[4]);

  fprintf(stderr, "eoip-fwd: %s tid %u ready\n", ifr.ifr_name, tunnel_id);
  pthread_t rx;
  if (pthread_create(&rx, NULL, wire_to_tap, NULL) != 0) die("pthread_create");
  tap_to_wire(NULL);
  return 0;
}
