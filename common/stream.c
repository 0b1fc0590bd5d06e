/* SPDX-License-Identifier: MIT */
/*
 * stream.c - buffered socket I/O with deadlines, plaintext or TLS
 *
 * The I/O layer of the one-connection-per-process daemons: bounded line
 * reads, exact reads, buffered writes, and a switch to TLS in the middle
 * of a session. Not for the event-loop daemon (qmgr), which never waits.
 *
 * The fd is non-blocking; every wait is a poll() bounded by the deadline
 * of the current call, so neither TLS nor a silent peer can stall a
 * daemon past its timeout. Input is read into one fixed buffer, which
 * holds at most one TLS record's worth; a line longer than that is
 * assembled in the caller's struct buf, whose bound we enforce.
 *
 * Invariants: in[in_start..in_end) is unread input; out[0..out_len) is
 * unsent output; once err is sticky (see sticky()), no I/O is attempted.
 */
#include "common/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/xalloc.h"

/* One TLS record's payload is 16 KiB; reading that much at once lets one
 * SSL_read return a whole record. */
#define IN_SIZE 16384
#define OUT_SIZE 16384
#define DEFAULT_TIMEOUT_MS 300000

struct stream {
	int fd;
	int fd_flags; /* as found, restored by stream_free with keep_fd */
	bool keep_fd;
	bool is_socket;
	int timeout_ms;
	struct tls_conn *tls;
	char in[IN_SIZE];
	size_t in_start, in_end;
	char out[OUT_SIZE];
	size_t out_len;
	enum stream_error err;
	struct err errtext;
};

/* ---- errors and time ------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int
fail(struct stream *s, enum stream_error err, const char *fmt, ...)
{
	s->err = err;
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(s->errtext.msg, sizeof(s->errtext.msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Errors after which the connection cannot be used. TOO_LONG leaves the
 * stream in sync; PENDING leaves it in plaintext as it was. */
static bool sticky(enum stream_error err)
{
	return err != STREAM_OK && err != STREAM_ERR_TOO_LONG &&
	       err != STREAM_ERR_PENDING;
}

/* Starts a public call: -1 if the stream has already failed. */
static int begin(struct stream *s)
{
	if (sticky(s->err))
		return -1;
	s->err = STREAM_OK;
	s->errtext.msg[0] = 0;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1 means no deadline. */
static int64_t deadline_of(const struct stream *s)
{
	return s->timeout_ms < 0 ? -1 : now_ms() + s->timeout_ms;
}

/* Milliseconds left for poll(): -1 (forever), or 0 when it has passed. */
static int remaining(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Waits until fd is ready for events or the deadline passes. Readiness
 * includes hang-up and error: the next I/O call finds out which. */
static int wait_fd(struct stream *s, short events, int64_t deadline)
{
	for (;;) {
		int ms = remaining(deadline);
		if (ms == 0)
			return fail(s, STREAM_ERR_TIMEOUT, "timeout");
		struct pollfd pfd = {.fd = s->fd, .events = events};
		int r = poll(&pfd, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return fail(s, STREAM_ERR_IO, "poll: %s",
			            strerror(errno));
	}
}

/* After a TLS call that did not complete: waits as OpenSSL asks (0, retry
 * the call) or records the failure (-1). */
static int tls_wait(struct stream *s, enum tls_io r, const struct err *e,
                    int64_t deadline)
{
	switch (r) {
	case TLS_IO_WANT_READ:
		return wait_fd(s, POLLIN, deadline);
	case TLS_IO_WANT_WRITE:
		return wait_fd(s, POLLOUT, deadline);
	case TLS_IO_EOF:
		return fail(s, STREAM_ERR_EOF, "connection closed by peer");
	case TLS_IO_SYSERR:
		return fail(s, STREAM_ERR_IO, "%s", e->msg);
	case TLS_IO_OK:
	case TLS_IO_ERROR:
		break;
	}
	return fail(s, STREAM_ERR_TLS, "%s", e->msg);
}

/* ---- life cycle -------------------------------------------------------- */

struct stream *stream_new(int fd)
{
	struct stream *s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->timeout_ms = DEFAULT_TIMEOUT_MS;
	struct stat st;
	s->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	s->fd_flags = fcntl(fd, F_GETFL);
	if (s->fd_flags < 0 || fcntl(fd, F_SETFL, s->fd_flags | O_NONBLOCK) < 0)
		(void)fail(s, STREAM_ERR_IO, "fcntl: %s", strerror(errno));
	return s;
}

void stream_free(struct stream **sp)
{
	if (!sp || !*sp)
		return;
	struct stream *s = *sp;
	/* One try at close_notify; a peer that does not read it loses
	 * nothing, so we never wait for it. */
	if (s->tls && !sticky(s->err))
		(void)tls_conn_shutdown(s->tls);
	tls_conn_free(&s->tls);
	if (!s->keep_fd)
		(void)close(s->fd);
	else if (s->fd_flags >= 0)
		(void)fcntl(s->fd, F_SETFL, s->fd_flags);
	free(s);
	*sp = NULL;
}

void stream_keep_fd(struct stream *s)
{
	s->keep_fd = true;
}

int stream_fd(const struct stream *s)
{
	return s->fd;
}

void stream_set_timeout(struct stream *s, int ms)
{
	s->timeout_ms = ms;
}

enum stream_error stream_error(const struct stream *s)
{
	return s->err;
}

const char *stream_errtext(const struct stream *s)
{
	return s->errtext.msg;
}

const char *stream_error_name(enum stream_error err)
{
	switch (err) {
	case STREAM_OK:
		return "no error";
	case STREAM_ERR_TIMEOUT:
		return "timeout";
	case STREAM_ERR_EOF:
		return "lost connection";
	case STREAM_ERR_TOO_LONG:
		return "line too long";
	case STREAM_ERR_TLS:
		return "TLS failure";
	case STREAM_ERR_IO:
		return "I/O error";
	case STREAM_ERR_PENDING:
		return "pipelined plaintext";
	}
	return "unknown error";
}

/* ---- raw I/O ------------------------------------------------------------- */

static int flush_out(struct stream *s, int64_t deadline)
{
	size_t off = 0;
	while (off < s->out_len) {
		const char *p = s->out + off;
		size_t n = s->out_len - off;
		if (s->tls) {
			struct err e;
			size_t put;
			enum tls_io r = tls_conn_write(s->tls, p, n, &put, &e);
			if (r == TLS_IO_OK)
				off += put;
			else if (tls_wait(s, r, &e, deadline) < 0)
				break;
			continue;
		}
		/* send() with MSG_NOSIGNAL: a vanished peer is an EPIPE
		 * error here, not a signal that kills the daemon. */
		ssize_t w = s->is_socket ? send(s->fd, p, n, MSG_NOSIGNAL)
		                         : write(s->fd, p, n);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno == EINTR)
			continue;
		else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(s, POLLOUT, deadline) < 0)
				break;
		} else {
			(void)fail(s, STREAM_ERR_IO, "write: %s",
			           w < 0 ? strerror(errno) : "no progress");
			break;
		}
	}
	/* After an error the stream is dead: what was not sent never will. */
	s->out_len = 0;
	return sticky(s->err) ? -1 : 0;
}

/* Reads more input into the empty part of in[]; 0, or -1 with the error
 * set. Sends pending output first, so we never wait for a peer that is
 * waiting for us. */
static int fill(struct stream *s, int64_t deadline)
{
	if (s->out_len && flush_out(s, deadline) < 0)
		return -1;
	if (s->in_start == s->in_end) {
		s->in_start = s->in_end = 0;
	} else if (s->in_end == IN_SIZE) {
		memmove(s->in, s->in + s->in_start, s->in_end - s->in_start);
		s->in_end -= s->in_start;
		s->in_start = 0;
	}
	char *p = s->in + s->in_end;
	size_t space = IN_SIZE - s->in_end;
	for (;;) {
		if (s->tls) {
			struct err e;
			size_t got;
			enum tls_io r =
			        tls_conn_read(s->tls, p, space, &got, &e);
			if (r == TLS_IO_OK) {
				s->in_end += got;
				return 0;
			}
			if (tls_wait(s, r, &e, deadline) < 0)
				return -1;
			continue;
		}
		ssize_t r = read(s->fd, p, space);
		if (r > 0) {
			s->in_end += (size_t)r;
			return 0;
		}
		if (r == 0)
			return fail(s, STREAM_ERR_EOF,
			            "connection closed by peer");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return fail(s, STREAM_ERR_IO, "read: %s",
			            strerror(errno));
		if (wait_fd(s, POLLIN, deadline) < 0)
			return -1;
	}
}

/* Moves up to n buffered bytes to p; returns how many. */
static size_t take(struct stream *s, void *p, size_t n)
{
	size_t avail = s->in_end - s->in_start;
	if (n > avail)
		n = avail;
	memcpy(p, s->in + s->in_start, n);
	s->in_start += n;
	return n;
}

/* ---- reading ----------------------------------------------------------------
 */

int stream_read_line(struct stream *s, struct buf *line, size_t max,
                     enum stream_eol *eol_out)
{
	if (eol_out)
		*eol_out = STREAM_EOL_NONE;
	if (begin(s) < 0)
		return -1;
	buf_reset(line);
	int64_t deadline = deadline_of(s);
	size_t limit = max < line->max ? max : line->max;
	bool too_long = false;
	for (;;) {
		if (s->in_start == s->in_end && fill(s, deadline) < 0) {
			/* The last bytes of the stream, without LF. */
			if (s->err == STREAM_ERR_EOF && line->len && !too_long)
				return 0;
			return -1;
		}
		const char *p = s->in + s->in_start;
		size_t avail = s->in_end - s->in_start;
		const char *nl = memchr(p, '\n', avail);
		size_t chunk = nl ? (size_t)(nl - p) + 1 : avail;
		if (!too_long) {
			size_t room = limit - line->len;
			too_long = chunk > room;
			(void)buf_append(line, p, too_long ? room : chunk);
		}
		/* An over-long line is still consumed up to its LF, so the
		 * caller can answer the error and read the next command. */
		s->in_start += chunk;
		if (nl)
			break;
	}
	if (too_long)
		return fail(s, STREAM_ERR_TOO_LONG,
		            "line longer than %zu bytes", limit);
	if (eol_out)
		*eol_out = line->len >= 2 && line->data[line->len - 2] == '\r'
		                   ? STREAM_EOL_CRLF
		                   : STREAM_EOL_LF;
	return 0;
}

int stream_read_exact(struct stream *s, void *p, size_t n)
{
	if (begin(s) < 0)
		return -1;
	int64_t deadline = deadline_of(s);
	char *q = p;
	while (n) {
		if (s->in_start == s->in_end && fill(s, deadline) < 0)
			return -1;
		size_t got = take(s, q, n);
		q += got;
		n -= got;
	}
	return 0;
}

ssize_t stream_read_some(struct stream *s, void *p, size_t n)
{
	if (begin(s) < 0)
		return -1;
	if (s->in_start == s->in_end && fill(s, deadline_of(s)) < 0)
		return -1;
	size_t got = take(s, p, n > SSIZE_MAX ? SSIZE_MAX : n);
	return (ssize_t)got;
}

ssize_t stream_read_part(struct stream *s, void *p, size_t n)
{
	if (begin(s) < 0)
		return -1;
	if (s->in_start == s->in_end && fill(s, deadline_of(s)) < 0)
		return -1;
	size_t avail = s->in_end - s->in_start;
	const char *nl = memchr(s->in + s->in_start, '\n', avail);
	if (nl && (size_t)(nl - (s->in + s->in_start)) + 1 < n)
		n = (size_t)(nl - (s->in + s->in_start)) + 1;
	size_t got = take(s, p, n > SSIZE_MAX ? SSIZE_MAX : n);
	return (ssize_t)got;
}

size_t stream_pending(const struct stream *s)
{
	return s->in_end - s->in_start +
	       (s->tls ? tls_conn_pending(s->tls) : 0);
}

size_t stream_discard_input(struct stream *s)
{
	size_t n = s->in_end - s->in_start;
	s->in_start = s->in_end = 0;
	/* Decrypted bytes inside OpenSSL come out without touching the
	 * socket, so this never waits. */
	size_t more;
	while (s->tls && !sticky(s->err) &&
	       (more = tls_conn_pending(s->tls)) > 0) {
		struct err e;
		size_t got;
		if (tls_conn_read(s->tls, s->in,
		                  more < IN_SIZE ? more : IN_SIZE, &got,
		                  &e) != TLS_IO_OK)
			break;
		n += got;
	}
	return n;
}

/* ---- writing ----------------------------------------------------------------
 */

int stream_write(struct stream *s, const void *p, size_t n)
{
	if (begin(s) < 0)
		return -1;
	const char *q = p;
	while (n) {
		if (s->out_len == OUT_SIZE && flush_out(s, deadline_of(s)) < 0)
			return -1;
		size_t k = OUT_SIZE - s->out_len;
		if (k > n)
			k = n;
		memcpy(s->out + s->out_len, q, k);
		s->out_len += k;
		q += k;
		n -= k;
	}
	return 0;
}

int stream_puts(struct stream *s, const char *str)
{
	return stream_write(s, str, strlen(str));
}

int stream_printf(struct stream *s, const char *fmt, ...)
{
	if (begin(s) < 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	size_t room = OUT_SIZE - s->out_len;
	int n = vsnprintf(s->out + s->out_len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return fail(s, STREAM_ERR_IO, "printf: %s", strerror(errno));
	if ((size_t)n < room) {
		s->out_len += (size_t)n;
		return 0;
	}
	/* Did not fit: format on the heap and write that. */
	char *tmp = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	(void)vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = stream_write(s, tmp, (size_t)n);
	free(tmp);
	return rc;
}

int stream_flush(struct stream *s)
{
	if (begin(s) < 0)
		return -1;
	return flush_out(s, deadline_of(s));
}

/* ---- TLS --------------------------------------------------------------------
 */

static int start_tls(struct stream *s, struct tls_ctx *ctx,
                     const struct tls_peer *peer)
{
	if (begin(s) < 0)
		return -1;
	if (s->tls)
		return fail(s, STREAM_ERR_TLS, "TLS is already active");
	if (s->in_end > s->in_start)
		return fail(s, STREAM_ERR_PENDING,
		            "%zu bytes of plaintext input before the TLS "
		            "handshake",
		            s->in_end - s->in_start);
	int64_t deadline = deadline_of(s);
	if (s->out_len && flush_out(s, deadline) < 0)
		return -1;
	struct err e;
	s->tls = tls_conn_new(ctx, s->fd, peer, &e);
	if (!s->tls)
		return fail(s, STREAM_ERR_TLS, "%s", e.msg);
	for (;;) {
		enum tls_io r = tls_conn_handshake(s->tls, &e);
		if (r == TLS_IO_OK)
			return 0;
		if (r == TLS_IO_EOF)
			return fail(s, STREAM_ERR_EOF,
			            "connection closed during TLS handshake");
		if (tls_wait(s, r, &e, deadline) < 0)
			return -1;
	}
}

int stream_start_tls_server(struct stream *s, struct tls_ctx *ctx)
{
	return start_tls(s, ctx, NULL);
}

int stream_start_tls_client(struct stream *s, struct tls_ctx *ctx,
                            const struct tls_peer *peer)
{
	return start_tls(s, ctx, peer);
}

struct tls_conn *stream_tls(const struct stream *s)
{
	return s->tls;
}

/* ---- waiting for either input
 * -------------------------------------------------- */

int stream_wait_readable(struct stream *s, int extra_fd, int timeout_ms)
{
	if (begin(s) < 0)
		return -1;
	if (s->out_len && flush_out(s, deadline_of(s)) < 0)
		return -1;
	int ready = stream_pending(s) ? STREAM_READY_INPUT : 0;
	/* poll() skips an entry whose fd is negative. */
	struct pollfd pfd[2] = {
	        {.fd = ready ? -1 : s->fd, .events = POLLIN},
	        {.fd = extra_fd, .events = POLLIN},
	};
	int64_t deadline = ready            ? now_ms()
	                   : timeout_ms < 0 ? -1
	                                    : now_ms() + timeout_ms;
	for (;;) {
		int ms = remaining(deadline);
		int r = poll(pfd, 2, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(s, STREAM_ERR_IO, "poll: %s",
			            strerror(errno));
		if (r > 0 || ms == 0)
			break;
	}
	short any = POLLIN | POLLHUP | POLLERR;
	if (pfd[0].revents & any)
		ready |= STREAM_READY_INPUT;
	if (pfd[1].revents & any)
		ready |= STREAM_READY_FD;
	return ready;
}
