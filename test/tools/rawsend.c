// SPDX-License-Identifier: MIT
/*
 * rawsend: send hand-built Ethernet frames from one interface through an
 * AF_PACKET socket, for ffwall's traffic tests.  Frames the ordinary socket
 * API will not produce: 802.1Q tags in the payload (one, or two for QinQ),
 * IPv6 extension headers, lone fragments, truncated IP headers.
 *
 *   rawsend -i IFACE --dst-mac MAC --src ADDR --dst ADDR [options]
 *
 *   --src-mac MAC       source MAC (default: the interface's)
 *   --vlan VID          add an 802.1Q tag; give it twice for QinQ (outer first)
 *   --outer-tpid HEX    TPID of the outer tag of two (default 0x88a8)
 *   --proto P           tcp (a SYN), udp or icmp (echo request); default tcp
 *   --sport N --dport N ports for tcp and udp (default 40000 and 25)
 *   --hbh --dstopt --rthdr   IPv6 hop-by-hop, destination options and a type 0
 *                       routing header (segments left 0), in that order
 *   --frag OFF          a fragment at OFF 8-byte units: IPv4 fragment fields,
 *                       or an IPv6 fragment header after the others.  Offset 0
 *                       carries the L4 header; OFF > 0 carries only data
 *   --mf                set the more-fragments flag
 *   --id N              IPv4 identification / IPv6 fragment id (default 1)
 *   --payload N         bytes of data after the L4 header (default 0)
 *   --truncate N        keep only N bytes after the Ethernet and VLAN headers
 *   --count N           send the frame N times (default 1)
 *
 * The address family follows --src and --dst.  Checksums (IPv4 header, TCP,
 * UDP, ICMP, ICMPv6) are computed over what is sent.  Exit status 0 when
 * every frame was sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_MAX 2048

static void die(const char *msg)
{
	fprintf(stderr, "rawsend: %s\n", msg);
	exit(2);
}

static unsigned long num(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > max) {
		fprintf(stderr, "rawsend: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		die("bad MAC address");
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			die("bad MAC address");
		mac[i] = (uint8_t)b[i];
	}
}

/* One's-complement sum, folded later. */
static uint32_t sum16(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

struct opts {
	const char *ifname;
	uint8_t src_mac[6], dst_mac[6];
	int have_src_mac, have_dst_mac;
	unsigned int vlans[2];
	int nvlan;
	uint16_t outer_tpid;
	int family;
	uint8_t src[16], dst[16];
	int proto;
	uint16_t sport, dport;
	int hbh, dstopt, rthdr;
	int frag;		/* -1: not a fragment */
	int mf;
	uint32_t id;
	size_t payload;
	long truncate;		/* -1: whole frame */
	unsigned long count;
};

static void parse_addr(struct opts *o, const char *s, uint8_t *out)
{
	int fam = strchr(s, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(fam, s, out) != 1)
		die("bad IP address");
	if (o->family && o->family != fam)
		die("--src and --dst must be of one family");
	o->family = fam;
}

/*
 * The L4 part: a header with its data, or, for a non-first fragment, data
 * only.  The checksum uses the pseudo-header of the final destination.
 */
static size_t build_l4(const struct opts *o, uint8_t *p, int *ipproto)
{
	size_t hlen, len;
	uint32_t sum = 0;
	uint8_t ph[40];
	int csum_off;

	switch (o->proto) {
	case IPPROTO_TCP:
		hlen = 20;
		break;
	case IPPROTO_UDP:
		hlen = 8;
		break;
	default:
		hlen = 8;
		break;
	}
	*ipproto = o->proto == IPPROTO_ICMP && o->family == AF_INET6 ? IPPROTO_ICMPV6 : o->proto;
	if (o->frag > 0) {
		/* Only data: what follows the L4 header in the datagram. */
		len = o->payload ? o->payload : 16;
		memset(p, 0xa5, len);
		return len;
	}
	len = hlen + o->payload;
	/* A fragment that is not the last carries a multiple of 8 bytes. */
	if (o->mf)
		len = (len + 7) & ~(size_t)7;
	memset(p, 0, hlen);
	memset(p + hlen, 0x5a, len - hlen);
	switch (o->proto) {
	case IPPROTO_TCP:
		put16(p, o->sport);
		put16(p + 2, o->dport);
		put32(p + 4, 0x10000001);	/* sequence number */
		p[12] = 5 << 4;			/* data offset */
		p[13] = 0x02;			/* SYN */
		put16(p + 14, 64240);		/* window */
		csum_off = 16;
		break;
	case IPPROTO_UDP:
		put16(p, o->sport);
		put16(p + 2, o->dport);
		put16(p + 4, (uint16_t)len);
		csum_off = 6;
		break;
	default:
		p[0] = o->family == AF_INET6 ? 128 : 8;	/* echo request */
		put16(p + 4, 0x4646);
		put16(p + 6, 1);
		csum_off = 2;
		break;
	}
	if (*ipproto != IPPROTO_ICMP) {
		int alen = o->family == AF_INET6 ? 16 : 4;

		memcpy(ph, o->src, alen);
		memcpy(ph + alen, o->dst, alen);
		sum = sum16(0, ph, 2 * alen);
		sum += (uint32_t)*ipproto + (uint32_t)len;
	}
	sum = sum16(sum, p, len);
	put16(p + csum_off, fold(sum) ? fold(sum) : (o->proto == IPPROTO_UDP ? 0xffff : 0));
	return len;
}

/* An 8-byte options header (hop-by-hop or destination) holding one PadN. */
static size_t opt_hdr(uint8_t *p, uint8_t next)
{
	memset(p, 0, 8);
	p[0] = next;
	p[1] = 0;	/* (1 + 0) * 8 bytes */
	p[2] = 1;	/* PadN */
	p[3] = 4;
	return 8;
}

static size_t build_ipv6(const struct opts *o, uint8_t *p)
{
	uint8_t *nexthdr, *h = p + 40;
	size_t l4len;
	int ipproto;

	memset(p, 0, 40);
	p[0] = 0x60;
	p[7] = 64;	/* hop limit */
	memcpy(p + 8, o->src, 16);
	memcpy(p + 24, o->dst, 16);
	nexthdr = p + 6;
	/* The next-header values are filled in as each header is appended. */
	if (o->hbh) {
		*nexthdr = 0;
		h += opt_hdr(h, 0);
		nexthdr = h - 8;
	}
	if (o->dstopt) {
		*nexthdr = 60;
		h += opt_hdr(h, 0);
		nexthdr = h - 8;
	}
	if (o->rthdr) {
		*nexthdr = 43;
		memset(h, 0, 24);
		h[1] = 2;	/* one address: (1 + 2) * 8 bytes */
		h[2] = 0;	/* type 0 */
		h[3] = 0;	/* segments left */
		memcpy(h + 8, o->dst, 16);
		nexthdr = h;
		h += 24;
	}
	if (o->frag >= 0) {
		*nexthdr = 44;
		memset(h, 0, 8);
		put16(h + 2, (uint16_t)(o->frag << 3 | (o->mf ? 1 : 0)));
		put32(h + 4, o->id);
		nexthdr = h;
		h += 8;
	}
	l4len = build_l4(o, h, &ipproto);
	*nexthdr = (uint8_t)ipproto;
	put16(p + 4, (uint16_t)(h + l4len - (p + 40)));
	return h + l4len - p;
}

static size_t build_ipv4(const struct opts *o, uint8_t *p)
{
	uint16_t frag = 0;
	size_t l4len;
	int ipproto;

	l4len = build_l4(o, p + 20, &ipproto);
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(20 + l4len));
	put16(p + 4, (uint16_t)o->id);
	if (o->frag >= 0)
		frag = (uint16_t)o->frag;
	if (o->mf)
		frag |= 0x2000;
	put16(p + 6, frag);
	p[8] = 64;
	p[9] = (uint8_t)ipproto;
	memcpy(p + 12, o->src, 4);
	memcpy(p + 16, o->dst, 4);
	put16(p + 10, fold(sum16(0, p, 20)));
	return 20 + l4len;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "src-mac", required_argument, NULL, 'S' },
		{ "dst-mac", required_argument, NULL, 'D' },
		{ "vlan", required_argument, NULL, 'v' },
		{ "outer-tpid", required_argument, NULL, 'T' },
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "proto", required_argument, NULL, 'p' },
		{ "sport", required_argument, NULL, 'x' },
		{ "dport", required_argument, NULL, 'y' },
		{ "hbh", no_argument, NULL, 'H' },
		{ "dstopt", no_argument, NULL, 'O' },
		{ "rthdr", no_argument, NULL, 'R' },
		{ "frag", required_argument, NULL, 'f' },
		{ "mf", no_argument, NULL, 'm' },
		{ "id", required_argument, NULL, 'I' },
		{ "payload", required_argument, NULL, 'P' },
		{ "truncate", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = {
		.outer_tpid = 0x88a8, .proto = IPPROTO_TCP, .sport = 40000, .dport = 25,
		.frag = -1, .id = 1, .truncate = -1, .count = 1,
	};
	uint8_t frame[FRAME_MAX], *p;
	struct sockaddr_ll sll;
	int c, fd, have_src = 0, have_dst = 0, i;
	size_t len, l3len;
	unsigned long n;
	struct ifreq ifr;

	while ((c = getopt_long(argc, argv, "i:", lopts, NULL)) != -1) {
		switch (c) {
		case 'i': o.ifname = optarg; break;
		case 'S': parse_mac(optarg, o.src_mac); o.have_src_mac = 1; break;
		case 'D': parse_mac(optarg, o.dst_mac); o.have_dst_mac = 1; break;
		case 'v':
			if (o.nvlan == 2)
				die("at most two --vlan tags");
			o.vlans[o.nvlan++] = (unsigned int)num(optarg, 4095, "VLAN id");
			break;
		case 'T': o.outer_tpid = (uint16_t)num(optarg, 0xffff, "TPID"); break;
		case 's': parse_addr(&o, optarg, o.src); have_src = 1; break;
		case 'd': parse_addr(&o, optarg, o.dst); have_dst = 1; break;
		case 'p':
			if (!strcmp(optarg, "tcp"))
				o.proto = IPPROTO_TCP;
			else if (!strcmp(optarg, "udp"))
				o.proto = IPPROTO_UDP;
			else if (!strcmp(optarg, "icmp"))
				o.proto = IPPROTO_ICMP;
			else
				die("--proto is tcp, udp or icmp");
			break;
		case 'x': o.sport = (uint16_t)num(optarg, 65535, "port"); break;
		case 'y': o.dport = (uint16_t)num(optarg, 65535, "port"); break;
		case 'H': o.hbh = 1; break;
		case 'O': o.dstopt = 1; break;
		case 'R': o.rthdr = 1; break;
		case 'f': o.frag = (int)num(optarg, 8191, "fragment offset"); break;
		case 'm': o.mf = 1; break;
		case 'I': o.id = (uint32_t)num(optarg, 0xffffffffUL, "id"); break;
		case 'P': o.payload = num(optarg, 1400, "payload length"); break;
		case 't': o.truncate = (long)num(optarg, FRAME_MAX, "truncate length"); break;
		case 'c': o.count = num(optarg, 1000000, "count"); break;
		default:
			fprintf(stderr, "usage: rawsend -i IFACE --dst-mac MAC --src ADDR --dst ADDR [options]\n");
			return 2;
		}
	}
	if (!o.ifname || !o.have_dst_mac || !have_src || !have_dst)
		die("-i, --dst-mac, --src and --dst are required");
	if (o.family == AF_INET && (o.hbh || o.dstopt || o.rthdr))
		die("extension headers are IPv6 only");

	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("rawsend: socket(AF_PACKET)");
		return 1;
	}
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(o.ifname) >= sizeof(ifr.ifr_name))
		die("interface name too long");
	strcpy(ifr.ifr_name, o.ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		perror("rawsend: SIOCGIFINDEX");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifr.ifr_ifindex;
	sll.sll_halen = ETH_ALEN;
	memcpy(sll.sll_addr, o.dst_mac, ETH_ALEN);
	if (!o.have_src_mac) {
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
			perror("rawsend: SIOCGIFHWADDR");
			return 1;
		}
		memcpy(o.src_mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	}

	memset(frame, 0, sizeof(frame));
	memcpy(frame, o.dst_mac, 6);
	memcpy(frame + 6, o.src_mac, 6);
	p = frame + 12;
	for (i = 0; i < o.nvlan; i++) {
		put16(p, o.nvlan == 2 && i == 0 ? o.outer_tpid : ETH_P_8021Q);
		put16(p + 2, (uint16_t)o.vlans[i]);
		p += 4;
	}
	put16(p, o.family == AF_INET6 ? ETH_P_IPV6 : ETH_P_IP);
	p += 2;
	l3len = o.family == AF_INET6 ? build_ipv6(&o, p) : build_ipv4(&o, p);
	if (o.truncate >= 0 && (size_t)o.truncate < l3len)
		l3len = (size_t)o.truncate;
	len = (size_t)(p - frame) + l3len;

	for (n = 0; n < o.count; n++) {
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) != (ssize_t)len) {
			perror("rawsend: sendto");
			return 1;
		}
	}
	close(fd);
	return 0;
}
