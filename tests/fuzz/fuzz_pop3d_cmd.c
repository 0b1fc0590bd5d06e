/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pop3d_cmd.c - POP3 command lines and the RETR/TOP encoder
 *
 * Input byte 0 picks the mode.
 * Even: the rest is client lines (split at LF); each goes through the
 * parser, the command table and the message-number parser, and the
 * parse is checked: every pointer inside the line, the keyword free of
 * spaces, arguments non-empty and space-free.
 * Odd: the rest is a message; byte 1 is the piece size and byte 2 the
 * TOP line count (0xff: RETR). The output is decoded again (undo the
 * stuffing, drop the terminator) and must equal the message with CRLF
 * line ends (for RETR), and the octet count must equal mbox_crlf_size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mbox.h"
#include "pop3d/pop3d_cmd.h"
#include "pop3d/pop3d_send.h"

static void check_args(const char *p, size_t len)
{
	struct pop3d_args a;
	if (pop3d_args_parse(p, len, &a) != POP3D_PARSE_OK)
		return;
	const char *end = p + len;
	if (a.keyword < p || a.keyword + a.keyword_len > end ||
	    a.keyword_len == 0 || memchr(a.keyword, ' ', a.keyword_len) ||
	    a.rest < p || a.rest + a.rest_len != end)
		abort();
	for (size_t i = 0; i < a.argc; i++)
		if (a.argv[i] < a.rest || a.argv[i] + a.argl[i] > end ||
		    a.argl[i] == 0 || memchr(a.argv[i], ' ', a.argl[i]))
			abort();
	const struct pop3d_cmd *c = pop3d_cmd_lookup(a.keyword, a.keyword_len);
	if (c && (c->min_args > c->max_args || !c->fn))
		abort();
	uint64_t n;
	for (size_t i = 0; i < a.argc; i++)
		(void)pop3d_msgno_parse(a.argv[i], a.argl[i], &n);
}

static void lines(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl ? nl + 1 : end;
		size_t len = (size_t)((nl ? nl : end) - p);
		if (len && p[len - 1] == '\r')
			len--;
		check_args(p, len);
		p = next;
	}
}

/* The message with CRLF line ends: what RETR must deliver. */
static void crlf(const uint8_t *m, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			(void)buf_append(out, "\r", 1);
		(void)buf_append(out, &m[i], 1);
	}
}

/* Undoes the wire form: lines split at CRLF, a leading dot removed, up
 * to the ".CRLF" line, which must be the last. */
static void unwire(const struct buf *w, struct buf *out)
{
	const char *p = w->data, *end = w->data + w->len;
	for (;;) {
		const char *e = p;
		while (e + 1 < end && !(e[0] == '\r' && e[1] == '\n'))
			e++;
		if (e + 1 >= end)
			abort(); /* no terminator */
		if (e - p == 1 && p[0] == '.') {
			if (e + 2 != end)
				abort(); /* bytes after the terminator */
			return;
		}
		if (p < e && p[0] == '.')
			p++;
		(void)buf_append(out, p, (size_t)(e + 2 - p));
		p = e + 2;
	}
}

static void message(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	size_t piece = data[0] ? data[0] : 1;
	bool top = data[1] != 0xff;
	const uint8_t *m = data + 2;
	size_t n = size - 2;
	struct pop3d_send ps;
	struct buf wire, back, want;
	buf_init(&wire, 0);
	buf_init(&back, 0);
	buf_init(&want, 0);
	pop3d_send_init(&ps, top, data[1]);
	for (size_t off = 0; off < n && !ps.done;) {
		size_t k = n - off < piece ? n - off : piece;
		size_t used =
		        pop3d_send_chunk(&ps, (const char *)m + off, k, &wire);
		if (used > k || (used < k && !ps.done))
			abort();
		off += used;
	}
	pop3d_send_finish(&ps, &wire);
	unwire(&wire, &back);
	if (!top) {
		bool cr = false;
		crlf(m, n, &want);
		if (ps.octets != mbox_crlf_size(m, n, &cr))
			abort();
		/* An unterminated last line gets its CRLF on the wire. */
		if (n && m[n - 1] != '\n')
			(void)buf_append(&want, "\r\n", 2);
		if (back.len != want.len ||
		    (back.len && memcmp(back.data, want.data, back.len) != 0))
			abort();
	}
	buf_deinit(&wire);
	buf_deinit(&back);
	buf_deinit(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		lines(data + 1, size - 1);
	else
		message(data + 1, size - 1);
	return 0;
}
