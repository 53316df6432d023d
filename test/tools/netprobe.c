// SPDX-License-Identifier: MIT
/*
 * netprobe: does a packet from here reach a host, and does its answer come
 * back?  For the guest's traffic tests, where one run must be fast (no Node
 * start-up per probe) and needs no listener on the far side:
 *
 *   netprobe [-s SRC] [-t MS] tcp  ADDR PORT   SYN; a SYN-ACK or a RST counts
 *   netprobe [-s SRC] [-t MS] udp  ADDR PORT   datagram; ICMP unreachable or a reply counts
 *   netprobe [-s SRC] [-t MS] ping ADDR        ICMP/ICMPv6 echo; the echo reply counts
 *
 * Exit status: 0 reached, 1 no answer within the timeout (dropped), 2 error.
 * ADDR may be IPv4 or IPv6.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int timeout_ms = 1000;

static void usage(void)
{
	fprintf(stderr, "usage: netprobe [-s SRC] [-t MS] tcp|udp ADDR PORT | ping ADDR\n");
	exit(2);
}

static int parse_addr(const char *s, unsigned short port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return AF_INET6;
	}
	fprintf(stderr, "netprobe: bad address '%s'\n", s);
	exit(2);
}

static int wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		perror("netprobe: poll");
		exit(2);
	}
	return n;
}

static int open_bound(int family, int type, int proto, const char *src)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC, proto);

	if (fd < 0) {
		perror("netprobe: socket");
		exit(2);
	}
	if (src) {
		if (parse_addr(src, 0, &ss, &len) != family) {
			fprintf(stderr, "netprobe: source and destination families differ\n");
			exit(2);
		}
		if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
			perror("netprobe: bind");
			exit(2);
		}
	}
	return fd;
}

static int probe_tcp(const char *dst, unsigned short port, const char *src)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family = parse_addr(dst, port, &ss, &len);
	int fd = open_bound(family, SOCK_STREAM | SOCK_NONBLOCK, 0, src);
	int err = 0;
	socklen_t elen = sizeof(err);

	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return 0;
	if (errno == ECONNREFUSED)
		return 0;
	if (errno != EINPROGRESS) {
		perror("netprobe: connect");
		return 2;
	}
	if (wait_for(fd, POLLOUT) == 0)
		return 1;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err == 0 || err == ECONNREFUSED)
		return 0;
	fprintf(stderr, "netprobe: connect: %s\n", strerror(err));
	return err == ETIMEDOUT || err == EHOSTUNREACH ? 1 : 2;
}

static int probe_udp(const char *dst, unsigned short port, const char *src)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family = parse_addr(dst, port, &ss, &len);
	int fd = open_bound(family, SOCK_DGRAM, 0, src);
	char buf[64] = "netprobe";

	if (connect(fd, (struct sockaddr *)&ss, len) < 0 || send(fd, buf, 8, 0) < 0) {
		perror("netprobe: send");
		return 2;
	}
	if (wait_for(fd, POLLIN) == 0)
		return 1;
	/* A reply, or the ICMP error that a closed port answers with. */
	if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0 || errno == ECONNREFUSED)
		return 0;
	perror("netprobe: recv");
	return 2;
}

static unsigned short csum(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned long sum = 0;

	for (; len > 1; len -= 2, p += 2)
		sum += (p[0] << 8) | p[1];
	if (len)
		sum += p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

static int probe_ping(const char *dst, const char *src)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int family = parse_addr(dst, 0, &ss, &len);
	int v6 = family == AF_INET6;
	int fd = open_bound(family, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, src);
	unsigned short id = (unsigned short)getpid();
	unsigned char pkt[64], buf[1500];
	struct timespec start, now;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[4] = id >> 8;
	pkt[5] = id & 0xff;
	pkt[7] = 1;
	memcpy(pkt + 8, "netprobe", 8);
	if (!v6) {
		unsigned short c = csum(pkt, sizeof(pkt));

		memcpy(pkt + 2, &c, 2);
	}
	if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&ss, len) < 0) {
		perror("netprobe: sendto");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		ssize_t n;
		unsigned char *icmp = buf;
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= timeout_ms)
			return 1;
		timeout_ms -= (int)waited;
		start = now;
		if (wait_for(fd, POLLIN) == 0)
			return 1;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			continue;
		if (!v6) {
			/* IPv4 raw sockets deliver the IP header too. */
			size_t hl = (buf[0] & 0x0f) * 4;

			if ((size_t)n < hl + 8)
				continue;
			icmp = buf + hl;
			n -= hl;
		}
		if (n >= 8 && icmp[0] == (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) &&
		    icmp[4] == (id >> 8) && icmp[5] == (id & 0xff))
			return 0;
	}
}

int main(int argc, char **argv)
{
	const char *src = NULL;
	int c;

	while ((c = getopt(argc, argv, "s:t:")) != -1) {
		switch (c) {
		case 's':
			src = optarg;
			break;
		case 't':
			timeout_ms = atoi(optarg);
			if (timeout_ms <= 0)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 3 && !strcmp(argv[0], "tcp"))
		return probe_tcp(argv[1], (unsigned short)atoi(argv[2]), src);
	if (argc == 3 && !strcmp(argv[0], "udp"))
		return probe_udp(argv[1], (unsigned short)atoi(argv[2]), src);
	if (argc == 2 && !strcmp(argv[0], "ping"))
		return probe_ping(argv[1], src);
	usage();
	return 2;
}
