/* SPDX-License-Identifier: MIT */
/*
 * fuzz_maildir.c - what the mailbox store reads from disk that another
 * process or tool wrote: message file names (round trip through the
 * builder keeps flags and extra letters), folder directory names (round
 * trip to the folder name and back), index message records (decode,
 * encode, decode again gives the same), and CRLF sizes counted whole and
 * in two pieces.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/maildir.h"
#include "common/mbox.h"
#include "common/mbox_impl.h"

static void file_name(const char *in, size_t len)
{
	struct maildir_name a, b;
	if (maildir_name_parse(in, len, &a) < 0)
		return;
	char out[MAILDIR_FILE_MAX + 1];
	int n = maildir_name_build(out, sizeof(out), a.base, a.base_len, true,
				   a.flags, a.extra);
	if (n < 0)
		return; /* base too long for an info suffix */
	if (maildir_name_parse(out, (size_t)n, &b) < 0 || b.flags != a.flags ||
	    strcmp(b.extra, a.extra) != 0 || b.base_len != a.base_len ||
	    memcmp(b.base, a.base, a.base_len) != 0)
		abort();
}

static void folder_dir(const char *in, size_t len)
{
	char name[MBOX_NAME_MAX + 2], back[MBOX_NAME_MAX + 2];
	if (maildir_folder_from_dir(in, len, name, sizeof(name)) < 0)
		return;
	int n = maildir_folder_dir(name, back, sizeof(back), NULL);
	if (n < 0 || (size_t)n != len || memcmp(back, in, len) != 0)
		abort();
}

static void record(const uint8_t *in, size_t len)
{
	struct msg_rec a, b;
	if (msg_rec_decode(in, len, 7, &a) < 0)
		return;
	struct buf enc;
	buf_init(&enc, 0);
	if (msg_rec_encode(&a, &enc) < 0 ||
	    msg_rec_decode(enc.data, enc.len, 7, &b) < 0 ||
	    enc.len != len || memcmp(enc.data, in, len) != 0 ||
	    b.flags != a.flags || b.modseq != a.modseq || b.nkw != a.nkw)
		abort();
	buf_deinit(&enc);
}

static void crlf(const char *in, size_t len)
{
	bool cr = false;
	uint64_t whole = mbox_crlf_size(in, len, &cr);
	size_t cut = len / 2;
	cr = false;
	uint64_t parts = mbox_crlf_size(in, cut, &cr);
	parts += mbox_crlf_size(in + cut, len - cut, &cr);
	if (whole != parts || whole < len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	file_name(in, size);
	folder_dir(in, size);
	record(data, size);
	crlf(in, size);
	return 0;
}
