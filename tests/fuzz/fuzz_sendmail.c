/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sendmail.c - what a local user pipes into sendmail: the message
 * reader, the header fix-ups and -t recipient extraction
 *
 * Byte 0 sets the options (bit 0 -t, bit 1 "." ends the input, bit 2 a
 * full name that needs quoting, bit 3 a small size limit); the rest is
 * standard input. sendmail_read() must give exactly what a plain model
 * of its rules gives (LF line ends, CRLF made LF, the "." line, the size
 * limit). sendmail_rewrite() must leave a header block of well-formed
 * fields (a name of printable characters and a colon, or a folded
 * continuation) with From:, Date: and Message-ID: and no Bcc:, followed
 * by the body after one empty line; every -t recipient is non-empty
 * (unless a NUL byte cut it short) and holds no line break (header
 * unfolding removes them, inside quotes too).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/str.h"
#include "tools/sendmail.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* sendmail_read's rules, written plainly: 0, or -1 past max. */
static int read_model(const char *in, size_t n, bool dot_ends, uint64_t max,
		      struct buf *out)
{
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(in + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - in) : n, len = end - i;
		if (nl && len > 0 && in[end - 1] == '\r')
			len--;
		if (dot_ends && len == 1 && in[i] == '.')
			break;
		if (out->len + len + 1 > max)
			return -1;
		(void)buf_append(out, in + i, len);
		(void)buf_append_char(out, '\n');
		i = nl ? end + 1 : n;
	}
	return 0;
}

static bool name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strn_eq_nocase(p, n, name);
}

/* Checks the header block of a rewritten message; returns where the body
 * starts. */
static size_t check_header(const char *m, size_t n)
{
	bool from = false, date = false, msgid = false;
	size_t i = 0;
	while (i < n && m[i] != '\n') {
		const char *nl = memchr(m + i, '\n', n - i);
		CHECK(nl); /* every header line ends in LF */
		size_t len = (size_t)(nl - (m + i));
		if (m[i] == ' ' || m[i] == '\t') {
			CHECK(i > 0); /* a continuation follows a field */
		} else {
			size_t k = 0;
			while (k < len && m[i + k] != ':') {
				unsigned char c = (unsigned char)m[i + k];
				CHECK(c > ' ' && c < 0x7f);
				k++;
			}
			CHECK(k > 0 && k < len);
			CHECK(!name_is(m + i, k, "Bcc"));
			from |= name_is(m + i, k, "From");
			date |= name_is(m + i, k, "Date");
			msgid |= name_is(m + i, k, "Message-ID");
		}
		i += len + 1;
	}
	CHECK(from && date && msgid);
	return i < n ? i + 1 : n;
}

/* nul: the input held a NUL byte, which ends the C string early. What
 * is inside an address is pickup's to check (queue_addr_safe); here only
 * that it is one line: white space outside quotes is dropped, and line
 * breaks inside them go with unfolding. */
static void check_rcpt(const char *a, bool nul)
{
	CHECK(a[0] || nul);
	CHECK(!strpbrk(a, "\r\n"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned ctl = data[0];
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	uint64_t max = ctl & 8 ? 512 : 1 << 20;
	bool nul = memchr(in, 0, n) != NULL;
	struct sendmail_opts o = {
		.extract = ctl & 1,
		.dot_ends = ctl & 2,
		.from_addr = "user@example.test",
		.fullname = ctl & 4 ? "Doe, \"J\" (\\x)" : "John Doe",
		.hostname = "host.example.test",
		.max_size = max,
	};

	struct buf got, want, out;
	struct strv rcpts;
	struct err e;
	buf_init(&got, 0);
	buf_init(&want, 0);
	buf_init(&out, 0);
	strv_init(&rcpts);
	FILE *f = n ? fmemopen((void *)in, n, "r") : fopen("/dev/null", "r");
	CHECK(f);
	int rc = sendmail_read(f, o.dot_ends, max, &got, &e);
	fclose(f);
	int wrc = read_model(in, n, o.dot_ends, max, &want);
	CHECK(rc == wrc);
	CHECK(rc < 0 ||
	      (got.len == want.len &&
	       (got.len == 0 || memcmp(got.data, want.data, got.len) == 0)));

	/* The rewrite on the raw input too: it must cope with CRs and a
	 * last line without LF even if sendmail_read never makes them. */
	for (int pass = 0; pass < 2; pass++) {
		const char *m = pass ? in : (got.data ? got.data : "");
		size_t len = pass ? n : got.len;
		if (pass == 0 && rc < 0)
			continue;
		buf_reset(&out);
		strv_deinit(&rcpts);
		strv_init(&rcpts);
		if (sendmail_rewrite(m, len, &o, &out, &rcpts, &e) < 0) {
			CHECK(out.len > max);
			continue;
		}
		CHECK(out.len <= max);
		(void)check_header(out.data, out.len);
		for (size_t i = 0; i < rcpts.n; i++)
			check_rcpt(rcpts.v[i], nul);
		CHECK(o.extract || rcpts.n == 0);
	}
	sendmail_parse_addresses(in, n, &rcpts);
	for (size_t i = 0; i < rcpts.n; i++)
		check_rcpt(rcpts.v[i], nul);
	buf_deinit(&got);
	buf_deinit(&want);
	buf_deinit(&out);
	strv_deinit(&rcpts);
	return 0;
}
