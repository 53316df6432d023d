// SPDX-License-Identifier: MIT
/*
 * pktgen-burst: run one pktgen burst between two instruction-count marks.
 *
 *   pktgen-burst            writes "start" to /proc/net/pktgen/pgctrl
 *
 * Executes the icount plugin's "begin" mark, starts pktgen (the write
 * returns when every configured device has sent its count), then the "end"
 * mark, in one process, so that between the marks the guest runs the burst
 * and one write(2) only.  Without the plugin the marks are plain no-ops.
 * Exit status 0 on success, 1 on failure.
 */
#include <fcntl.h>
#include <stdio.h>
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

int main(void)
{
	static const char cmd[] = "start\n";
	int fd = open("/proc/net/pktgen/pgctrl", O_WRONLY);
	ssize_t n;

	if (fd < 0) {
		perror("pktgen-burst: pgctrl");
		return 1;
	}
	mark_begin();
	n = write(fd, cmd, strlen(cmd));
	mark_end();
	if (n < 0) {
		perror("pktgen-burst: start");
		return 1;
	}
	close(fd);
	return 0;
}
