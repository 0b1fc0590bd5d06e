/* SPDX-License-Identifier: MIT */
/*
 * imap_fill.c - a large INBOX for the IMAP benchmark (bench/imap_fetch.py)
 *
 *   imap_fill MAILDIR COUNT
 *
 * Delivers COUNT varied messages (1-8 KB of text; every tenth a
 * multipart/alternative, every twenty-fifth with a small attachment) into
 * the maildir's INBOX through the mailbox store in batches of 256, with
 * the FETCH cache built at delivery as imapd and local do, so the mailbox
 * is what a real delivery path leaves. Deterministic: the same COUNT
 * gives the same messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/imap_struct.h"
#include "common/mbox.h"
#include "common/mime.h"

#define BATCH 256

static const char *const words[] = {
        "mail",    "server", "report",   "meeting",  "budget",
        "project", "review", "update",   "release",  "draft",
        "invoice", "travel", "schedule", "question", "lunch",
        "notes",   "plan",   "quarter",  "results",  "team",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static unsigned long rng = 12345;
static unsigned rnd(void)
{
	rng = rng * 6364136223846793005ul + 1442695040888963407ul;
	return (unsigned)(rng >> 33);
}

static void text(struct buf *b, size_t bytes)
{
	size_t col = 0, start = b->len;
	while (b->len - start < bytes) {
		const char *w = words[rnd() % NWORDS];
		buf_printf(b, "%s ", w);
		col += strlen(w) + 1;
		if (col > 66) {
			buf_append_str(b, "\n");
			col = 0;
		}
	}
	buf_append_str(b, "\n");
}

static void message(struct buf *b, unsigned long i)
{
	buf_reset(b);
	buf_printf(
	        b,
	        "Return-Path: <user%lu@example.org>\n"
	        "Received: from mx.example.org (mx.example.org [192.0.2.%lu])\n"
	        "\tby mail.example.test with ESMTPS id Q%06lu\n"
	        "\tfor <demo@example.test>; Mon, 1 Jan 2024 10:00:00 +0000\n"
	        "From: User %lu <user%lu@example.org>\n"
	        "To: Demo <demo@example.test>\n"
	        "Cc: team%lu@example.org\n"
	        "Subject: %s %s number %lu\n"
	        "Date: Mon, %lu Jan 2024 %02lu:%02lu:00 +0100\n"
	        "Message-ID: <%lu.bench@example.org>\n"
	        "MIME-Version: 1.0\n",
	        i % 500, i % 250, i, i % 500, i % 500, i % 50,
	        words[rnd() % NWORDS], words[rnd() % NWORDS], i, 1 + i % 28,
	        i % 24, i % 60, i);
	size_t body = 1000 + rnd() % 7000;
	if (i % 10 == 0) {
		buf_append_str(b,
		               "Content-Type: multipart/alternative; "
		               "boundary=\"b1\"\n\n--b1\n"
		               "Content-Type: text/plain; charset=utf-8\n\n");
		text(b, body / 2);
		buf_append_str(b, "--b1\nContent-Type: text/html; "
		                  "charset=utf-8\n\n<html><body><p>\n");
		text(b, body / 2);
		buf_append_str(b, "</p></body></html>\n--b1--\n");
	} else if (i % 25 == 0) {
		buf_append_str(b, "Content-Type: multipart/mixed; "
		                  "boundary=\"b2\"\n\n--b2\n"
		                  "Content-Type: text/plain\n\n");
		text(b, body);
		buf_append_str(b, "--b2\nContent-Type: application/pdf; "
		                  "name=\"a.pdf\"\nContent-Transfer-Encoding: "
		                  "base64\nContent-Disposition: attachment; "
		                  "filename=\"a.pdf\"\n\n");
		for (int k = 0; k < 20; k++)
			buf_append_str(
			        b, "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5n"
			           "dGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k\n");
		buf_append_str(b, "--b2--\n");
	} else {
		buf_append_str(
		        b, "Content-Type: text/plain; charset=us-ascii\n\n");
		text(b, body);
	}
}

static int cache_builder(const void *msg, size_t len, struct buf *out)
{
	struct mime_msg *m = mime_parse(msg, len);
	int rc = imap_struct_cache_build(out, m);
	mime_free(&m);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: imap_fill MAILDIR COUNT\n");
		return 2;
	}
	unsigned long count = strtoul(argv[2], NULL, 10);
	struct err e = {{0}};
	struct mbox *mb;
	struct mbox_folder *in;
	mbox_set_cache_builder(cache_builder, IMAP_STRUCT_CACHE_VERSION);
	if (mbox_open(&mb, argv[1], MBOX_CREATE, &e) != 1 ||
	    mbox_folder_open(mb, MBOX_INBOX, &in, &e) != 1) {
		fprintf(stderr, "%s: %s\n", argv[1], e.msg);
		return 1;
	}
	struct buf *msgs = calloc(BATCH, sizeof(*msgs));
	for (int k = 0; k < BATCH; k++)
		buf_init(&msgs[k], 0);
	unsigned long done = 0;
	while (done < count) {
		struct mbox_batch *b = mbox_batch_new();
		struct mbox_part parts[BATCH];
		struct mbox_new nm[BATCH];
		int k = 0;
		for (; k < BATCH && done + (unsigned long)k < count; k++) {
			message(&msgs[k], done + (unsigned long)k + 1);
			parts[k].data = msgs[k].data;
			parts[k].len = msgs[k].len;
			memset(&nm[k], 0, sizeof(nm[k]));
			nm[k].parts = &parts[k];
			nm[k].nparts = 1;
			if (mbox_batch_add(b, in, &nm[k], NULL, &e) < 0) {
				fprintf(stderr, "add: %s\n", e.msg);
				return 1;
			}
		}
		if (mbox_batch_commit(b, NULL, NULL, &e) < 0) {
			fprintf(stderr, "commit: %s\n", e.msg);
			return 1;
		}
		mbox_batch_free(&b);
		done += (unsigned long)k;
	}
	for (int k = 0; k < BATCH; k++)
		buf_deinit(&msgs[k]);
	free(msgs);
	mbox_folder_close(&in);
	mbox_close(&mb);
	printf("%lu messages in %s\n", count, argv[1]);
	return 0;
}
