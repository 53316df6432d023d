// SPDX-License-Identifier: MIT
/*
 * mark: runs a command between the two marks of the TCG plugins
 * (icount.c, kprofile.c): `mark CMD [ARG...]` executes mark 1, runs CMD,
 * waits for it, executes mark 2 and exits with CMD's status.  The interval
 * includes CMD's fork, exec and exit.  Outside QEMU, or under a QEMU
 * without the plugin, the marks are plain no-ops.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* nopl 0x46570001(%rax) and nopl 0x46570002(%rax): see icount.c. */
static void mark_begin(void)
{
	__asm__ volatile(".byte 0x0f, 0x1f, 0x80, 0x01, 0x00, 0x57, 0x46" ::: "memory");
}

static void mark_end(void)
{
	__asm__ volatile(".byte 0x0f, 0x1f, 0x80, 0x02, 0x00, 0x57, 0x46" ::: "memory");
}

int main(int argc, char **argv)
{
	int status;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: mark CMD [ARG...]\n");
		return 2;
	}
	mark_begin();
	pid = fork();
	if (pid < 0) {
		perror("mark: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror("mark: exec");
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0) {
		perror("mark: waitpid");
		return 2;
	}
	mark_end();
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
