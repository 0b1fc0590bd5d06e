/* SPDX-License-Identifier: MIT */
/*
 * imapd_reader.c - assemble IMAP commands from lines and literals
 *
 * The byte-level half of the command parser: finds line ends, recognises
 * a literal header "{n}" / "{n+}" at the end of a line, takes exactly n
 * bytes of literal, and enforces the size bounds, throwing away what it
 * refuses so the next command starts in the right place. It knows nothing
 * of the grammar beyond that (imapd_args.c parses the assembled command).
 *
 * States: LINE (line text into cmd), LITERAL (literal bytes into cmd),
 * SKIP_LINE (discarding to the end of the line, remembering its last
 * bytes to see whether it announced a literal), SKIP_LITERAL (discarding
 * a literal of a command already refused).
 */
#include "imapd/imapd_reader.h"

#include <string.h>

#include "imapd/imapd_args.h"

enum { ST_LINE, ST_LITERAL, ST_SKIP_LINE, ST_SKIP_LITERAL };

/* Largest literal length accepted in a header at all: RFC 3501 number is
 * 32 bits. */
#define LITERAL_NUMBER_MAX 4294967295ull

void imapd_reader_init(struct imapd_reader *r, size_t line_max,
                       size_t literal_max)
{
	memset(r, 0, sizeof(*r));
	r->line_max = line_max;
	r->literal_max = literal_max;
	/* cmd's own bound backs up the checks below. */
	size_t max = line_max + literal_max + line_max + 64;
	buf_init(&r->cmd, max);
	r->state = ST_LINE;
}

void imapd_reader_deinit(struct imapd_reader *r)
{
	buf_deinit(&r->cmd);
}

const char *imapd_reader_tag(const struct imapd_reader *r)
{
	return r->tag[0] ? r->tag : "*";
}

bool imapd_reader_busy(const struct imapd_reader *r)
{
	return !r->done && (r->cmd.len > 0 || r->state != ST_LINE);
}

/* Remembers the tag at the start of cmd (for the error reply of a command
 * that will be skipped). */
static void save_tag(struct imapd_reader *r)
{
	size_t n = 0;
	while (n < r->cmd.len && n < IMAPD_READER_TAG_MAX &&
	       imapd_is_tag_char((unsigned char)r->cmd.data[n]))
		n++;
	bool ended = n < r->cmd.len ? r->cmd.data[n] == ' ' : false;
	if (n == 0 || !ended) {
		r->tag[0] = '\0';
		return;
	}
	memcpy(r->tag, r->cmd.data, n);
	r->tag[n] = '\0';
}

/*
 * Does line end s[0..len) announce a literal? 1 with *n_out and *sync_out,
 * 0 no, -1 a literal header whose number is too large to read.
 * *hdr_len_out gets the length of "{...}".
 */
static int literal_header(const char *s, size_t len, uint64_t *n_out,
                          bool *sync_out, size_t *hdr_len_out)
{
	if (len < 3 || s[len - 1] != '}')
		return 0;
	size_t end = len - 1;
	bool sync = true;
	if (s[end - 1] == '+') {
		sync = false;
		end--;
	}
	size_t start = end;
	while (start > 0 && s[start - 1] >= '0' && s[start - 1] <= '9')
		start--;
	if (start == end || start == 0 || s[start - 1] != '{')
		return 0;
	uint64_t v = 0;
	for (size_t i = start; i < end; i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > LITERAL_NUMBER_MAX)
			return -1;
	}
	*n_out = v;
	*sync_out = sync;
	*hdr_len_out = len - (start - 1);
	return 1;
}

static void tail_add(struct imapd_reader *r, const char *p, size_t n)
{
	size_t cap = sizeof(r->tail);
	if (n >= cap) {
		memcpy(r->tail, p + n - cap, cap);
		r->tail_len = cap;
		return;
	}
	if (r->tail_len + n > cap) {
		size_t drop = r->tail_len + n - cap;
		memmove(r->tail, r->tail + drop, r->tail_len - drop);
		r->tail_len -= drop;
	}
	memcpy(r->tail + r->tail_len, p, n);
	r->tail_len += n;
}

/* Starts throwing away the rest of the command; s[0..n) is the input
 * not yet consumed, which holds the tag when cmd does not have it yet. */
static void start_skip(struct imapd_reader *r, int why, const char *s, size_t n)
{
	/* The line's last bytes so far may begin a literal header that
	 * the rest of the line completes: skipping must see them. */
	r->tail_len = 0;
	if (r->cmd.len > r->seg)
		tail_add(r, r->cmd.data + r->seg, r->cmd.len - r->seg);
	size_t before = r->cmd.len;
	if (r->cmd.len <= IMAPD_READER_TAG_MAX)
		(void)buf_append(&r->cmd, s,
		                 n < IMAPD_READER_TAG_MAX + 1
		                         ? n
		                         : IMAPD_READER_TAG_MAX + 1);
	save_tag(r);
	buf_truncate(&r->cmd, before);
	r->state = ST_SKIP_LINE;
	r->skip_event = why;
}

/* A complete line of a command (CR LF or LF already removed from cmd). */
static enum imapd_read_event line_done(struct imapd_reader *r)
{
	uint64_t n;
	bool sync;
	size_t hdr;
	/* Only line text can announce a literal, never literal bytes. */
	int lh = literal_header(r->cmd.data + r->seg, r->cmd.len - r->seg, &n,
	                        &sync, &hdr);
	if (lh == 0) {
		r->done = true;
		return IMAPD_READ_COMMAND;
	}
	bool too_big =
	        lh < 0 || n > r->literal_max ||
	        r->lit_total + n > (uint64_t)r->literal_max + r->line_max;
	if (too_big) {
		save_tag(r);
		if (lh > 0 && !sync) {
			/* The client sends it anyway: read it and drop it,
			 * with the rest of the command. */
			r->state = ST_SKIP_LITERAL;
			r->lit_left = n;
			r->skip_event = IMAPD_READ_TOO_BIG;
			return IMAPD_READ_MORE;
		}
		/* Synchronizing: refused now, the client sends nothing
		 * more of this command (RFC 3501 7.5). Unreadable number:
		 * nothing sensible can follow either. */
		r->done = true;
		r->state = ST_LINE;
		return IMAPD_READ_TOO_BIG;
	}
	/* Normalise "{n+}" to "{n}" and end the header with CRLF. */
	if (!sync) {
		r->cmd.data[r->cmd.len - 2] = '}';
		buf_truncate(&r->cmd, r->cmd.len - 1);
	}
	(void)buf_append(&r->cmd, "\r\n", 2);
	r->lit_total += n;
	r->lit_left = n;
	r->state = ST_LITERAL;
	return sync ? IMAPD_READ_CONTINUE : IMAPD_READ_MORE;
}

/* The end of a skipped line: was a literal announced? */
static enum imapd_read_event skip_line_done(struct imapd_reader *r)
{
	uint64_t n;
	bool sync;
	size_t hdr;
	size_t len = r->tail_len;
	if (len > 0 && r->tail[len - 1] == '\r')
		len--;
	int lh = literal_header(r->tail, len, &n, &sync, &hdr);
	if (lh > 0 && !sync) {
		r->state = ST_SKIP_LITERAL;
		r->lit_left = n;
		return IMAPD_READ_MORE;
	}
	/* A synchronizing literal is never invited: the client gives up
	 * the command when it reads our tagged reply. */
	r->done = true;
	r->state = ST_LINE;
	return (enum imapd_read_event)r->skip_event;
}

enum imapd_read_event imapd_reader_feed(struct imapd_reader *r, const char *p,
                                        size_t n, size_t *used_out)
{
	size_t used = 0;
	enum imapd_read_event ev = IMAPD_READ_MORE;
	if (r->done) {
		buf_reset(&r->cmd);
		r->done = false;
		r->line_used = 0;
		r->seg = 0;
		r->lit_total = 0;
		r->tag[0] = '\0';
		r->state = ST_LINE;
	}
	while (used < n && ev == IMAPD_READ_MORE) {
		const char *s = p + used;
		size_t avail = n - used;
		switch (r->state) {
		case ST_LINE: {
			const char *lf = memchr(s, '\n', avail);
			size_t take = lf ? (size_t)(lf - s) : avail;
			if (r->line_used + take > r->line_max + 1) {
				/* +1: a CR that belongs to the line end */
				start_skip(r, IMAPD_READ_TOO_LONG, s, avail);
				break;
			}
			(void)buf_append(&r->cmd, s, take);
			r->line_used += take;
			used += take;
			if (!lf)
				break;
			used++; /* the LF */
			if (r->cmd.len > r->seg &&
			    r->cmd.data[r->cmd.len - 1] == '\r') {
				buf_truncate(&r->cmd, r->cmd.len - 1);
				r->line_used--;
			}
			if (r->line_used > r->line_max) {
				save_tag(r);
				r->done = true;
				ev = IMAPD_READ_TOO_LONG;
				break;
			}
			if (r->cmd.len == 0)
				break; /* an empty line is no command */
			ev = line_done(r);
			break;
		}
		case ST_LITERAL: {
			size_t take = avail < r->lit_left ? avail
			                                  : (size_t)r->lit_left;
			(void)buf_append(&r->cmd, s, take);
			r->lit_left -= take;
			used += take;
			if (r->lit_left == 0) {
				r->state = ST_LINE;
				r->seg = r->cmd.len;
			}
			break;
		}
		case ST_SKIP_LINE: {
			const char *lf = memchr(s, '\n', avail);
			size_t take = lf ? (size_t)(lf - s) : avail;
			tail_add(r, s, take);
			used += take;
			if (!lf)
				break;
			used++;
			ev = skip_line_done(r);
			break;
		}
		case ST_SKIP_LITERAL: {
			size_t take = avail < r->lit_left ? avail
			                                  : (size_t)r->lit_left;
			r->lit_left -= take;
			used += take;
			if (r->lit_left == 0) {
				r->state = ST_SKIP_LINE;
				r->tail_len = 0;
			}
			break;
		}
		}
	}
	r->bytes_in += used;
	*used_out = used;
	return ev;
}
