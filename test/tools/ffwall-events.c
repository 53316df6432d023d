// SPDX-License-Identifier: MIT
/*
 * ffwall-events: checks of the event side of /dev/ffwall (read() and poll())
 * for the guest tests, and a reader that prints records.
 *
 *   ffwall-events [-d DEV] CHECK [ARG]
 *
 * Checks (exit 0 when the kernel behaves as the uapi header says, 1 with a
 * message on stderr otherwise):
 *   feature            VERSION has FFWALL_FEAT_EVENTS
 *   small-read         read() with 0, 1 and sizeof(record) - 1 bytes: EINVAL
 *   nonblock-empty     O_NONBLOCK read() of an empty ring: EAGAIN
 *   poll-empty [MS]    poll() for POLLIN on an empty ring times out
 *   signal-eintr       a blocked read() is interrupted by a signal (EINTR)
 *   signal-restart     with SA_RESTART the read() resumes after the handler
 *   kill-blocked       a reader blocked in read() dies of SIGKILL
 *   write-only         a write-only file: ioctls work, poll() says POLLERR,
 *                      read() fails with EBADF
 *   cycles [N]         N open/close cycles with every access mode
 *   many [N]           N files open at once, then all closed
 *   watch [N] [MS]     print up to N records, one line each, stopping after
 *                      MS ms without one (default: 1, 1000)
 *   watch-at READY GO N MS
 *                      open the ring, create the file READY, wait until the
 *                      file GO exists, then watch N MS: a reader that is
 *                      known to be open before the events, and that reads
 *                      only when told to (a deliberately slow reader)
 *
 * With a DEBUG module, whose debug_raise parameter raises N EVICTED events
 * (value i, address ::ffff:10.x.y.z with x.y.z = i):
 *   deliver N K [RING] K readers, none reading until all N are raised; each
 *                      gets records 0..N-1 in order, every gap announced by
 *                      an OVERFLOW of its exact size; with RING (the ring
 *                      size), exactly RING records then OVERFLOW(N - RING)
 *   wake-read          a reader blocked in read() wakes up for a record
 *   wake-poll          poll() wakes up with POLLIN for a record
 *   efault             read() into a bad buffer fails with EFAULT and loses
 *                      nothing
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "uapi/ffwall.h"

static const char *dev = "/dev/" FFWALL_DEVICE_NAME;

static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "ffwall-events: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	return 1;
}

static int open_dev(int flags)
{
	int fd = open(dev, flags | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "ffwall-events: open %s: %s\n", dev, strerror(errno));
		exit(1);
	}
	return fd;
}

static int check_feature(void)
{
	struct ffwall_version v;
	int fd = open_dev(O_RDWR);

	memset(&v, 0xa5, sizeof(v));
	if (ioctl(fd, FFWALL_IOC_VERSION, &v))
		return fail("VERSION: %s", strerror(errno));
	close(fd);
	if (v.abi_version != FFWALL_ABI_VERSION)
		return fail("abi_version %u, want %u", v.abi_version, FFWALL_ABI_VERSION);
	if (!(v.features & FFWALL_FEAT_EVENTS))
		return fail("features 0x%llx lack FFWALL_FEAT_EVENTS",
			    (unsigned long long)v.features);
	return 0;
}

static int check_small_read(void)
{
	static const size_t lens[] = { 0, 1, sizeof(struct ffwall_event) - 1 };
	char buf[sizeof(struct ffwall_event)];
	int fd = open_dev(O_RDONLY);
	unsigned int i;
	ssize_t n;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		errno = 0;
		n = read(fd, buf, lens[i]);
		if (n != -1 || errno != EINVAL)
			return fail("read of %zu bytes returned %zd (%s), want EINVAL",
				    lens[i], n, strerror(errno));
	}
	close(fd);
	return 0;
}

static int check_nonblock_empty(void)
{
	struct ffwall_event ev[4];
	int fd = open_dev(O_RDONLY | O_NONBLOCK);
	ssize_t n;

	errno = 0;
	n = read(fd, ev, sizeof(ev));
	if (n != -1 || errno != EAGAIN)
		return fail("read returned %zd (%s), want EAGAIN", n, strerror(errno));
	/* Also when O_NONBLOCK is set later with fcntl(). */
	close(fd);
	fd = open_dev(O_RDONLY);
	if (fcntl(fd, F_SETFL, O_NONBLOCK))
		return fail("fcntl: %s", strerror(errno));
	errno = 0;
	n = read(fd, ev, sizeof(ev[0]));
	if (n != -1 || errno != EAGAIN)
		return fail("read after F_SETFL returned %zd (%s), want EAGAIN", n,
			    strerror(errno));
	close(fd);
	return 0;
}

static int check_poll_empty(int ms)
{
	struct pollfd p;
	int fd = open_dev(O_RDONLY);
	int n;

	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	n = poll(&p, 1, ms);
	if (n != 0)
		return fail("poll returned %d, revents 0x%x, want a timeout", n, p.revents);
	/* A zero timeout answers at once, with nothing either. */
	n = poll(&p, 1, 0);
	if (n != 0)
		return fail("poll(0) returned %d, revents 0x%x", n, p.revents);
	close(fd);
	return 0;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void arm_timer(int ms)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

static int check_signal_eintr(void)
{
	struct ffwall_event ev;
	struct sigaction sa;
	int fd = open_dev(O_RDONLY);
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	got_signal = 0;
	arm_timer(300);
	errno = 0;
	n = read(fd, &ev, sizeof(ev));
	if (n != -1 || errno != EINTR || got_signal != SIGALRM)
		return fail("read returned %zd (%s), signal %d, want EINTR after the signal",
			    n, strerror(errno), (int)got_signal);
	close(fd);
	return 0;
}

/*
 * With SA_RESTART the kernel restarts the read after the handler, so the
 * read keeps blocking; a second, non-restarting signal then ends it.
 */
static int check_signal_restart(void)
{
	struct ffwall_event ev;
	struct sigaction sa;
	int fd = open_dev(O_RDONLY);
	struct timespec t0, t1;
	pid_t child;
	ssize_t n;
	long ms;
	int err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, NULL);

	child = fork();
	if (child < 0)
		return fail("fork: %s", strerror(errno));
	if (child == 0) {
		/* Two SIGALRMs (restarted), then SIGUSR1 (interrupts). */
		pid_t parent = getppid();

		usleep(200000);
		kill(parent, SIGALRM);
		usleep(200000);
		kill(parent, SIGALRM);
		usleep(200000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	got_signal = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	n = read(fd, &ev, sizeof(ev));
	err = errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waitpid(child, NULL, 0);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (n != -1 || err != EINTR || got_signal != SIGUSR1 || ms < 500)
		return fail("read returned %zd (%s) after %ld ms, last signal %d, want EINTR after SIGUSR1",
			    n, strerror(err), ms, (int)got_signal);
	close(fd);
	return 0;
}

static int check_kill_blocked(void)
{
	struct ffwall_event ev;
	int status;
	pid_t child;

	child = fork();
	if (child < 0)
		return fail("fork: %s", strerror(errno));
	if (child == 0) {
		int fd = open_dev(O_RDONLY);

		(void)!read(fd, &ev, sizeof(ev));
		_exit(3);
	}
	usleep(300000);
	kill(child, SIGKILL);
	if (waitpid(child, &status, 0) != child)
		return fail("waitpid: %s", strerror(errno));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		return fail("blocked reader: status 0x%x, want killed by SIGKILL", status);
	return 0;
}

static int check_write_only(void)
{
	struct ffwall_version v;
	struct ffwall_event ev;
	struct pollfd p;
	int fd = open_dev(O_WRONLY);
	ssize_t n;

	if (ioctl(fd, FFWALL_IOC_VERSION, &v))
		return fail("VERSION on a write-only file: %s", strerror(errno));
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, 100) != 1 || !(p.revents & POLLERR))
		return fail("poll on a write-only file: revents 0x%x, want POLLERR", p.revents);
	errno = 0;
	n = read(fd, &ev, sizeof(ev));
	if (n != -1 || errno != EBADF)
		return fail("read on a write-only file returned %zd (%s), want EBADF", n,
			    strerror(errno));
	close(fd);
	return 0;
}

static int check_cycles(int n)
{
	static const int modes[] = { O_RDONLY, O_RDWR, O_WRONLY, O_RDONLY | O_NONBLOCK };
	struct ffwall_event ev;
	int i, fd;

	for (i = 0; i < n; i++) {
		fd = open_dev(modes[i % 4]);
		if (modes[i % 4] & O_NONBLOCK) {
			errno = 0;
			if (read(fd, &ev, sizeof(ev)) != -1 || errno != EAGAIN)
				return fail("cycle %d: read: %s", i, strerror(errno));
		}
		if (close(fd))
			return fail("cycle %d: close: %s", i, strerror(errno));
	}
	return 0;
}

static int check_many(int n)
{
	struct pollfd *p = calloc(n, sizeof(*p));
	int i, r;

	if (!p)
		return fail("out of memory");
	for (i = 0; i < n; i++) {
		p[i].fd = open_dev(i % 2 ? O_RDWR : O_RDONLY);
		p[i].events = POLLIN;
	}
	r = poll(p, n, 50);
	if (r != 0)
		return fail("poll over %d empty files returned %d", n, r);
	for (i = 0; i < n; i++)
		close(p[i].fd);
	free(p);
	return 0;
}

#define DEBUG_RAISE "/sys/module/ffwall/parameters/debug_raise"

static int raise_events(unsigned int n)
{
	char buf[32];
	int fd = open(DEBUG_RAISE, O_WRONLY | O_CLOEXEC), len;

	if (fd < 0)
		return fail("open %s: %s", DEBUG_RAISE, strerror(errno));
	len = snprintf(buf, sizeof(buf), "%u\n", n);
	if (write(fd, buf, len) != len)
		return fail("write %s: %s", DEBUG_RAISE, strerror(errno));
	close(fd);
	return 0;
}

/* Is @ev the record debug_raise made for @i? */
static int is_raised(const struct ffwall_event *ev, unsigned int i)
{
	static const unsigned char want_hi[13] = { [10] = 0xff, [11] = 0xff, [12] = 10 };

	return ev->type == FFWALL_EVENT_EVICTED && ev->value == i && ev->prefix_len == 128 &&
	       !ev->flags && ev->time && !memcmp(ev->addr, want_hi, sizeof(want_hi)) &&
	       ev->addr[13] == (unsigned char)(i >> 16) &&
	       ev->addr[14] == (unsigned char)(i >> 8) && ev->addr[15] == (unsigned char)i;
}

static int check_deliver(long n, long k, long ring)
{
	/* 7 records and a bit: read() must return whole records only. */
	char buf[7 * sizeof(struct ffwall_event) + 5];
	struct ffwall_event ev;
	long r, next, records, overflows, last_ovf;
	int *fd = calloc(k, sizeof(*fd));
	ssize_t got, off;

	if (!fd || n < 0 || k < 1)
		return fail("bad arguments");
	for (r = 0; r < k; r++)
		fd[r] = open_dev(O_RDONLY | O_NONBLOCK);
	if (raise_events(n))
		return 1;
	/* debug_raise returns once every record is in the rings. */
	for (r = 0; r < k; r++) {
		next = records = overflows = last_ovf = 0;
		for (;;) {
			got = read(fd[r], buf, sizeof(buf));
			if (got < 0 && errno == EAGAIN)
				break;
			if (got <= 0 || got % sizeof(ev) || got > 7 * (ssize_t)sizeof(ev))
				return fail("reader %ld: read returned %zd (%s)", r, got,
					    got < 0 ? strerror(errno) : "not whole records");
			for (off = 0; off < got; off += sizeof(ev)) {
				memcpy(&ev, buf + off, sizeof(ev));
				if (ev.type == FFWALL_EVENT_OVERFLOW) {
					if (!ev.value || ev.prefix_len != 128 || ev.flags || !ev.time)
						return fail("reader %ld: bad OVERFLOW (value %u)", r,
							    ev.value);
					next += ev.value;
					overflows++;
					last_ovf = records + overflows;
					continue;
				}
				if (!is_raised(&ev, next))
					return fail("reader %ld: record %ld: type %u value %u, want EVICTED %ld",
						    r, records + overflows, ev.type, ev.value, next);
				next++;
				records++;
			}
		}
		if (next != n)
			return fail("reader %ld: %ld records and %ld lost, want %ld in all", r,
				    records, next - records, n);
		if (ring > 0 && n > ring &&
		    (records != ring || overflows != 1 || last_ovf != records + 1))
			return fail("reader %ld: %ld records, %ld OVERFLOWs, want %ld records then one OVERFLOW",
				    r, records, overflows, ring);
		if (ring > 0 && n <= ring && (records != n || overflows))
			return fail("reader %ld: %ld records, %ld OVERFLOWs, want %ld records",
				    r, records, overflows, n);
		close(fd[r]);
	}
	free(fd);
	return 0;
}

/* A child raises @n events after 300 ms. */
static pid_t raise_later(unsigned int n)
{
	pid_t child = fork();

	if (child == 0) {
		usleep(300000);
		_exit(raise_events(n));
	}
	return child;
}

static int check_wake_read(void)
{
	struct ffwall_event ev[10];
	int fd = open_dev(O_RDONLY), status;
	pid_t child = raise_later(3);
	ssize_t n;

	if (child < 0)
		return fail("fork: %s", strerror(errno));
	n = read(fd, ev, sizeof(ev));
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return fail("raising failed");
	if (n < (ssize_t)sizeof(ev[0]) || n % sizeof(ev[0]) || !is_raised(&ev[0], 0))
		return fail("blocked read returned %zd (%s), want record 0 first", n,
			    n < 0 ? strerror(errno) : "wrong record");
	close(fd);
	return 0;
}

static int check_wake_poll(void)
{
	struct ffwall_event ev;
	int fd = open_dev(O_RDONLY | O_NONBLOCK), status, r;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	pid_t child = raise_later(1);

	if (child < 0)
		return fail("fork: %s", strerror(errno));
	r = poll(&p, 1, 10000);
	waitpid(child, &status, 0);
	if (r != 1 || !(p.revents & POLLIN))
		return fail("poll returned %d, revents 0x%x, want POLLIN", r, p.revents);
	if (read(fd, &ev, sizeof(ev)) != sizeof(ev) || !is_raised(&ev, 0))
		return fail("read after POLLIN: no record 0");
	/* Drained: poll() times out again. */
	r = poll(&p, 1, 100);
	if (r != 0)
		return fail("poll on a drained ring returned %d", r);
	close(fd);
	return 0;
}

static int check_efault(void)
{
	struct ffwall_event ev[4];
	int fd = open_dev(O_RDONLY | O_NONBLOCK);
	void *bad;
	ssize_t n;

	/* A page that cannot be written. */
	bad = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bad == MAP_FAILED)
		return fail("mmap: %s", strerror(errno));
	if (raise_events(2))
		return 1;
	errno = 0;
	n = read(fd, bad, sizeof(ev));
	if (n != -1 || errno != EFAULT)
		return fail("read into a bad buffer returned %zd (%s), want EFAULT", n,
			    strerror(errno));
	n = read(fd, ev, sizeof(ev));
	if (n != 2 * sizeof(ev[0]) || !is_raised(&ev[0], 0) || !is_raised(&ev[1], 1))
		return fail("after EFAULT, read returned %zd, want records 0 and 1", n);
	close(fd);
	return 0;
}

static const char *type_name(unsigned int type)
{
	switch (type) {
	case FFWALL_EVENT_EVICTED:
		return "EVICTED";
	case FFWALL_EVENT_EXPIRED:
		return "EXPIRED";
	case FFWALL_EVENT_MISS:
		return "MISS";
	case FFWALL_EVENT_OVERFLOW:
		return "OVERFLOW";
	default:
		return "UNKNOWN";
	}
}

static void print_event(const struct ffwall_event *ev)
{
	static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	char addr[INET6_ADDRSTRLEN];
	unsigned int plen = ev->prefix_len;

	if (!memcmp(ev->addr, v4mapped, sizeof(v4mapped)) && plen >= 96) {
		inet_ntop(AF_INET, ev->addr + 12, addr, sizeof(addr));
		plen -= 96;
	} else {
		inet_ntop(AF_INET6, ev->addr, addr, sizeof(addr));
	}
	printf("%s %s/%u flags=%u value=%u time=%llu\n", type_name(ev->type), addr, plen,
	       ev->flags, ev->value, (unsigned long long)ev->time);
}

static int watch_fd(int fd, long max, int ms);

static int watch(long max, int ms)
{
	return watch_fd(open_dev(O_RDONLY | O_NONBLOCK), max, ms);
}

static int watch_at(const char *ready, const char *go, long max, int ms)
{
	int fd = open_dev(O_RDONLY | O_NONBLOCK);
	int rfd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (rfd < 0)
		return fail("create %s: %s", ready, strerror(errno));
	close(rfd);
	while (access(go, F_OK))
		usleep(10000);
	return watch_fd(fd, max, ms);
}

static int watch_fd(int fd, long max, int ms)
{
	struct ffwall_event ev[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long seen = 0;
	ssize_t n, i;

	while (seen < max) {
		n = read(fd, ev, sizeof(ev));
		if (n < 0 && errno == EAGAIN) {
			int r = poll(&p, 1, ms);

			if (r < 0)
				return fail("poll: %s", strerror(errno));
			if (r == 0)
				break;
			continue;
		}
		if (n < 0)
			return fail("read: %s", strerror(errno));
		if (n == 0 || n % (ssize_t)sizeof(ev[0]))
			return fail("read returned %zd bytes, not whole records", n);
		for (i = 0; i < n / (ssize_t)sizeof(ev[0]) && seen < max; i++, seen++)
			print_event(&ev[i]);
		fflush(stdout);
	}
	close(fd);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ffwall-events [-d DEV] feature|small-read|nonblock-empty|"
		"poll-empty [MS]|signal-eintr|signal-restart|kill-blocked|write-only|"
		"cycles [N]|many [N]|watch [N] [MS]|deliver N K [RING]|wake-read|wake-poll|efault\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd;
	long a1, a2, a3;

	if (argc >= 3 && !strcmp(argv[1], "-d")) {
		dev = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		return usage();
	cmd = argv[1];
	a1 = argc > 2 ? strtol(argv[2], NULL, 0) : -1;
	a2 = argc > 3 ? strtol(argv[3], NULL, 0) : -1;
	a3 = argc > 4 ? strtol(argv[4], NULL, 0) : -1;

	if (!strcmp(cmd, "feature"))
		return check_feature();
	if (!strcmp(cmd, "small-read"))
		return check_small_read();
	if (!strcmp(cmd, "nonblock-empty"))
		return check_nonblock_empty();
	if (!strcmp(cmd, "poll-empty"))
		return check_poll_empty(a1 < 0 ? 300 : (int)a1);
	if (!strcmp(cmd, "signal-eintr"))
		return check_signal_eintr();
	if (!strcmp(cmd, "signal-restart"))
		return check_signal_restart();
	if (!strcmp(cmd, "kill-blocked"))
		return check_kill_blocked();
	if (!strcmp(cmd, "write-only"))
		return check_write_only();
	if (!strcmp(cmd, "cycles"))
		return check_cycles(a1 < 0 ? 1000 : (int)a1);
	if (!strcmp(cmd, "many"))
		return check_many(a1 < 0 ? 256 : (int)a1);
	if (!strcmp(cmd, "deliver"))
		return check_deliver(a1, a2 < 0 ? 1 : a2, a3);
	if (!strcmp(cmd, "wake-read"))
		return check_wake_read();
	if (!strcmp(cmd, "wake-poll"))
		return check_wake_poll();
	if (!strcmp(cmd, "efault"))
		return check_efault();
	if (!strcmp(cmd, "watch"))
		return watch(a1 < 0 ? 1 : a1, a2 < 0 ? 1000 : (int)a2);
	if (!strcmp(cmd, "watch-at") && argc == 6)
		return watch_at(argv[2], argv[3], strtol(argv[4], NULL, 0),
				(int)strtol(argv[5], NULL, 0));
	return usage();
}
