/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_STREAM_H
#define POSTHORN_COMMON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/tls.h"

/*
 * Buffered, bounded, blocking I/O with deadlines on one socket, for the
 * one-connection-per-process daemons (smtpd, smtp, pop3d, imapd). The
 * stream may start in plaintext and switch to TLS (STARTTLS, STLS) or
 * start in TLS (ports 465, 993, 995).
 *
 * Time: every call that waits (a line, an exact read, a flush, a
 * handshake) must finish within the stream's timeout, counted from its
 * start: a peer that trickles one byte at a time cannot hold a call open
 * longer (Postfix's per-record deadline). stream_write() of more than the
 * output buffer waits once per buffer-ful, each with its own deadline.
 *
 * Output is buffered until stream_flush(), until the buffer is full, or
 * until a read must wait for the peer: a read never blocks with replies
 * still unsent, which is what RFC 2920 asks of a pipelining server.
 * Writes never raise SIGPIPE.
 *
 * Errors: a call returns -1 and stream_error()/stream_errtext() say why.
 * Every error except STREAM_ERR_TOO_LONG is sticky: later calls fail at
 * once with the same error, so a daemon can log once and leave.
 */

enum stream_error {
	STREAM_OK = 0,
	STREAM_ERR_TIMEOUT,  /* the deadline passed */
	STREAM_ERR_EOF,      /* the peer closed the connection */
	STREAM_ERR_TOO_LONG, /* a line exceeded its bound (not sticky) */
	STREAM_ERR_TLS,      /* handshake, protocol or verification failure */
	STREAM_ERR_IO,       /* a system call failed (errtext has strerror) */
	STREAM_ERR_PENDING,  /* TLS start refused: plaintext input buffered */
};

/* How a line returned by stream_read_line() ended. */
enum stream_eol {
	STREAM_EOL_NONE, /* the last bytes before EOF, without terminator */
	STREAM_EOL_LF,   /* a bare LF */
	STREAM_EOL_CRLF, /* CR LF */
};

/* stream_wait_readable() results (bits). */
#define STREAM_READY_INPUT 0x1
#define STREAM_READY_FD 0x2

struct stream;

/* Wraps a connected socket (any fd for plaintext use; TLS needs a socket).
 * Puts fd in non-blocking mode. The default timeout is 300 s. Never fails;
 * an unusable fd shows as an error on the first call. Free with
 * stream_free(), which closes fd unless stream_keep_fd() was called. */
struct stream *stream_new(int fd);
/* Frees *sp (NULL allowed) and sets it to NULL. Sends TLS close_notify
 * once if it can do so without waiting, drops unflushed output, closes the
 * fd (or, after stream_keep_fd(), restores its blocking mode). */
void stream_free(struct stream **sp);
/* stream_free() will leave the fd open. */
void stream_keep_fd(struct stream *s);
int stream_fd(const struct stream *s);
/* Sets the deadline of each waiting call; ms < 0 means no deadline. */
void stream_set_timeout(struct stream *s, int ms);

/* The last error, and a text for the log ("read: Connection reset by
 * peer", "TLS handshake failed: SSL routines: unsupported protocol"). */
enum stream_error stream_error(const struct stream *s);
const char *stream_errtext(const struct stream *s);
/* A short name in Postfix's words for "<name> after <COMMAND> from
 * host[addr]": "timeout", "lost connection", "line too long", "TLS
 * failure", "I/O error", "pipelined plaintext". */
const char *stream_error_name(enum stream_error err);

/*
 * Reads one line into line (emptied first), terminator included, and
 * stores how it ended in *eol_out (may be NULL). max bounds the line with
 * its terminator (so 512 for RFC 5321's command line); the line's own
 * buf max bounds it too. Returns 0, or -1:
 *   STREAM_ERR_TOO_LONG: the line was longer. The rest of it, up to and
 *     including its LF, has been read and thrown away, so the next call
 *     reads the next line; line holds its first bytes (for the log).
 *   others: timeout, EOF (with nothing buffered), I/O or TLS error.
 * Bytes after the last LF at EOF come back once as a line with
 * STREAM_EOL_NONE (if they fit). A bare CR is ordinary data: callers that
 * care (DATA, RFC 5321 2.3.8) look for it. Blocks until the deadline.
 */
int stream_read_line(struct stream *s, struct buf *line, size_t max,
                     enum stream_eol *eol_out);
/* Reads exactly n bytes into p (a BDAT chunk, an IMAP literal); 0 or -1
 * (EOF before n bytes is STREAM_ERR_EOF). For large payloads call
 * stream_read_some() in a loop so each piece has its own deadline. */
int stream_read_exact(struct stream *s, void *p, size_t n);
/* Reads what is buffered, or waits for at least one byte; returns the
 * count (1..n), or -1. n must be > 0. */
ssize_t stream_read_some(struct stream *s, void *p, size_t n);
/* The same, but stops after the first LF: the bytes returned are the
 * rest of one line (ending in LF) or, when the line is longer than n or
 * the buffer holds only part of it, a piece of it (no LF). Nothing after
 * that LF is consumed, so a caller that must find the end of a payload
 * inside a line-oriented protocol (SMTP DATA) never swallows the next
 * command, and no line length is imposed. */
ssize_t stream_read_part(struct stream *s, void *p, size_t n);

/* Input received but not yet consumed: in the stream's buffer plus
 * decrypted bytes inside TLS. Non-zero after a command means the client
 * pipelined (RFC 2920) or, before STARTTLS, injected plaintext. */
size_t stream_pending(const struct stream *s);
/* Throws away that input without waiting; returns how many bytes. */
size_t stream_discard_input(struct stream *s);

/* Appends to the output buffer, flushing as needed; 0 or -1. */
int stream_write(struct stream *s, const void *p, size_t n);
int stream_puts(struct stream *s, const char *str);
int stream_printf(struct stream *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Sends all buffered output, waiting until the deadline; 0 or -1. */
int stream_flush(struct stream *s);

/*
 * Flushes pending output, then runs the TLS handshake (server or client
 * side) within the deadline; afterwards all I/O goes through TLS. Refused
 * with STREAM_ERR_PENDING when plaintext input is buffered: bytes sent
 * before the handshake must never be read as if they came over TLS
 * (CVE-2011-0411). Call stream_discard_input() first to drop them.
 * peer is as for tls_conn_new() (names for SNI and verification, a session
 * to resume; NULL is fine at levels may and encrypt). On failure the
 * stream is unusable (STREAM_ERR_TLS, _TIMEOUT, _EOF or _IO); the TLS
 * connection, if one was made, is still there for stream_tls().
 */
int stream_start_tls_server(struct stream *s, struct tls_ctx *ctx);
int stream_start_tls_client(struct stream *s, struct tls_ctx *ctx,
                            const struct tls_peer *peer);
/* The TLS connection (for logging, verification results, session
 * export), or NULL on a plaintext stream. Owned by the stream. */
struct tls_conn *stream_tls(const struct stream *s);

/*
 * Waits up to timeout_ms (< 0: forever) until the stream has input or
 * extra_fd (-1: none) is readable, for IMAP IDLE. Flushes output first.
 * Returns STREAM_READY_INPUT and/or STREAM_READY_FD, 0 on timeout, or -1
 * when the stream had failed already, the flush fails or poll() fails.
 * Input already buffered (in the stream or in TLS) counts as ready without
 * waiting. Ready input may be only part of a TLS record, a TLS message
 * with no data, or the peer's EOF: the next read waits under the stream's
 * timeout or reports the EOF.
 */
int stream_wait_readable(struct stream *s, int extra_fd, int timeout_ms);

#endif
