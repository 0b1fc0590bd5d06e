/* SPDX-License-Identifier: MIT */
/*
 * fuzz_stream.c - arbitrary bytes through a socket into the line reader
 *
 * Input: byte 0 picks the line bound (1..64, terminator included), byte 1
 * the size of the packets the bytes arrive in (SOCK_SEQPACKET, so every
 * packet is one read); the rest is the peer's data. Every result of
 * stream_read_line() is checked against a plain model of the rules in
 * stream.h: a line up to its LF, an over-long line reported once and
 * skipped through its LF, the unterminated tail at EOF, then EOF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/stream.h"

/* Few enough packets to fit the socket's send buffer without a reader. */
#define MAX_PACKETS 64

static size_t feed(int fd, const uint8_t *p, size_t n, size_t packet)
{
	if (packet < n / MAX_PACKETS + 1)
		packet = n / MAX_PACKETS + 1;
	size_t sent = 0;
	while (sent < n) {
		size_t k = n - sent < packet ? n - sent : packet;
		if (send(fd, p + sent, k, MSG_DONTWAIT | MSG_NOSIGNAL) !=
		    (ssize_t)k)
			break;
		sent += k;
	}
	return sent;
}

static enum stream_eol eol_of(const uint8_t *p, size_t n)
{
	if (n >= 2 && p[n - 1] == '\n' && p[n - 2] == '\r')
		return STREAM_EOL_CRLF;
	return n >= 1 && p[n - 1] == '\n' ? STREAM_EOL_LF : STREAM_EOL_NONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max = 1 + data[0] % 64;
	size_t packet = 1 + data[1] % 32;
	data += 2;
	size -= 2;
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) < 0)
		abort();
	size = feed(fds[1], data, size, packet);
	close(fds[1]);

	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 5000);
	struct buf line;
	buf_init(&line, 0);
	size_t pos = 0;
	for (;;) {
		enum stream_eol eol;
		int rc = stream_read_line(s, &line, max, &eol);
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t seg = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
		if (seg == 0 || (!nl && seg > max)) {
			/* Nothing left, or an over-long tail: EOF. */
			if (rc != -1 || stream_error(s) != STREAM_ERR_EOF)
				abort();
			break;
		}
		if (seg > max) {
			if (rc != -1 ||
			    stream_error(s) != STREAM_ERR_TOO_LONG ||
			    line.len != max ||
			    memcmp(line.data, data + pos, max) != 0)
				abort();
		} else if (rc != 0 || line.len != seg ||
		           memcmp(line.data, data + pos, seg) != 0 ||
		           eol != eol_of(data + pos, seg)) {
			abort();
		}
		pos += seg;
	}
	if (stream_pending(s) != 0)
		abort();
	buf_deinit(&line);
	stream_free(&s);
	return 0;
}
