/* SPDX-License-Identifier: MIT */
/*
 * pop3d_send.c - message bytes as RETR and TOP put them on the wire
 *
 * Line-end conversion, byte-stuffing, the TOP cut and the terminating
 * line. Pure: the caller reads the file and writes the result.
 *
 * Why the octet count works this way: RFC 1939 asks LIST for "the exact
 * size of the message", and clients (fetchmail, getmail) compare it with
 * what RETR delivered after they undo the byte-stuffing and drop the
 * terminator. So the count is the message with CRLF line ends, no added
 * dots, no terminator: the vsize the mailbox index keeps (mbox_crlf_size,
 * whose rule - an LF without a CR before it becomes CRLF, every other
 * byte stays - is the rule used here). A bare CR is data, not a line end,
 * as it is for the index.
 */
#include "pop3d_send.h"

#include <string.h>

#include "common/log.h"

void pop3d_send_init(struct pop3d_send *ps, bool top, uint64_t lines)
{
	memset(ps, 0, sizeof(*ps));
	ps->top = top;
	ps->lines = lines;
	ps->in_header = true;
	ps->bol = true;
}

static void put(struct buf *out, const void *p, size_t n)
{
	/* The caller sized out for the worst case (pop3d_send.h). */
	if (buf_append(out, p, n) < 0)
		log_panic("pop3d_send: output buffer too small");
}

/* After a line end: TOP counts the header's end and the body lines. */
static void line_done(struct pop3d_send *ps, bool empty)
{
	if (!ps->top)
		return;
	if (ps->in_header) {
		if (empty) {
			ps->in_header = false;
			ps->done = ps->lines == 0;
		}
		return;
	}
	if (--ps->lines == 0)
		ps->done = true;
}

size_t pop3d_send_chunk(struct pop3d_send *ps, const char *in, size_t len,
                        struct buf *out)
{
	size_t i = 0;
	while (i < len && !ps->done) {
		if (ps->bol && in[i] == '.') {
			put(out, ".", 1); /* RFC 1939 3: byte-stuffing */
			ps->stuffed++;
		}
		const char *nl = memchr(in + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - in) : len;
		if (end > i) {
			put(out, in + i, end - i);
			ps->octets += end - i;
			ps->line_len += end - i;
			ps->prev_cr = in[end - 1] == '\r';
			ps->bol = false;
		}
		if (!nl) {
			i = end;
			break;
		}
		bool empty =
		        ps->line_len == 0 || (ps->line_len == 1 && ps->prev_cr);
		if (ps->prev_cr) {
			put(out, "\n", 1);
			ps->octets += 1;
		} else {
			put(out, "\r\n", 2);
			ps->octets += 2;
		}
		i = end + 1;
		ps->bol = true;
		ps->prev_cr = false;
		ps->line_len = 0;
		line_done(ps, empty);
	}
	return i;
}

void pop3d_send_finish(struct pop3d_send *ps, struct buf *out)
{
	if (!ps->bol)
		put(out, "\r\n", 2);
	put(out, ".\r\n", 3);
}
