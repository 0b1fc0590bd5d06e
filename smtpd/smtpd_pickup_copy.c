/* SPDX-License-Identifier: MIT */
/*
 * smtpd_pickup_copy.c - from the user's sealed memfd into incoming/
 *
 * The descriptor comes from an unprivileged user, so it must be one that
 * cannot hurt pickup: a memfd (never a FIFO, a device or a file on a FUSE
 * mount that could block a read forever) sealed so its size and bytes
 * cannot change between the check and the copy. The copy turns CRLF into
 * the queue's LF (queue_file.h) and prepends the Received: header that
 * names the submitting uid, as Postfix's pickup does.
 */
#include "smtpd_pickup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/params.h"
#include "common/queue_file.h"

#define REQUIRED_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

int smtpd_pickup_check_fd(int fd, uint64_t max, uint64_t *size, struct err *e)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & REQUIRED_SEALS) != REQUIRED_SEALS) {
		err_set(e, "the passed descriptor is not a sealed memfd");
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(e, "the passed descriptor is not a regular file");
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		err_set(e, "message too large (%lld bytes; limit %llu)",
		        (long long)st.st_size, (unsigned long long)max);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static int write_received(struct queue_file *qf, uid_t uid, struct err *e)
{
	char date[64], hdr[512];
	time_t now = time(NULL);
	struct tm tm;
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z (%Z)",
	               localtime_r(&now, &tm));
	int n = snprintf(hdr, sizeof(hdr),
	                 "Received: by %s (%s, from userid %ld)\n\tid %s; %s\n",
	                 params->myhostname, params->mail_name, (long)uid,
	                 queue_file_id(qf), date);
	if (n < 0 || (size_t)n >= sizeof(hdr)) {
		err_set(e, "Received: header too long");
		return -1;
	}
	return queue_file_write(qf, hdr, (size_t)n, e);
}

int smtpd_pickup_copy(struct queue_file *qf, int fd, uint64_t size, uid_t uid,
                bool *eightbit, struct err *e)
{
	char in[64 * 1024], out[64 * 1024];
	uint64_t off = 0;
	bool cr = false; /* a CR ended the previous chunk */
	char last = '\n';
	*eightbit = false;
	if (write_received(qf, uid, e) < 0)
		return -1;
	while (off < size) {
		size_t want = size - off < sizeof(in) ? (size_t)(size - off)
		                                      : sizeof(in);
		ssize_t n = pread(fd, in, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set(e, "read message: %s",
			        n < 0 ? strerror(errno) : "short file");
			return -1;
		}
		off += (uint64_t)n;
		size_t o = 0;
		for (ssize_t i = 0; i < n; i++) {
			char c = in[i];
			/* One input byte can put two in out (a held-back
			 * CR and c): make room for both first. */
			if (o > sizeof(out) - 2) {
				if (queue_file_write(qf, out, o, e) < 0)
					return -1;
				o = 0;
			}
			if (cr && c != '\n')
				out[o++] = '\r'; /* a bare CR stays */
			cr = c == '\r';
			if (cr)
				continue;
			if ((unsigned char)c & 0x80)
				*eightbit = true;
			out[o++] = c;
			last = c;
		}
		if (o > 0 && queue_file_write(qf, out, o, e) < 0)
			return -1;
	}
	if (cr) {
		/* Trailing CR: keep it, and still end with a newline. */
		if (queue_file_write(qf, "\r", 1, e) < 0)
			return -1;
		last = '\r';
	}
	if (last != '\n' && queue_file_write(qf, "\n", 1, e) < 0)
		return -1;
	return 0;
}
