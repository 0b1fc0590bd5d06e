/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imapd_parse.c - the IMAP command reader and every argument parser
 * of imapd, on any bytes
 *
 * The input is fed to the reader twice, all at once and in pieces of a
 * size taken from the first byte, and both must give the same commands.
 * Each command is then parsed as every grammar imapd has (tag and name,
 * FETCH items, SEARCH programs, flag lists, sequence sets, mailbox names
 * and LIST patterns, dates): none may crash, read outside the command,
 * or recurse past the nesting bound.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "imapd/imapd_args.h"
#include "imapd/imapd_date.h"
#include "imapd/imapd_fetch.h"
#include "imapd/imapd_reader.h"
#include "imapd/imapd_search.h"
#include "imapd/imapd_seqset.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_all(const char *cmd, size_t len, struct arena *a)
{
	struct imapd_args g;
	struct imapd_str s;
	/* Skip "tag NAME " the way the session does, then try each
	 * grammar from there. */
	imapd_args_init(&g, cmd, len, a, 8);
	if (imapd_args_tag(&g, &s) < 0 || imapd_args_sp(&g) < 0 ||
	    imapd_args_atom(&g, &s) < 0)
		return;
	size_t start = g.pos + (g.pos < len && cmd[g.pos] == ' ');
	for (int which = 0; which < 8; which++) {
		imapd_args_init(&g, cmd + start, len - start, a, 8);
		struct imapd_fetch f;
		struct imapd_snode *root;
		struct imapd_seqset set, norm;
		struct imapd_flags fl;
		uint32_t n;
		int64_t t;
		int tz;
		switch (which) {
		case 0:
			if (imapd_args_seqset(&g, &set) == 0) {
				imapd_seqset_resolve(&set, 1000, a, &norm);
				(void)imapd_seqset_has(&norm, 7);
				if (imapd_args_sp(&g) == 0)
					(void)imapd_fetch_parse(&g, &f);
			}
			break;
		case 1:
			if (imapd_search_parse(&g, &root) == 1)
				imapd_search_prepare(root, 100, 1000, a);
			break;
		case 2:
			(void)imapd_parse_flags(&g, true, &fl);
			break;
		case 3:
			if (imapd_args_astring(&g, &s) == 0) {
				(void)imapd_utf7_check(s.p, s.len);
				if (imapd_args_sp(&g) == 0 &&
				    imapd_args_list_mailbox(&g, &s) == 0)
					(void)imapd_list_match(
					        s.p, s.len, "INBOX/a/b", 9, 5);
			}
			break;
		case 4:
			if (imapd_args_string(&g, &s) == 0) {
				(void)imapd_datetime_parse(s.p, s.len, &t, &tz);
				(void)imapd_date_parse(s.p, s.len, &t);
				(void)imapd_rfc5322_date_parse(s.p, s.len, &t,
				                               &tz);
			}
			break;
		case 5:
			(void)imapd_args_nstring(&g, &s);
			(void)imapd_args_number(&g, &n);
			break;
		case 6:
			(void)imapd_args_literal_ref(&g, &s);
			break;
		case 7:
			while (imapd_args_open(&g) == 0)
				;
			if (g.depth > g.max_depth + 1)
				abort();
			break;
		}
		arena_reset(a);
	}
}

static void feed(const uint8_t *data, size_t size, size_t step, struct buf *log,
                 bool parse)
{
	struct imapd_reader r;
	struct arena *a = arena_new();
	imapd_reader_init(&r, 200, 300);
	size_t pos = 0;
	while (pos < size) {
		size_t n = step && size - pos > step ? step : size - pos;
		size_t off = 0;
		while (off < n) {
			size_t used;
			enum imapd_read_event ev = imapd_reader_feed(
			        &r, (const char *)data + pos + off, n - off,
			        &used);
			off += used;
			/* MORE depends on the split; nothing else may. */
			if (ev == IMAPD_READ_MORE)
				continue;
			buf_printf(log, "%d:%zu:%s:", (int)ev,
			           ev == IMAPD_READ_COMMAND ? r.cmd.len : 0,
			           ev == IMAPD_READ_COMMAND
			                   ? ""
			                   : imapd_reader_tag(&r));
			if (ev == IMAPD_READ_COMMAND) {
				buf_append(log, r.cmd.data, r.cmd.len);
				if (parse)
					parse_all(r.cmd.data, r.cmd.len, a);
			}
		}
		pos += n;
	}
	if (r.bytes_in != size)
		abort();
	imapd_reader_deinit(&r);
	arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	struct buf whole, pieces;
	buf_init(&whole, 0);
	buf_init(&pieces, 0);
	feed(data, size, 0, &whole, true);
	feed(data, size, step, &pieces, false);
	if (whole.len != pieces.len ||
	    (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0))
		abort();
	buf_deinit(&whole);
	buf_deinit(&pieces);
	return 0;
}
