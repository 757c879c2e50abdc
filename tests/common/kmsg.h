/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel log as the test programs read it: /dev/kmsg from where a
 * program started looking, record by record, and what counts as a splat.
 */
#ifndef TESTS_KMSG_H
#define TESTS_KMSG_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* Big enough for any record: a shorter read() fails with EINVAL */
#define KMSG_REC_SIZE	8192

/**
 * kmsg_open_at_end() - open the kernel log from now on
 *
 * Return: an fd of /dev/kmsg (non-blocking, at the log's end) for
 * kmsg_next(), or -errno.
 */
static inline int kmsg_open_at_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/**
 * kmsg_next() - the next record the kernel logged
 * @fd: from kmsg_open_at_end()
 * @rec: a buffer of KMSG_REC_SIZE bytes, which the record is read into
 * @msg: its text: what follows "prio,seq,usec,flags;", up to the end of the
 *	 line (the " KEY=value" lines that may follow are cut off)
 *
 * Records overwritten before they were read are skipped. The text is in
 * @rec: the caller may change it.
 *
 * Return: 1 and *@msg, 0 once all that was logged so far was read, or
 * -errno.
 */
static inline int kmsg_next(int fd, char rec[KMSG_REC_SIZE], char **msg)
{
	char *end;
	ssize_t n;

	*msg = NULL;
	for (;;) {
		n = read(fd, rec, KMSG_REC_SIZE - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		if (!n)
			return 0;
		rec[n] = 0;
		/* "prio,seq,usec,flags;text\n" and maybe " KEY=value" lines */
		*msg = strchr(rec, ';');
		if (!*msg)
			continue;
		(*msg)++;
		end = strchr(*msg, '\n');
		if (end)
			*end = 0;
		return 1;
	}
}

/**
 * kmsg_is_splat() - whether a line of the kernel log is part of a splat
 * @msg: the line's text, from kmsg_next()
 * @leaks: whether kmemleak's reports count too (not for a program that
 *	   leaves leaks to the kmemleak scan at the end of the VM run)
 *
 * A splat: a WARN, a BUG, an oops or a panic, a KASAN or UBSAN report, a
 * lockdep one, a hung task or an RCU stall; with @leaks also a leak that
 * kmemleak reported.
 *
 * Return: true if @msg is one.
 */
static inline bool kmsg_is_splat(const char *msg, bool leaks)
{
	static const char *const splats[] = {
		"WARNING:", "BUG:", "UBSAN:", "KASAN:", "Internal error:",
		"Oops", "Kernel panic", "general protection fault",
		"kernel BUG at", "INFO: task", "blocked for more than",
		"rcu: INFO:", "detected stall", "possible circular",
		"possible recursive locking", "inconsistent lock state",
		"cut here", NULL,
	};
	static const char *const leak_reports[] = {
		"suspected memory leak", "unreferenced object", NULL,
	};
	const char *const *p;

	for (p = splats; *p; p++)
		if (strstr(msg, *p))
			return true;
	for (p = leak_reports; leaks && *p; p++)
		if (strstr(msg, *p))
			return true;
	return false;
}

#endif
