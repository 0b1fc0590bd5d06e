/* SPDX-License-Identifier: MIT */
/*
 * test_stream.c - buffered socket streams, plaintext and TLS
 *
 * Plaintext cases run over socketpairs in one process; "byte at a time"
 * uses SOCK_SEQPACKET, where every one-byte send is one recv, so the line
 * reader sees each byte arrive alone. TLS cases fork: one side of the
 * handshake runs in a child, which reports through its exit status (0 =
 * as expected) and explains failures on stderr; cmocka asserts only in
 * the parent.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/stream.h"
#include "common/tls.h"
#include "tests/unit/tls_fixture.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_pair(int type, int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, type, 0, fds), 0);
}

/* Sends s over fd: all at once on a stream socket, one byte per packet
 * on a SOCK_SEQPACKET socket. */
static void feed(int fd, int type, const char *s, size_t n)
{
	size_t step = type == SOCK_SEQPACKET ? 1 : n;
	for (size_t off = 0; off < n; off += step)
		assert_int_equal(send(fd, s + off, step, MSG_NOSIGNAL),
		                 (ssize_t)step);
}

struct want_line {
	const char *text; /* NULL: expect failure with err */
	enum stream_eol eol;
	enum stream_error err;
};

static void expect_lines(struct stream *s, size_t max,
                         const struct want_line *want, size_t n)
{
	struct buf line;
	buf_init(&line, 0);
	for (size_t i = 0; i < n; i++) {
		enum stream_eol eol;
		int rc = stream_read_line(s, &line, max, &eol);
		if (want[i].text &&
		    (rc != 0 || line.len != strlen(want[i].text) ||
		     memcmp(line.data, want[i].text, line.len) ||
		     eol != want[i].eol))
			fail_msg("line %zu: got rc %d \"%s\" eol %d (%s), want "
			         "\"%s\" eol %d",
			         i, rc, buf_cstr(&line), eol, stream_errtext(s),
			         want[i].text, want[i].eol);
		if (!want[i].text &&
		    (rc != -1 || stream_error(s) != want[i].err))
			fail_msg("line %zu: got rc %d error %d \"%s\", want "
			         "error %d",
			         i, rc, stream_error(s), buf_cstr(&line),
			         want[i].err);
	}
	buf_deinit(&line);
}

/* Reads one line and checks it, terminator included. */
static void read_expect(struct stream *s, struct buf *line, size_t max,
                        const char *want)
{
	if (stream_read_line(s, line, max, NULL) != 0 ||
	    strcmp(buf_cstr(line), want) != 0)
		fail_msg("got \"%s\" (%s), want \"%s\"", buf_cstr(line),
		         stream_errtext(s), want);
}

static const int feed_types[] = {SOCK_STREAM, SOCK_SEQPACKET};

static void lines_and_eof(void **state)
{
	(void)state;
	static const char input[] = "EHLO a\r\nMAIL FROM:<x>\nRCPT\r\n"
	                            "bare\rcr\r\n\r\n\nlast";
	static const struct want_line want[] = {
	        {"EHLO a\r\n", STREAM_EOL_CRLF, 0},
	        {"MAIL FROM:<x>\n", STREAM_EOL_LF, 0},
	        {"RCPT\r\n", STREAM_EOL_CRLF, 0},
	        {"bare\rcr\r\n", STREAM_EOL_CRLF, 0},
	        {"\r\n", STREAM_EOL_CRLF, 0},
	        {"\n", STREAM_EOL_LF, 0},
	        {"last", STREAM_EOL_NONE, 0},
	        {NULL, 0, STREAM_ERR_EOF},
	        {NULL, 0, STREAM_ERR_EOF},
	};
	for (size_t t = 0; t < 2; t++) {
		int fds[2];
		make_pair(feed_types[t], fds);
		feed(fds[1], feed_types[t], input, sizeof(input) - 1);
		close(fds[1]);
		struct stream *s = stream_new(fds[0]);
		expect_lines(s, 100, want, sizeof(want) / sizeof(want[0]));
		assert_string_equal(stream_error_name(stream_error(s)),
		                    "lost connection");
		stream_free(&s);
		assert_null(s);
	}
}

static void overlong_lines_resync(void **state)
{
	(void)state;
	/* max 10 counts the terminator. */
	static const char input[] = "short\r\n"
	                            "0123456789abcdef\r\n"
	                            "next\r\n"
	                            "12345678\r\n"
	                            "123456789\r\n"
	                            "0123456789"
	                            "\r\n"
	                            "toolong-at-eof";
	static const struct want_line want[] = {
	        {"short\r\n", STREAM_EOL_CRLF, 0},
	        {NULL, 0, STREAM_ERR_TOO_LONG},
	        {"next\r\n", STREAM_EOL_CRLF, 0},
	        {"12345678\r\n", STREAM_EOL_CRLF, 0},
	        {NULL, 0, STREAM_ERR_TOO_LONG},
	        {NULL, 0, STREAM_ERR_TOO_LONG},
	        {NULL, 0, STREAM_ERR_EOF},
	};
	for (size_t t = 0; t < 2; t++) {
		int fds[2];
		make_pair(feed_types[t], fds);
		feed(fds[1], feed_types[t], input, sizeof(input) - 1);
		close(fds[1]);
		struct stream *s = stream_new(fds[0]);
		expect_lines(s, 10, want, sizeof(want) / sizeof(want[0]));
		stream_free(&s);
	}

	/* The first bytes of an over-long line stay for the log, and the
	 * line buffer's own maximum is a bound too. */
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	feed(fds[1], SOCK_STREAM, "abcdefgh\nok\n", 12);
	struct stream *s = stream_new(fds[0]);
	struct buf line;
	buf_init(&line, 5);
	assert_int_equal(stream_read_line(s, &line, 100, NULL), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_TOO_LONG);
	assert_string_equal(buf_cstr(&line), "abcde");
	assert_non_null(strstr(stream_errtext(s), "longer than 5"));
	read_expect(s, &line, 100, "ok\n");
	assert_int_equal(stream_error(s), STREAM_OK);
	buf_deinit(&line);
	stream_free(&s);
	close(fds[1]);
}

/* A line far longer than the stream's own buffer, written by a child
 * because the socket cannot hold it all. */
static void huge_line_resync(void **state)
{
	(void)state;
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		char block[1000];
		memset(block, 'x', sizeof(block));
		for (int i = 0; i < 300; i++)
			if (send(fds[1], block, sizeof(block), MSG_NOSIGNAL) <
			    0)
				_exit(1);
		_exit(send(fds[1], "\r\nQUIT\r\n", 8, MSG_NOSIGNAL) == 8 ? 0
		                                                         : 1);
	}
	close(fds[1]);
	struct stream *s = stream_new(fds[0]);
	static const struct want_line want[] = {
	        {NULL, 0, STREAM_ERR_TOO_LONG},
	        {"QUIT\r\n", STREAM_EOL_CRLF, 0},
	        {NULL, 0, STREAM_ERR_EOF},
	};
	expect_lines(s, 512, want, 3);
	stream_free(&s);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void exact_and_some(void **state)
{
	(void)state;
	for (size_t t = 0; t < 2; t++) {
		int fds[2];
		make_pair(feed_types[t], fds);
		feed(fds[1], feed_types[t], "BDAT 4\r\nabcd0123456789", 22);
		struct stream *s = stream_new(fds[0]);
		struct buf line;
		buf_init(&line, 0);
		assert_int_equal(stream_read_line(s, &line, 100, NULL), 0);
		char chunk[16] = "";
		assert_int_equal(stream_read_exact(s, chunk, 4), 0);
		assert_memory_equal(chunk, "abcd", 4);
		ssize_t n = stream_read_some(s, chunk, sizeof(chunk));
		assert_true(n >= 1 && n <= 10);
		assert_memory_equal(chunk, "0123456789", (size_t)n);
		assert_int_equal(stream_read_exact(s, chunk, 10 - (size_t)n),
		                 0);
		assert_memory_equal(chunk, "0123456789" + n, 10 - (size_t)n);
		feed(fds[1], feed_types[t], "xy", 2);
		close(fds[1]);
		/* EOF before n bytes. */
		assert_int_equal(stream_read_exact(s, chunk, 3), -1);
		assert_int_equal(stream_error(s), STREAM_ERR_EOF);
		assert_int_equal(stream_read_some(s, chunk, 1), -1);
		buf_deinit(&line);
		stream_free(&s);
	}
}

/* stream_read_part stops after LF and at n, never past a line. */
static void parts_stop_at_lf(void **state)
{
	(void)state;
	for (size_t t = 0; t < 2; t++) {
		int fds[2];
		make_pair(feed_types[t], fds);
		static const char in[] = "abcdefgh\r\n.\r\nQUIT\r\n";
		feed(fds[1], feed_types[t], in, sizeof(in) - 1);
		struct stream *s = stream_new(fds[0]);
		char got[64];
		size_t len = 0;
		/* Collect the payload up to and including ".\r\n". */
		while (len < 13) {
			ssize_t n = stream_read_part(s, got + len, 4);
			assert_true(n >= 1 && n <= 4);
			assert_null(memchr(got + len, '\n', (size_t)n - 1));
			len += (size_t)n;
		}
		assert_int_equal(len, 13);
		assert_memory_equal(got, in, 13);
		struct buf line;
		buf_init(&line, 0);
		assert_int_equal(stream_read_line(s, &line, 100, NULL), 0);
		assert_string_equal(buf_cstr(&line), "QUIT\r\n");
		buf_deinit(&line);
		close(fds[1]);
		stream_free(&s);
	}
}

static void timeouts(void **state)
{
	(void)state;
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 100);
	struct buf line;
	buf_init(&line, 0);
	int64_t t0 = now_ms();
	assert_int_equal(stream_read_line(s, &line, 100, NULL), -1);
	int64_t took = now_ms() - t0;
	assert_int_equal(stream_error(s), STREAM_ERR_TIMEOUT);
	assert_string_equal(stream_error_name(STREAM_ERR_TIMEOUT), "timeout");
	assert_true(took >= 95 && took < 1000);
	/* Sticky: the next call fails at once, even with data waiting. */
	feed(fds[1], SOCK_STREAM, "late\r\n", 6);
	t0 = now_ms();
	assert_int_equal(stream_read_line(s, &line, 100, NULL), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_TIMEOUT);
	assert_true(now_ms() - t0 < 50);
	assert_int_equal(stream_puts(s, "x"), -1);
	stream_free(&s);
	close(fds[1]);

	/* The deadline covers the whole line: trickling bytes do not
	 * extend it. */
	make_pair(SOCK_STREAM, fds);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		for (int i = 0; i < 50; i++) {
			if (send(fds[1], "a", 1, MSG_NOSIGNAL) != 1)
				_exit(0);
			(void)poll(NULL, 0, 20);
		}
		_exit(0);
	}
	close(fds[1]);
	s = stream_new(fds[0]);
	stream_set_timeout(s, 150);
	t0 = now_ms();
	assert_int_equal(stream_read_line(s, &line, 1000, NULL), -1);
	took = now_ms() - t0;
	assert_int_equal(stream_error(s), STREAM_ERR_TIMEOUT);
	assert_true(took >= 145 && took < 600);
	stream_free(&s);
	(void)waitpid(pid, NULL, 0);
	buf_deinit(&line);
}

static void pending_and_discard(void **state)
{
	(void)state;
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	feed(fds[1], SOCK_STREAM, "STARTTLS\r\nMAIL FROM:<a>\r\n", 25);
	struct stream *s = stream_new(fds[0]);
	struct buf line;
	buf_init(&line, 0);
	read_expect(s, &line, 100, "STARTTLS\r\n");
	assert_int_equal(stream_pending(s), 15);

	/* Plaintext after STARTTLS must not survive into TLS. */
	struct err e;
	struct tls_server_config cfg = {.cert_file = fixture_path("mx.crt"),
	                                .key_file = fixture_path("mx.key")};
	struct tls_ctx *ctx = tls_server_ctx_new(&cfg, &e);
	assert_non_null(ctx);
	assert_int_equal(stream_start_tls_server(s, ctx), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_PENDING);
	assert_non_null(strstr(stream_errtext(s), "15 bytes of plaintext"));
	assert_null(stream_tls(s));
	assert_int_equal(stream_discard_input(s), 15);
	assert_int_equal(stream_pending(s), 0);
	assert_int_equal(stream_discard_input(s), 0);
	/* Not sticky: the stream still works. */
	feed(fds[1], SOCK_STREAM, "NOOP\r\n", 6);
	read_expect(s, &line, 100, "NOOP\r\n");
	buf_deinit(&line);
	stream_free(&s);
	tls_ctx_free(&ctx);
	close(fds[1]);
}

static void buffered_writes(void **state)
{
	(void)state;
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	struct stream *s = stream_new(fds[0]);
	assert_int_equal(stream_printf(s, "250-%s\r\n", "mx.example.test"), 0);
	assert_int_equal(stream_puts(s, "250 "), 0);
	assert_int_equal(stream_write(s, "OK\r\n", 4), 0);
	char got[64];
	/* Nothing leaves before the flush. */
	assert_int_equal(recv(fds[1], got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(stream_flush(s), 0);
	static const char want[] = "250-mx.example.test\r\n250 OK\r\n";
	assert_int_equal(recv(fds[1], got, sizeof(got), 0), sizeof(want) - 1);
	assert_memory_equal(got, want, sizeof(want) - 1);

	/* More than the output buffer, through printf and write. */
	char *big = malloc(40001);
	memset(big, 'y', 40000);
	big[40000] = 0;
	assert_int_equal(stream_printf(s, "%s", big), 0);
	assert_int_equal(stream_write(s, big, 40000), 0);
	assert_int_equal(stream_flush(s), 0);
	size_t total = 0;
	ssize_t r;
	while (total < 80000 &&
	       (r = recv(fds[1], big, 40000, MSG_DONTWAIT)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			assert_int_equal(big[i], 'y');
		total += (size_t)r;
	}
	assert_int_equal(total, 80000);
	free(big);

	/* A vanished peer: an error, not SIGPIPE (which would kill us). */
	close(fds[1]);
	assert_int_equal(stream_puts(s, "221 bye\r\n"), 0);
	assert_int_equal(stream_flush(s), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_IO);
	assert_non_null(strstr(stream_errtext(s), "Broken pipe"));
	stream_free(&s);
}

/* A read that must wait sends the replies first (RFC 2920): otherwise
 * client and server would wait for each other until the timeout. */
static void read_flushes_replies(void **state)
{
	(void)state;
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		char got[16];
		ssize_t n = recv(fds[1], got, sizeof(got), 0);
		if (n != 8 || memcmp(got, "220 hi\r\n", 8) != 0)
			_exit(1);
		_exit(send(fds[1], "EHLO\r\n", 6, MSG_NOSIGNAL) == 6 ? 0 : 1);
	}
	close(fds[1]);
	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 5000);
	assert_int_equal(stream_puts(s, "220 hi\r\n"), 0);
	struct buf line;
	buf_init(&line, 0);
	read_expect(s, &line, 100, "EHLO\r\n");
	buf_deinit(&line);
	stream_free(&s);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void wait_readable(void **state)
{
	(void)state;
	int fds[2], pfd[2];
	make_pair(SOCK_STREAM, fds);
	assert_int_equal(pipe(pfd), 0);
	struct stream *s = stream_new(fds[0]);
	int64_t t0 = now_ms();
	assert_int_equal(stream_wait_readable(s, pfd[0], 50), 0);
	assert_true(now_ms() - t0 >= 45);
	assert_int_equal(write(pfd[1], "x", 1), 1);
	assert_int_equal(stream_wait_readable(s, pfd[0], -1), STREAM_READY_FD);
	feed(fds[1], SOCK_STREAM, "a\r\nDONE\r\n", 9);
	assert_int_equal(stream_wait_readable(s, pfd[0], -1),
	                 STREAM_READY_FD | STREAM_READY_INPUT);
	char c;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(stream_wait_readable(s, -1, 1000), STREAM_READY_INPUT);
	/* After the first line, the second is buffered: ready at once even
	 * though the socket itself is drained. */
	struct buf line;
	buf_init(&line, 0);
	assert_int_equal(stream_read_line(s, &line, 100, NULL), 0);
	assert_int_equal(stream_wait_readable(s, pfd[0], -1),
	                 STREAM_READY_INPUT);
	read_expect(s, &line, 100, "DONE\r\n");
	assert_int_equal(stream_wait_readable(s, pfd[0], 10), 0);
	/* EOF shows as input; the read then reports it. */
	close(fds[1]);
	assert_int_equal(stream_wait_readable(s, -1, 1000), STREAM_READY_INPUT);
	assert_int_equal(stream_read_line(s, &line, 100, NULL), -1);
	assert_int_equal(stream_wait_readable(s, -1, 1000), -1);
	buf_deinit(&line);
	stream_free(&s);
	close(pfd[0]);
	close(pfd[1]);
}

static void keep_fd(void **state)
{
	(void)state;
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	struct stream *s = stream_new(fds[0]);
	assert_int_equal(stream_fd(s), fds[0]);
	assert_true(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
	stream_keep_fd(s);
	stream_free(&s);
	int fl = fcntl(fds[0], F_GETFL);
	assert_true(fl >= 0 && !(fl & O_NONBLOCK));
	close(fds[0]);
	close(fds[1]);
}

/* ---- TLS ------------------------------------------------------------ */

typedef int (*side_fn)(int fd, void *arg);

/* Runs fn(fds[1], arg) in a child; the parent keeps fds[0]. */
static pid_t spawn(side_fn fn, int fds[2], void *arg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(fn(fds[1], arg));
	}
	close(fds[1]);
	return pid;
}

static int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CHECK(cond, s)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "child %s:%d: %s (%s)\n", __FILE__,    \
			        __LINE__, #cond, stream_errtext(s));           \
			return 1;                                              \
		}                                                              \
	} while (0)

static struct tls_ctx *server_ctx(const char *ticket_key)
{
	struct err e;
	struct tls_server_config cfg = {.cert_file = fixture_path("mx.crt"),
	                                .key_file = fixture_path("mx.key"),
	                                .ticket_key_file = ticket_key,
	                                .ticket_lifetime = 3600};
	struct tls_ctx *ctx = tls_server_ctx_new(&cfg, &e);
	if (!ctx)
		fail_msg("server context: %s", e.msg);
	return ctx;
}

static struct tls_ctx *client_ctx(enum tls_level level, const char *ca,
                                  const char *protocols, const char *ciphers)
{
	struct err e;
	struct tls_client_config cfg = {.level = level,
	                                .ca_file = ca,
	                                .protocols = protocols,
	                                .ciphers = ciphers};
	struct tls_ctx *ctx = tls_client_ctx_new(&cfg, &e);
	if (!ctx)
		fail_msg("client context: %s", e.msg);
	return ctx;
}

/* A STARTTLS client at level may: the child half of tls_starttls. */
static int starttls_client(int fd, void *arg)
{
	struct stream *s = stream_new(fd);
	stream_set_timeout(s, 5000);
	struct buf line;
	buf_init(&line, 1000);
	char desc[256];
	CHECK(stream_puts(s, "STARTTLS\r\n") == 0, s);
	CHECK(stream_read_line(s, &line, 1000, NULL) == 0, s);
	CHECK(strcmp(buf_cstr(&line), "220 go\r\n") == 0, s);
	struct tls_peer peer = {.host = "mx.example.test"};
	CHECK(stream_start_tls_client(s, arg, &peer) == 0, s);
	struct tls_conn *c = stream_tls(s);
	CHECK(tls_conn_trust(c) == TLS_TRUST_UNTRUSTED, s);
	CHECK(strcmp(tls_conn_peer_cn(c), "mx.example.test") == 0, s);
	CHECK(strstr(tls_conn_verify_error(c), "self-signed") != NULL, s);
	tls_conn_describe(c, "mx.example.test[127.0.0.1]", desc, sizeof(desc));
	CHECK(strncmp(desc,
	              "Untrusted TLS connection established to "
	              "mx.example.test[127.0.0.1]: TLSv1.3 with cipher ",
	              88) == 0,
	      s);
	/* Three commands and a block in one write: pipelined over TLS. */
	CHECK(stream_puts(s, "EHLO c\r\nBDAT 5\r\n12345NOOP\r\n") == 0, s);
	CHECK(stream_read_line(s, &line, 1000, NULL) == 0, s);
	CHECK(strcmp(buf_cstr(&line), "250 ok\r\n") == 0, s);
	/* The server closes: EOF over TLS. */
	CHECK(stream_read_line(s, &line, 1000, NULL) == -1, s);
	CHECK(stream_error(s) == STREAM_ERR_EOF, s);
	buf_deinit(&line);
	stream_free(&s);
	return 0;
}

static void tls_starttls(void **state)
{
	(void)state;
	struct tls_ctx *sctx = server_ctx(NULL);
	struct tls_ctx *cctx = client_ctx(TLS_LEVEL_MAY, NULL, NULL, NULL);
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	pid_t pid = spawn(starttls_client, fds, cctx);

	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 5000);
	struct buf line;
	buf_init(&line, 1000);
	read_expect(s, &line, 1000, "STARTTLS\r\n");
	assert_int_equal(stream_pending(s), 0);
	assert_int_equal(stream_puts(s, "220 go\r\n"), 0);
	if (stream_start_tls_server(s, sctx) < 0)
		fail_msg("handshake: %s", stream_errtext(s));
	struct tls_conn *c = stream_tls(s);
	assert_non_null(c);
	assert_string_equal(tls_conn_protocol(c), "TLSv1.3");
	assert_int_equal(tls_conn_trust(c), TLS_TRUST_ANONYMOUS);
	assert_false(tls_conn_reused(c));
	int alg;
	assert_true(tls_conn_bits(c, &alg) >= 128 && alg >= 128);
	char desc[256];
	assert_ptr_equal(tls_conn_describe(c, "client.test[127.0.0.1]", desc,
	                                   sizeof(desc)),
	                 desc);
	char want[256];
	(void)snprintf(want, sizeof(want),
	               "Anonymous TLS connection established from "
	               "client.test[127.0.0.1]: TLSv1.3 with cipher %s "
	               "(%d/%d bits)",
	               tls_conn_cipher(c), tls_conn_bits(c, NULL), alg);
	assert_string_equal(desc, want);
	assert_non_null(
	        strstr(tls_conn_summary(c), "TLSv1.3 with cipher TLS_"));

	read_expect(s, &line, 1000, "EHLO c\r\n");
	/* The rest was pipelined behind it. */
	assert_true(stream_pending(s) > 0);
	assert_int_equal(stream_wait_readable(s, -1, 0), STREAM_READY_INPUT);
	read_expect(s, &line, 1000, "BDAT 5\r\n");
	char chunk[5];
	assert_int_equal(stream_read_exact(s, chunk, 5), 0);
	assert_memory_equal(chunk, "12345", 5);
	read_expect(s, &line, 1000, "NOOP\r\n");
	assert_int_equal(stream_pending(s), 0);
	assert_int_equal(stream_puts(s, "250 ok\r\n"), 0);
	assert_int_equal(stream_flush(s), 0);
	stream_free(&s);
	assert_int_equal(reap(pid), 0);
	buf_deinit(&line);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* Client side that only handshakes (implicit TLS) and reports how it
 * went: 0 handshake done, 2 refused. */
static int plain_tls_client(int fd, void *arg)
{
	struct stream *s = stream_new(fd);
	stream_set_timeout(s, 5000);
	int rc = stream_start_tls_client(s, arg, NULL) == 0 ? 0 : 2;
	stream_free(&s);
	return rc;
}

static void tls11_client_refused(void **state)
{
	(void)state;
	struct tls_ctx *sctx = server_ctx(NULL);
	/* A client that can only speak TLS 1.1; OpenSSL 3 allows 1.1 only at
	 * security level 0, so this client really sends a 1.1 hello. */
	struct tls_ctx *cctx = client_ctx(TLS_LEVEL_ENCRYPT, NULL, "<=TLSv1.1",
	                                  "DEFAULT:@SECLEVEL=0");
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	pid_t pid = spawn(plain_tls_client, fds, cctx);
	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 5000);
	assert_int_equal(stream_start_tls_server(s, sctx), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_TLS);
	if (!strstr(stream_errtext(s), "unsupported protocol"))
		fail_msg("got \"%s\"", stream_errtext(s));
	/* The stream is dead now. */
	assert_int_equal(stream_puts(s, "x"), -1);
	stream_free(&s);
	assert_int_equal(reap(pid), 2);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

/* Server side for the client-centred tests: handshake, greet, wait for
 * the client to go. Exit 0 (new session), 10 (resumed), 2 (handshake
 * failed). */
static int greeting_server(int fd, void *arg)
{
	struct stream *s = stream_new(fd);
	stream_set_timeout(s, 5000);
	if (stream_start_tls_server(s, arg) < 0) {
		stream_free(&s);
		return 2;
	}
	CHECK(stream_puts(s, "hello\r\n") == 0, s);
	struct buf line;
	buf_init(&line, 100);
	CHECK(stream_read_line(s, &line, 100, NULL) == -1, s);
	CHECK(stream_error(s) == STREAM_ERR_EOF, s);
	int rc = tls_conn_reused(stream_tls(s)) ? 10 : 0;
	buf_deinit(&line);
	stream_free(&s);
	return rc;
}

struct client_result {
	int rc; /* stream_start_tls_client() */
	enum stream_error err;
	char errtext[512];
	enum tls_trust trust;
	bool reused;
	char desc[256];
	char verify_error[128];
	long lifetime; /* of the session exported */
	int server_rc; /* the child's exit status */
};

/* One connection from a client in this process to greeting_server in a
 * child; session (may be NULL) is offered, then replaced by the new one.
 * peer gives the names, level and match list. */
static void connect_peer(struct tls_ctx *sctx, struct tls_ctx *cctx,
                         const struct tls_peer *names, struct buf *session,
                         struct client_result *out)
{
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	pid_t pid = spawn(greeting_server, fds, sctx);
	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 5000);
	struct tls_peer peer = *names;
	if (session) {
		peer.session = session->data;
		peer.session_len = session->len;
	}
	memset(out, 0, sizeof(*out));
	out->rc = stream_start_tls_client(s, cctx, &peer);
	out->err = stream_error(s);
	(void)snprintf(out->errtext, sizeof(out->errtext), "%s",
	               stream_errtext(s));
	if (stream_tls(s))
		(void)snprintf(out->verify_error, sizeof(out->verify_error),
		               "%s", tls_conn_verify_error(stream_tls(s)));
	if (out->rc == 0) {
		struct tls_conn *c = stream_tls(s);
		out->trust = tls_conn_trust(c);
		out->reused = tls_conn_reused(c);
		tls_conn_describe(c, "mx.example.test[127.0.0.1]", out->desc,
		                  sizeof(out->desc));
		struct buf line;
		buf_init(&line, 100);
		/* Reading the greeting also takes in the TLS 1.3 ticket. */
		read_expect(s, &line, 100, "hello\r\n");
		buf_deinit(&line);
		if (session) {
			buf_reset(session);
			assert_int_equal(tls_conn_session_export(c, session),
			                 1);
			out->lifetime = tls_conn_session_lifetime(c);
		}
	}
	stream_free(&s);
	out->server_rc = reap(pid);
}

static void connect_once(struct tls_ctx *sctx, struct tls_ctx *cctx,
                         const char *host, const char *nexthop,
                         struct buf *session, struct client_result *out)
{
	struct tls_peer peer = {.host = host, .nexthop = nexthop};
	connect_peer(sctx, cctx, &peer, session, out);
}

static void tls_resumption(void **state)
{
	(void)state;
	const char *key = fixture_path("ticket.key");
	assert_int_equal(access(key, F_OK), -1);
	/* Two contexts reading one key file stand for two processes. */
	struct tls_ctx *a = server_ctx(key);
	struct tls_ctx *b = server_ctx(key);
	struct tls_ctx *other = server_ctx(fixture_path("other-ticket.key"));
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	static const char *const protocols[] = {NULL, "<=TLSv1.2"};
	for (size_t i = 0; i < 2; i++) {
		struct tls_ctx *cctx =
		        client_ctx(TLS_LEVEL_MAY, NULL, protocols[i], NULL);
		struct buf session;
		buf_init(&session, 65536);
		struct client_result r;
		connect_once(a, cctx, "mx.example.test", NULL, &session, &r);
		assert_int_equal(r.rc, 0);
		assert_false(r.reused);
		assert_int_equal(r.server_rc, 0);
		assert_true(session.len > 0);
		/* The server's ticket lifetime (3600 s) bounds it. */
		if (r.lifetime < 3500 || r.lifetime > 3600)
			fail_msg("session lifetime %ld", r.lifetime);

		connect_once(b, cctx, "mx.example.test", NULL, &session, &r);
		if (r.rc != 0 || !r.reused || r.server_rc != 10)
			fail_msg("%s: rc %d reused %d server %d",
			         protocols[i] ? protocols[i] : "default", r.rc,
			         r.reused, r.server_rc);

		/* A server with another key cannot read the ticket. */
		connect_once(other, cctx, "mx.example.test", NULL, &session,
		             &r);
		assert_int_equal(r.rc, 0);
		assert_false(r.reused);
		assert_int_equal(r.server_rc, 0);

		/* Garbage offered as a session costs only a full handshake. */
		buf_reset(&session);
		assert_int_equal(buf_append_str(&session, "not DER"), 0);
		connect_once(a, cctx, "mx.example.test", NULL, &session, &r);
		assert_int_equal(r.rc, 0);
		assert_false(r.reused);
		buf_deinit(&session);
		tls_ctx_free(&cctx);
	}
	tls_ctx_free(&a);
	tls_ctx_free(&b);
	tls_ctx_free(&other);
}

static void tls_verification(void **state)
{
	(void)state;
	struct tls_ctx *sctx = server_ctx(NULL);
	static const struct {
		enum tls_level level;
		const char *ca, *host, *nexthop;
		enum tls_trust trust; /* when it succeeds */
		const char *error;    /* NULL: must succeed */
	} cases[] = {
	        /* A CA file without the server's certificate. */
	        {TLS_LEVEL_VERIFY, "other.crt", "mx.example.test", NULL, 0,
	         "certificate verification failed: self-signed certificate"},
	        {TLS_LEVEL_VERIFY, "mx.crt", "mx.example.test", NULL,
	         TLS_TRUST_VERIFIED, NULL},
	        {TLS_LEVEL_VERIFY, "mx.crt", "MX.Example.Test", NULL,
	         TLS_TRUST_VERIFIED, NULL},
	        {TLS_LEVEL_VERIFY, "mx.crt", "wrong.example.test", NULL, 0,
	         "certificate verification failed: hostname mismatch"},
	        /* secure: the next hop or a subdomain of it. */
	        {TLS_LEVEL_SECURE, "mx.crt", "mx.example.test", "example.test",
	         TLS_TRUST_VERIFIED, NULL},
	        {TLS_LEVEL_SECURE, "mx.crt", "mx.example.test",
	         "mx.example.test", TLS_TRUST_VERIFIED, NULL},
	        {TLS_LEVEL_SECURE, "mx.crt", "mx.example.test", "example.org",
	         0, "hostname mismatch"},
	        {TLS_LEVEL_SECURE, "other.crt", "mx.example.test",
	         "example.test", 0, "self-signed certificate"},
	        /* Below verify, failures only show in the trust level. */
	        {TLS_LEVEL_MAY, "mx.crt", "wrong.example.test", NULL,
	         TLS_TRUST_TRUSTED, NULL},
	        {TLS_LEVEL_ENCRYPT, "other.crt", "mx.example.test", NULL,
	         TLS_TRUST_UNTRUSTED, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_ctx *cctx = client_ctx(
		        cases[i].level, fixture_path(cases[i].ca), NULL, NULL);
		struct client_result r;
		connect_once(sctx, cctx, cases[i].host, cases[i].nexthop, NULL,
		             &r);
		if (cases[i].error) {
			if (r.rc != -1 || r.err != STREAM_ERR_TLS ||
			    !strstr(r.errtext, cases[i].error) ||
			    r.server_rc != 2)
				fail_msg("case %zu: got rc %d err %d \"%s\" "
				         "server %d, want \"%s\"",
				         i, r.rc, r.err, r.errtext, r.server_rc,
				         cases[i].error);
		} else if (r.rc != 0 || r.trust != cases[i].trust ||
		           r.server_rc != 0) {
			fail_msg("case %zu: got rc %d \"%s\" trust %d server "
			         "%d, want trust %d",
			         i, r.rc, r.errtext, r.trust, r.server_rc,
			         cases[i].trust);
		} else if (strncmp(r.desc, tls_trust_name(r.trust),
		                   strlen(tls_trust_name(r.trust))) != 0) {
			fail_msg("case %zu: \"%s\"", i, r.desc);
		}
		tls_ctx_free(&cctx);
	}
	tls_ctx_free(&sctx);
}

/* A per-connection level and match list (smtp_tls_policy_maps) on a
 * context made for another level. */
static void tls_peer_policy(void **state)
{
	(void)state;
	struct tls_ctx *sctx = server_ctx(NULL);
	static const char *const mx[] = {"nope.example.test", "mx.example.test"};
	static const char *const dot[] = {".example.test"};
	static const char *const parent[] = {"example.test"};
	static const char *const addr[] = {"127.0.0.1"};
	static const struct {
		enum tls_level ctx_level, level;
		const char *ca, *host;
		const char *const *match;
		size_t nmatch;
		enum tls_trust trust;
		const char *error; /* NULL: must succeed */
	} cases[] = {
	        {TLS_LEVEL_MAY, TLS_LEVEL_VERIFY, "mx.crt", "mx.example.test",
	         NULL, 0, TLS_TRUST_VERIFIED, NULL},
	        {TLS_LEVEL_MAY, TLS_LEVEL_VERIFY, "mx.crt",
	         "wrong.example.test", NULL, 0, 0, "hostname mismatch"},
	        {TLS_LEVEL_MAY, TLS_LEVEL_SECURE, "other.crt", "mx.example.test",
	         mx, 2, 0, "self-signed certificate"},
	        /* A lower level than the context's: no verification. */
	        {TLS_LEVEL_VERIFY, TLS_LEVEL_ENCRYPT, "other.crt",
	         "wrong.example.test", NULL, 0, TLS_TRUST_UNTRUSTED, NULL},
	        /* match: any one name; a leading dot for subdomains only. */
	        {TLS_LEVEL_MAY, TLS_LEVEL_VERIFY, "mx.crt",
	         "wrong.example.test", mx, 2, TLS_TRUST_VERIFIED, NULL},
	        {TLS_LEVEL_MAY, TLS_LEVEL_SECURE, "mx.crt", "wrong.example.test",
	         dot, 1, TLS_TRUST_VERIFIED, NULL},
	        {TLS_LEVEL_MAY, TLS_LEVEL_VERIFY, "mx.crt", "mx.example.test",
	         parent, 1, 0, "hostname mismatch"},
	        {TLS_LEVEL_MAY, TLS_LEVEL_VERIFY, "mx.crt", "mx.example.test",
	         addr, 1, 0, "IP address mismatch"},
	        /* TLS_LEVEL_NONE in the peer keeps the context's level. */
	        {TLS_LEVEL_VERIFY, TLS_LEVEL_NONE, "mx.crt",
	         "wrong.example.test", NULL, 0, 0, "hostname mismatch"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_ctx *cctx = client_ctx(cases[i].ctx_level,
		                                  fixture_path(cases[i].ca),
		                                  NULL, NULL);
		struct tls_peer peer = {.host = cases[i].host,
		                        .nexthop = "example.org",
		                        .level = cases[i].level,
		                        .match = cases[i].match,
		                        .nmatch = cases[i].nmatch};
		struct client_result r;
		connect_peer(sctx, cctx, &peer, NULL, &r);
		if (cases[i].error) {
			if (r.rc != -1 || !strstr(r.errtext, cases[i].error) ||
			    !strstr(r.verify_error, cases[i].error))
				fail_msg("case %zu: got rc %d \"%s\" (%s), want "
				         "\"%s\"",
				         i, r.rc, r.errtext, r.verify_error,
				         cases[i].error);
		} else if (r.rc != 0 || r.trust != cases[i].trust) {
			fail_msg("case %zu: got rc %d \"%s\" trust %d, want "
			         "trust %d",
			         i, r.rc, r.errtext, r.trust, cases[i].trust);
		}
		tls_ctx_free(&cctx);
	}
	tls_ctx_free(&sctx);
}

static int silent_peer(int fd, void *arg)
{
	(void)arg;
	char buf[4096];
	/* Take in whatever comes and answer nothing, until the other side
	 * gives up and closes. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static void tls_handshake_limits(void **state)
{
	(void)state;
	struct tls_ctx *sctx = server_ctx(NULL);
	/* A client that connects and says nothing. */
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 100);
	int64_t t0 = now_ms();
	assert_int_equal(stream_start_tls_server(s, sctx), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_TIMEOUT);
	assert_true(now_ms() - t0 < 1000);
	stream_free(&s);
	close(fds[1]);

	/* A client that hangs up instead of saying hello. */
	make_pair(SOCK_STREAM, fds);
	close(fds[1]);
	s = stream_new(fds[0]);
	assert_int_equal(stream_start_tls_server(s, sctx), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_EOF);
	stream_free(&s);

	/* A server that never answers the client hello. */
	struct tls_ctx *cctx = client_ctx(TLS_LEVEL_MAY, NULL, NULL, NULL);
	make_pair(SOCK_STREAM, fds);
	pid_t pid = spawn(silent_peer, fds, NULL);
	s = stream_new(fds[0]);
	stream_set_timeout(s, 100);
	assert_int_equal(stream_start_tls_client(s, cctx, NULL), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_TIMEOUT);
	stream_free(&s);
	assert_int_equal(reap(pid), 0);
	/* A server that sends plaintext instead of a server hello. */
	make_pair(SOCK_STREAM, fds);
	feed(fds[1], SOCK_STREAM, "220 not TLS at all\r\n", 20);
	s = stream_new(fds[0]);
	stream_set_timeout(s, 2000);
	assert_int_equal(stream_start_tls_client(s, cctx, NULL), -1);
	assert_int_equal(stream_error(s), STREAM_ERR_TLS);
	assert_non_null(strstr(stream_errtext(s), "TLS handshake failed"));
	stream_free(&s);
	close(fds[1]);
	tls_ctx_free(&cctx);
	tls_ctx_free(&sctx);
}

/* Writing into a TLS connection whose peer has gone fails; it does not
 * raise SIGPIPE (which would kill this test). */
static void tls_write_to_gone_peer(void **state)
{
	(void)state;
	struct tls_ctx *sctx = server_ctx(NULL);
	struct tls_ctx *cctx = client_ctx(TLS_LEVEL_MAY, NULL, NULL, NULL);
	int fds[2];
	make_pair(SOCK_STREAM, fds);
	pid_t pid = spawn(plain_tls_client, fds, cctx);
	struct stream *s = stream_new(fds[0]);
	stream_set_timeout(s, 5000);
	assert_int_equal(stream_start_tls_server(s, sctx), 0);
	assert_int_equal(reap(pid), 0);
	char block[4096];
	memset(block, 'z', sizeof(block));
	int rc = 0;
	for (int i = 0; i < 1000 && rc == 0; i++)
		rc = stream_write(s, block, sizeof(block));
	if (rc == 0)
		rc = stream_flush(s);
	assert_int_equal(rc, -1);
	assert_true(stream_error(s) == STREAM_ERR_IO ||
	            stream_error(s) == STREAM_ERR_EOF);
	stream_free(&s);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(lines_and_eof),
	        cmocka_unit_test(overlong_lines_resync),
	        cmocka_unit_test(huge_line_resync),
	        cmocka_unit_test(exact_and_some),
	        cmocka_unit_test(parts_stop_at_lf),
	        cmocka_unit_test(timeouts),
	        cmocka_unit_test(pending_and_discard),
	        cmocka_unit_test(buffered_writes),
	        cmocka_unit_test(read_flushes_replies),
	        cmocka_unit_test(wait_readable),
	        cmocka_unit_test(keep_fd),
	        cmocka_unit_test(tls_starttls),
	        cmocka_unit_test(tls11_client_refused),
	        cmocka_unit_test(tls_resumption),
	        cmocka_unit_test(tls_verification),
	        cmocka_unit_test(tls_peer_policy),
	        cmocka_unit_test(tls_handshake_limits),
	        cmocka_unit_test(tls_write_to_gone_peer),
	};
	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
