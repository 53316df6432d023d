// SPDX-License-Identifier: MIT
/*
 * pktgen-burst: run one pktgen burst between two instruction-count marks.
 *
 *   pktgen-burst DEV COUNT     e.g. pktgen-burst dummy0 30000
 *
 * Writes "count COUNT" to /proc/net/pktgen/DEV (which also resets its Result
 * line to "OK: count=..."), executes the icount plugin's "begin" mark, starts
 * pktgen, waits for the device's result, then executes the "end" mark, in one
 * process: between the marks the guest runs the burst, one write(2) and
 * (usually) one read of the result.  Without the plugin the marks are plain
 * no-ops.
 *
 * The wait: writing "start" to pgctrl normally returns when the burst is
 * over, but pktgen gives its thread 125 ms of guest time to pick the start
 * up, and under emulation that is sometimes not enough: the write returns
 * before the burst began.  So the result line decides: a finished burst reads
 * "Result: OK: <usec>(c...".  Exit status 0 on success, 1 on failure.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* nopl 0x46570001(%rax) and nopl 0x46570002(%rax): see icount.c. */
static inline void mark_begin(void)
{
	__asm__ volatile(".byte 0x0f, 0x1f, 0x80, 0x01, 0x00, 0x57, 0x46" ::: "memory");
}

static inline void mark_end(void)
{
	__asm__ volatile(".byte 0x0f, 0x1f, 0x80, 0x02, 0x00, 0x57, 0x46" ::: "memory");
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* 1 if the device's result line says a burst finished, 0 if not, -1 on error. */
static int finished(const char *path)
{
	static char buf[8192];
	const char *r;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	r = strstr(buf, "Result: OK: ");
	return r && r[12] >= '0' && r[12] <= '9';
}

int main(int argc, char **argv)
{
	char dev[256], cmd[64];
	int i, done = 0, err;

	if (argc != 3 || strchr(argv[1], '/')) {
		fprintf(stderr, "usage: pktgen-burst DEV COUNT\n");
		return 1;
	}
	snprintf(dev, sizeof(dev), "/proc/net/pktgen/%s", argv[1]);
	snprintf(cmd, sizeof(cmd), "count %lu\n", strtoul(argv[2], NULL, 10));
	if (write_str(dev, cmd)) {
		perror("pktgen-burst: count");
		return 1;
	}
	mark_begin();
	err = write_str("/proc/net/pktgen/pgctrl", "start\n");
	/* At most 10 minutes: 30000 polls of 20 ms. */
	for (i = 0; !err && i < 30000; i++) {
		done = finished(dev);
		if (done)
			break;
		usleep(20000);
	}
	mark_end();
	if (err) {
		perror("pktgen-burst: start");
		return 1;
	}
	if (done != 1) {
		fprintf(stderr, "pktgen-burst: no result from %s\n", dev);
		return 1;
	}
	return 0;
}
