/* SPDX-License-Identifier: MIT */
/*
 * test_ipc.c - the IPC codec, ipc_conn and the blocking client
 *
 * Codec: round trips, byte-at-a-time decoding, every limit at and one past
 * its value, each kind of malformed record, getters' rejections. Sockets:
 * ipc_conn over a socketpair (pipelining, trickling, EPIPE without
 * SIGPIPE) and ipc_client against a forked server on a real UNIX socket
 * (greeting checks, timeouts, malformed and closed peers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ipc.h"

/* ---- helpers --------------------------------------------------------- */

/* A message's full encoding: its wire plus the terminator. */
static void encode(const struct ipc_msg *m, struct buf *out)
{
	buf_init(out, 0);
	assert_int_equal(buf_append(out, m->wire.data, m->wire.len), 0);
	assert_int_equal(buf_append(out, "\0\0\0\0", 4), 0);
}

static void put_rec(struct buf *b, const char *rec, size_t len)
{
	unsigned char hdr[4] = {(unsigned char)(len >> 24),
				(unsigned char)(len >> 16),
				(unsigned char)(len >> 8), (unsigned char)len};
	assert_int_equal(buf_append(b, hdr, 4), 0);
	assert_int_equal(buf_append(b, rec, len), 0);
}

static void put_recs(struct buf *b, const char *rec)
{
	put_rec(b, rec, strlen(rec));
}

static void put_end(struct buf *b)
{
	assert_int_equal(buf_append(b, "\0\0\0\0", 4), 0);
}

/* A new buffer holding a message of one record. */
static void one_record_msg(struct buf *b, const char *rec)
{
	buf_init(b, 0);
	put_recs(b, rec);
	put_end(b);
}

/*
 * Decodes data at every prefix length and checks the answers are
 * consistent: 0 for every prefix shorter than the point of decision,
 * then the final answer from there on. Returns the answer for all of it.
 */
static int decode_all_prefixes(const char *data, size_t len, struct ipc_msg *m,
			       size_t *consumed, struct err *e)
{
	int final = ipc_msg_decode(m, data, len, consumed, e);
	bool decided = false;
	for (size_t n = 0; n <= len; n++) {
		size_t c = 0;
		struct ipc_msg tmp;
		ipc_msg_init(&tmp);
		int r = ipc_msg_decode(&tmp, data, n, &c, NULL);
		if (!decided && r != 0)
			decided = true;
		if (decided && r != final)
			fail_msg("prefix %zu: got %d, want %d", n, r, final);
		if (r == 1 && c != *consumed)
			fail_msg("prefix %zu: consumed %zu, want %zu", n, c,
				 *consumed);
		ipc_msg_deinit(&tmp);
	}
	return final;
}

/* ---- codec ----------------------------------------------------------- */

static void round_trip(void **state)
{
	(void)state;
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	ipc_msg_begin(&m, "commit");
	assert_int_equal(ipc_put_str(&m, "queue_id", "4Xb2kQ0z7Lz9"), 0);
	assert_int_equal(ipc_put_u64(&m, "size", UINT64_MAX), 0);
	assert_int_equal(ipc_put_i64(&m, "delta", INT64_MIN), 0);
	assert_int_equal(ipc_put(&m, "blob", "a=b\0c", 5), 0);
	assert_int_equal(ipc_put(&m, "empty", "", 0), 0);
	assert_int_equal(ipc_put_str(&m, "rcpt", "a@example.test"), 0);
	assert_int_equal(ipc_put_str(&m, "rcpt", "b@example.test"), 0);

	struct buf w;
	encode(&m, &w);
	size_t consumed = 0;
	struct err e = {{0}};
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), 1);
	assert_int_equal(consumed, w.len);
	assert_int_equal(d.nattrs, m.nattrs);
	for (size_t i = 0; i < m.nattrs; i++) {
		assert_string_equal(d.attrs[i].name, m.attrs[i].name);
		assert_int_equal(d.attrs[i].value_len, m.attrs[i].value_len);
		assert_memory_equal(d.attrs[i].value, m.attrs[i].value,
				    m.attrs[i].value_len);
		assert_int_equal(d.attrs[i].value[d.attrs[i].value_len], 0);
	}
	/* The decoded wire is the same bytes: forwarding re-sends them. */
	assert_int_equal(d.wire.len, m.wire.len);
	assert_memory_equal(d.wire.data, m.wire.data, m.wire.len);

	const char *s;
	size_t len;
	uint64_t u;
	int64_t i;
	assert_string_equal(ipc_type(&d), "commit");
	assert_int_equal(ipc_get_str(&d, "queue_id", &s), 1);
	assert_string_equal(s, "4Xb2kQ0z7Lz9");
	assert_int_equal(ipc_get_u64(&d, "size", 0, UINT64_MAX, &u), 1);
	assert_true(u == UINT64_MAX);
	assert_int_equal(ipc_get_i64(&d, "delta", INT64_MIN, 0, &i), 1);
	assert_true(i == INT64_MIN);
	assert_int_equal(ipc_get_bytes(&d, "blob", &s, &len), 1);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "a=b\0c", 5);
	assert_int_equal(ipc_get_str(&d, "empty", &s), 1);
	assert_string_equal(s, "");
	assert_int_equal(ipc_get_str(&d, "missing", &s), 0);
	assert_int_equal(ipc_count(&d, "rcpt"), 2);

	buf_deinit(&w);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void byte_at_a_time(void **state)
{
	(void)state;
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	ipc_msg_begin_reply(&m, "defer");
	assert_int_equal(ipc_put_str(&m, "reason", "try later"), 0);
	assert_int_equal(ipc_put(&m, "x", "\0\0\0\0", 4), 0);
	struct buf w;
	encode(&m, &w);
	/* A second message behind the first must not be consumed. */
	char *copy = malloc(w.len);
	memcpy(copy, w.data, w.len);
	assert_int_equal(buf_append(&w, copy, w.len), 0);
	free(copy);
	size_t one = w.len / 2, consumed;
	struct err e;
	for (size_t n = 0; n < one; n++)
		assert_int_equal(ipc_msg_decode(&d, w.data, n, &consumed, &e),
				 0);
	for (size_t n = one; n <= w.len; n++) {
		assert_int_equal(ipc_msg_decode(&d, w.data, n, &consumed, &e),
				 1);
		assert_int_equal(consumed, one);
	}
	assert_string_equal(ipc_status(&d), "defer");
	assert_false(ipc_status_ok(&d));
	assert_string_equal(ipc_reason(&d), "try later");
	buf_deinit(&w);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void empty_message(void **state)
{
	(void)state;
	struct ipc_msg d;
	ipc_msg_init(&d);
	size_t consumed;
	assert_int_equal(ipc_msg_decode(&d, "\0\0\0\0", 4, &consumed, NULL), 1);
	assert_int_equal(consumed, 4);
	assert_int_equal(d.nattrs, 0);
	assert_string_equal(ipc_type(&d), "");
	assert_string_equal(ipc_status(&d), "");
	assert_string_equal(ipc_reason(&d), "");
	assert_int_equal(ipc_msg_decode(&d, "", 0, &consumed, NULL), 0);
	ipc_msg_deinit(&d);
}

struct bad_case {
	const char *what;
	const char *rec; /* one record's bytes; NULL: see len */
	size_t len;
	const char *want; /* substring of the error */
};

static void malformed_records(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"upper-case name", "Type=x", 6, "bad character"},
		{"dash in name", "a-b=x", 5, "bad character"},
		{"space in name", "a b=x", 5, "bad character"},
		{"NUL in name", "a\0b=x", 5, "bad character"},
		{"high byte in name", "\xc3\xa9=x", 4, "bad character"},
		{"empty name", "=x", 2, "empty name"},
		{"no '='", "abc", 3, "no '='"},
		{"one-byte record", "a", 1, "empty name"},
		{"33-byte name", "abcdefghijklmnopqrstuvwxyz0123456=x", 35,
		 "name over"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b, 0);
		put_recs(&b, "type=x");
		put_rec(&b, cases[i].rec, cases[i].len);
		put_end(&b);
		struct ipc_msg m;
		ipc_msg_init(&m);
		size_t consumed;
		struct err e = {{0}};
		int r = decode_all_prefixes(b.data, b.len, &m, &consumed, &e);
		if (r != -1 || !strstr(e.msg, cases[i].want))
			fail_msg("%s: got %d \"%s\", want -1 \"%s\"",
				 cases[i].what, r, e.msg, cases[i].want);
		/* A rejected message leaves m untouched. */
		assert_int_equal(m.nattrs, 0);
		ipc_msg_deinit(&m);
		buf_deinit(&b);
	}
}

static void name_limits(void **state)
{
	(void)state;
	struct buf b;
	one_record_msg(&b, "abcdefghijklmnopqrstuvwxyz_01234=32");
	struct ipc_msg m;
	ipc_msg_init(&m);
	size_t consumed;
	assert_int_equal(
		decode_all_prefixes(b.data, b.len, &m, &consumed, NULL), 1);
	assert_string_equal(m.attrs[0].name,
			    "abcdefghijklmnopqrstuvwxyz_01234");
	/* The bad name is refused before the rest of its record arrives. */
	unsigned char partial[6] = {0, 0, 1, 0, 'o', 'K'};
	assert_int_equal(ipc_msg_decode(&m, partial, 5, &consumed, NULL), 0);
	assert_int_equal(ipc_msg_decode(&m, partial, 6, &consumed, NULL), -1);
	/* put refuses what decode would. */
	assert_int_equal(ipc_put_str(&m, "", "x"), -1);
	assert_int_equal(ipc_put_str(&m, "Upper", "x"), -1);
	assert_int_equal(ipc_put_str(&m, "a=b", "x"), -1);
	assert_int_equal(
		ipc_put_str(&m, "abcdefghijklmnopqrstuvwxyz_012345", "x"), -1);
	assert_int_equal(m.nattrs, 1);
	ipc_msg_deinit(&m);
	buf_deinit(&b);
}

static void value_limits(void **state)
{
	(void)state;
	char *val = calloc(1, IPC_VALUE_MAX + 2);
	memset(val, 'v', IPC_VALUE_MAX + 1);
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	assert_int_equal(ipc_put(&m, "v", val, IPC_VALUE_MAX + 1), -1);
	assert_int_equal(m.nattrs, 0);
	assert_int_equal(m.wire.len, 0);
	assert_int_equal(ipc_put(&m, "v", val, IPC_VALUE_MAX), 0);
	struct buf w;
	encode(&m, &w);
	size_t consumed;
	struct err e;
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), 1);
	assert_int_equal(d.attrs[0].value_len, IPC_VALUE_MAX);

	/* One more value byte with a short name still fits IPC_REC_MAX but
	 * not IPC_VALUE_MAX; the decoder knows at the '='. */
	buf_reset(&w);
	put_rec(&w, "v=", 2);
	w.data[3] = 0; /* patch the length to 2 + VALUE_MAX + 1 */
	size_t reclen = 2 + IPC_VALUE_MAX + 1;
	w.data[1] = (char)(reclen >> 16);
	w.data[2] = (char)(reclen >> 8);
	w.data[3] = (char)reclen;
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), -1);
	assert_non_null(strstr(e.msg, "value over"));

	/* A length over IPC_REC_MAX is refused from its four bytes alone,
	 * and from its first byte when that is enough. */
	reclen = IPC_REC_MAX + 1;
	unsigned char hdr[4] = {0, (unsigned char)(reclen >> 16),
				(unsigned char)(reclen >> 8),
				(unsigned char)reclen};
	assert_int_equal(ipc_msg_decode(&d, hdr, 4, &consumed, &e), -1);
	assert_non_null(strstr(e.msg, "record of"));
	assert_int_equal(ipc_msg_decode(&d, "\x01", 1, &consumed, &e), -1);
	assert_int_equal(ipc_msg_decode(&d, "\0\x01", 2, &consumed, &e), 0);
	assert_int_equal(ipc_msg_decode(&d, "\0\x02", 2, &consumed, &e), -1);

	free(val);
	buf_deinit(&w);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void attribute_count_limit(void **state)
{
	(void)state;
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	for (int i = 0; i < IPC_ATTR_MAX; i++)
		assert_int_equal(ipc_put_u64(&m, "n", (uint64_t)i), 0);
	assert_int_equal(ipc_put_u64(&m, "n", 512), -1);
	assert_int_equal(ipc_count(&m, "n"), IPC_ATTR_MAX);
	struct buf w;
	encode(&m, &w);
	size_t consumed;
	struct err e;
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), 1);
	assert_int_equal(d.nattrs, IPC_ATTR_MAX);

	/* The 513th record is refused as soon as its length is non-zero. */
	buf_truncate(&w, w.len - 4);
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), 0);
	assert_int_equal(buf_append(&w, "\0\0\0", 3), 0);
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), 0);
	assert_int_equal(buf_append(&w, "\x02", 1), 0);
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), -1);
	assert_non_null(strstr(e.msg, "more than"));
	/* The decoded message from before is still intact. */
	assert_int_equal(d.nattrs, IPC_ATTR_MAX);

	buf_deinit(&w);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

/* Fills m to exactly IPC_MSG_MAX encoded bytes (terminator included). */
static void fill_to_max(struct ipc_msg *m, char *val)
{
	const size_t rec = 4 + 2 + IPC_VALUE_MAX;
	size_t budget = IPC_MSG_MAX - 4;
	while (budget >= rec) {
		assert_int_equal(ipc_put(m, "a", val, IPC_VALUE_MAX), 0);
		budget -= rec;
	}
	assert_true(budget >= 6);
	assert_int_equal(ipc_put(m, "b", val, budget - 6), 0);
	assert_int_equal(m->wire.len + 4, IPC_MSG_MAX);
}

static void message_size_limit(void **state)
{
	(void)state;
	char *val = calloc(1, IPC_VALUE_MAX);
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	fill_to_max(&m, val);
	size_t before = m.nattrs;
	assert_int_equal(ipc_put(&m, "c", "", 0), -1);
	assert_int_equal(m.nattrs, before);
	assert_int_equal(m.wire.len + 4, IPC_MSG_MAX);

	struct buf w;
	encode(&m, &w);
	size_t consumed;
	struct err e;
	assert_int_equal(ipc_msg_decode(&d, w.data, w.len, &consumed, &e), 1);
	assert_int_equal(consumed, IPC_MSG_MAX);

	/* One byte more in the last record: the message cannot end within
	 * the limit, known from the record's length alone. */
	size_t last = w.len - 4 - (4 + 2 + (IPC_MSG_MAX - 4 - 15 * 65542 - 6));
	uint32_t reclen = ((uint32_t)(unsigned char)w.data[last + 2] << 8 |
			   (unsigned char)w.data[last + 3]) +
			  1;
	w.data[last + 2] = (char)(reclen >> 8);
	w.data[last + 3] = (char)reclen;
	assert_int_equal(ipc_msg_decode(&d, w.data, last + 4, &consumed, &e),
			 -1);
	assert_non_null(strstr(e.msg, "message over"));

	free(val);
	buf_deinit(&w);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void truncated_input(void **state)
{
	(void)state;
	struct buf b;
	one_record_msg(&b, "type=x");
	struct ipc_msg m;
	ipc_msg_init(&m);
	size_t consumed;
	/* Cut inside a length, inside a record, inside the terminator. */
	assert_int_equal(ipc_msg_decode(&m, b.data, 2, &consumed, NULL), 0);
	assert_int_equal(ipc_msg_decode(&m, b.data, 7, &consumed, NULL), 0);
	assert_int_equal(ipc_msg_decode(&m, b.data, 12, &consumed, NULL), 0);
	assert_int_equal(m.nattrs, 0);
	ipc_msg_deinit(&m);
	buf_deinit(&b);
}

static void repeated_attributes(void **state)
{
	(void)state;
	struct ipc_msg m;
	ipc_msg_init(&m);
	ipc_msg_begin(&m, "x");
	(void)ipc_put_u64(&m, "size", 1);
	(void)ipc_put_u64(&m, "size", 2);
	(void)ipc_put_str(&m, "type", "y");
	const char *s;
	size_t len, pos = 0;
	uint64_t u;
	int64_t i;
	assert_int_equal(ipc_get_u64(&m, "size", 0, 10, &u), -1);
	assert_int_equal(ipc_get_i64(&m, "size", 0, 10, &i), -1);
	assert_int_equal(ipc_get_str(&m, "size", &s), -1);
	assert_int_equal(ipc_get_bytes(&m, "size", &s, &len), -1);
	/* A repeated type matches no verb. */
	assert_string_equal(ipc_type(&m), "");
	assert_int_equal(ipc_count(&m, "size"), 2);
	assert_int_equal(ipc_get_next(&m, "size", &pos, &s, &len), 1);
	assert_string_equal(s, "1");
	assert_int_equal(ipc_get_next(&m, "size", &pos, &s, NULL), 1);
	assert_string_equal(s, "2");
	assert_int_equal(ipc_get_next(&m, "size", &pos, &s, &len), 0);
	assert_int_equal(ipc_get_next(&m, "size", &pos, &s, &len), 0);
	ipc_msg_deinit(&m);
}

struct num_case {
	const char *text;
	int want; /* u64 result */
	uint64_t u;
	int want_i; /* i64 result */
	int64_t i;
};

static void number_parsing(void **state)
{
	(void)state;
	static const struct num_case cases[] = {
		{"0", 1, 0, 1, 0},
		{"007", 1, 7, 1, 7},
		{"18446744073709551615", 1, UINT64_MAX, -1, 0},
		{"18446744073709551616", -1, 0, -1, 0},
		{"9223372036854775807", 1, INT64_MAX, 1, INT64_MAX},
		{"9223372036854775808", 1, (uint64_t)INT64_MAX + 1, -1, 0},
		{"-9223372036854775808", -1, 0, 1, INT64_MIN},
		{"-9223372036854775809", -1, 0, -1, 0},
		{"-1", -1, 0, 1, -1},
		{"-0", -1, 0, 1, 0},
		{"", -1, 0, -1, 0},
		{"-", -1, 0, -1, 0},
		{"--1", -1, 0, -1, 0},
		{"+1", -1, 0, -1, 0},
		{" 1", -1, 0, -1, 0},
		{"1 ", -1, 0, -1, 0},
		{"0x10", -1, 0, -1, 0},
		{"1e3", -1, 0, -1, 0},
		{"12a", -1, 0, -1, 0},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct ipc_msg m;
		ipc_msg_init(&m);
		assert_int_equal(ipc_put_str(&m, "n", cases[k].text), 0);
		uint64_t u = 0;
		int64_t i = 0;
		int r = ipc_get_u64(&m, "n", 0, UINT64_MAX, &u);
		if (r != cases[k].want || (r == 1 && u != cases[k].u))
			fail_msg("u64 \"%s\": got %d, want %d", cases[k].text,
				 r, cases[k].want);
		r = ipc_get_i64(&m, "n", INT64_MIN, INT64_MAX, &i);
		if (r != cases[k].want_i || (r == 1 && i != cases[k].i))
			fail_msg("i64 \"%s\": got %d, want %d", cases[k].text,
				 r, cases[k].want_i);
		ipc_msg_deinit(&m);
	}
	/* Range checks, and a NUL inside a number or a string. */
	struct ipc_msg m;
	ipc_msg_init(&m);
	(void)ipc_put_str(&m, "n", "50");
	(void)ipc_put_str(&m, "neg", "-50");
	(void)ipc_put(&m, "nul", "5\0", 2);
	uint64_t u;
	int64_t i;
	const char *s;
	size_t len;
	assert_int_equal(ipc_get_u64(&m, "n", 50, 50, &u), 1);
	assert_int_equal(ipc_get_u64(&m, "n", 51, 100, &u), -1);
	assert_int_equal(ipc_get_u64(&m, "n", 0, 49, &u), -1);
	assert_int_equal(ipc_get_i64(&m, "neg", -50, -50, &i), 1);
	assert_int_equal(ipc_get_i64(&m, "neg", -49, 0, &i), -1);
	assert_int_equal(ipc_get_i64(&m, "n", -100, 49, &i), -1);
	assert_int_equal(ipc_get_u64(&m, "nul", 0, 10, &u), -1);
	assert_int_equal(ipc_get_str(&m, "nul", &s), -1);
	assert_int_equal(ipc_get_bytes(&m, "nul", &s, &len), 1);
	assert_int_equal(len, 2);
	assert_int_equal(ipc_get_u64(&m, "missing", 0, 10, &u), 0);
	assert_int_equal(ipc_get_i64(&m, "missing", 0, 10, &i), 0);
	ipc_msg_deinit(&m);
}

static void pointers_survive_put(void **state)
{
	(void)state;
	struct ipc_msg m;
	ipc_msg_init(&m);
	ipc_msg_begin(&m, "first");
	const char *t = ipc_type(&m);
	char big[4096];
	memset(big, 'z', sizeof(big));
	for (int i = 0; i < 200; i++)
		assert_int_equal(ipc_put(&m, "pad", big, sizeof(big)), 0);
	/* Under ASan a moved store would make this a use after free. */
	assert_string_equal(t, "first");
	/* reset + reuse works and forgets everything. */
	ipc_msg_begin(&m, "second");
	assert_int_equal(m.nattrs, 1);
	assert_int_equal(ipc_count(&m, "pad"), 0);
	assert_string_equal(ipc_type(&m), "second");
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&m); /* twice is harmless */
}

/* ---- ipc_conn over a socketpair ------------------------------------- */

static void conn_pair(struct ipc_conn *a, struct ipc_conn *b)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ipc_conn_init(a, sv[0], "a");
	ipc_conn_init(b, sv[1], "b");
}

static void conn_pipelined(void **state)
{
	(void)state;
	struct ipc_conn a, b;
	conn_pair(&a, &b);
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	assert_int_equal(ipc_conn_greet(&a, "qmgr", 3), 0);
	ipc_msg_begin(&m, "ping");
	assert_int_equal(ipc_conn_queue(&a, &m), 0);
	assert_int_equal(ipc_conn_flush(&a), 1);
	assert_int_equal(a.out.len, 0);

	struct err e;
	assert_int_equal(ipc_conn_next(&b, &d, &e), 0);
	assert_int_equal(ipc_conn_fill(&b), 1);
	assert_int_equal(ipc_conn_next(&b, &d, &e), 1);
	const char *s;
	uint64_t v;
	assert_int_equal(ipc_get_str(&d, "proto", &s), 1);
	assert_string_equal(s, "qmgr");
	assert_int_equal(ipc_get_u64(&d, "version", 0, 100, &v), 1);
	assert_int_equal(v, 3);
	assert_int_equal(ipc_conn_next(&b, &d, &e), 1);
	assert_string_equal(ipc_type(&d), "ping");
	assert_int_equal(ipc_conn_next(&b, &d, &e), 0);
	/* Nothing more to read is not an error. */
	assert_int_equal(ipc_conn_fill(&b), 1);

	ipc_conn_deinit(&a);
	assert_int_equal(ipc_conn_fill(&b), 0);
	ipc_conn_deinit(&b);
	ipc_conn_deinit(&b); /* twice is harmless */
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void conn_trickle(void **state)
{
	(void)state;
	struct ipc_conn a, b;
	conn_pair(&a, &b);
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	ipc_msg_begin(&m, "commit");
	(void)ipc_put_str(&m, "queue_id", "ABC");
	char big[3000];
	memset(big, 'q', sizeof(big));
	(void)ipc_put(&m, "data", big, sizeof(big));
	struct buf w;
	encode(&m, &w);
	struct err e;
	for (size_t i = 0; i < w.len; i++) {
		assert_int_equal(write(a.fd, w.data + i, 1), 1);
		assert_int_equal(ipc_conn_fill(&b), 1);
		int r = ipc_conn_next(&b, &d, &e);
		assert_int_equal(r, i + 1 == w.len ? 1 : 0);
	}
	assert_int_equal(d.nattrs, 3);
	assert_int_equal(d.attrs[2].value_len, sizeof(big));
	assert_int_equal(b.in.len, 0);

	/* Malformed input is reported once its bad byte arrives. */
	assert_int_equal(write(a.fd, "\0\0\0\x05type!", 9), 9);
	assert_int_equal(ipc_conn_fill(&b), 1);
	assert_int_equal(ipc_conn_next(&b, &d, &e), -1);
	assert_non_null(strstr(e.msg, "bad character"));

	buf_deinit(&w);
	ipc_conn_deinit(&a);
	ipc_conn_deinit(&b);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void conn_input_bounded(void **state)
{
	(void)state;
	struct ipc_conn a, b;
	conn_pair(&a, &b);
	/* The peer writes more whole messages than in may hold; in stays
	 * bounded and every message still comes out. */
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	char *val = calloc(1, IPC_VALUE_MAX);
	fill_to_max(&m, val);
	int sent = 0, got = 0;
	struct err e;
	while (got < 3) {
		if (sent < 3 && a.out.len == 0) {
			assert_int_equal(ipc_conn_queue(&a, &m), 0);
			sent++;
		}
		assert_int_not_equal(ipc_conn_flush(&a), -1);
		assert_int_equal(ipc_conn_fill(&b), 1);
		assert_true(b.in.len <= IPC_CONN_IN_MAX);
		int r;
		while ((r = ipc_conn_next(&b, &d, &e)) == 1)
			got++;
		assert_int_equal(r, 0);
	}
	assert_int_equal(d.wire.len, m.wire.len);
	/* out refuses what would pass its bound. */
	assert_int_equal(ipc_conn_queue(&a, &m), 0);
	assert_int_equal(ipc_conn_queue(&a, &m), 0);
	assert_int_equal(ipc_conn_queue(&a, &m), -1);
	free(val);
	ipc_conn_deinit(&a);
	ipc_conn_deinit(&b);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void conn_many_tiny(void **state)
{
	(void)state;
	/* Thousands of pipelined messages arrive in few reads; each comes
	 * out once, in order, whatever piece boundaries fall inside them. */
	enum { N = 20000 };
	struct ipc_conn a, b;
	conn_pair(&a, &b);
	struct ipc_msg m, d;
	ipc_msg_init(&m);
	ipc_msg_init(&d);
	int sent = 0, got = 0;
	struct err e;
	while (got < N) {
		while (sent < N && a.out.len < 100000) {
			ipc_msg_reset(&m);
			(void)ipc_put_u64(&m, "n", (uint64_t)sent++);
			assert_int_equal(ipc_conn_queue(&a, &m), 0);
		}
		assert_int_not_equal(ipc_conn_flush(&a), -1);
		assert_int_equal(ipc_conn_fill(&b), 1);
		int r;
		uint64_t n;
		while ((r = ipc_conn_next(&b, &d, &e)) == 1) {
			assert_int_equal(ipc_get_u64(&d, "n", 0, N, &n), 1);
			assert_int_equal(n, got);
			got++;
		}
		assert_int_equal(r, 0);
	}
	ipc_conn_deinit(&a);
	ipc_conn_deinit(&b);
	ipc_msg_deinit(&m);
	ipc_msg_deinit(&d);
}

static void conn_epipe_not_sigpipe(void **state)
{
	(void)state;
	struct ipc_conn a, b;
	conn_pair(&a, &b);
	ipc_conn_deinit(&b);
	struct ipc_msg m;
	ipc_msg_init(&m);
	ipc_msg_begin(&m, "ping");
	assert_int_equal(ipc_conn_queue(&a, &m), 0);
	/* SIGPIPE's default action would end this test program. */
	assert_int_equal(ipc_conn_flush(&a), -1);
	assert_int_equal(errno, EPIPE);
	ipc_conn_deinit(&a);
	ipc_msg_deinit(&m);
}

/* ---- ipc_client against a forked server ------------------------------ */

enum server_mode {
	SERVE_ECHO, /* greet test/1, answer one request */
	SERVE_OTHER_PROTO,
	SERVE_OTHER_VERSION,
	SERVE_SILENT,   /* accept, then say nothing */
	SERVE_GARBAGE,  /* a malformed greeting */
	SERVE_HANGUP,   /* accept and close */
	SERVE_NO_REPLY, /* greet, read the request, never answer */
};

struct server {
	char dir[64];
	char path[108];
	pid_t pid;
};

/* The child's side, written with the same API a daemon would use. */
static void serve(int lfd, enum server_mode mode)
{
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		_exit(1);
	struct ipc_client s = {.timeout_ms = 5000};
	ipc_conn_init(&s.conn, fd, "client");
	struct ipc_msg g, req, rep;
	ipc_msg_init(&g);
	ipc_msg_init(&req);
	ipc_msg_init(&rep);
	struct err e;
	switch (mode) {
	case SERVE_SILENT:
		(void)poll(NULL, 0, 3000);
		_exit(0);
	case SERVE_HANGUP:
		_exit(0);
	case SERVE_GARBAGE:
		if (write(fd,
			  "\0\0\0\x03"
			  "BAD\0\0\0\0",
			  11) != 11)
			_exit(1);
		(void)poll(NULL, 0, 3000);
		_exit(0);
	default:
		break;
	}
	(void)ipc_put_str(&g, "proto",
			  mode == SERVE_OTHER_PROTO ? "smtp" : "test");
	(void)ipc_put_u64(&g, "version", mode == SERVE_OTHER_VERSION ? 2 : 1);
	if (ipc_client_send(&s, &g, &e) < 0 ||
	    ipc_client_recv(&s, &req, &e) < 0)
		_exit(1);
	if (mode == SERVE_NO_REPLY) {
		(void)poll(NULL, 0, 3000);
		_exit(0);
	}
	ipc_msg_begin_reply(&rep, "ok");
	const char *v;
	size_t len;
	if (ipc_get_bytes(&req, "echo", &v, &len) == 1)
		(void)ipc_put(&rep, "echo", v, len);
	(void)ipc_put_str(&rep, "type_seen", ipc_type(&req));
	if (ipc_client_send(&s, &rep, &e) < 0)
		_exit(1);
	_exit(0);
}

static void server_start(struct server *srv, enum server_mode mode)
{
	(void)snprintf(srv->dir, sizeof(srv->dir), "/tmp/test_ipc.XXXXXX");
	assert_non_null(mkdtemp(srv->dir));
	(void)snprintf(srv->path, sizeof(srv->path), "%s/sock", srv->dir);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, srv->path, strlen(srv->path) + 1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	srv->pid = fork();
	assert_true(srv->pid >= 0);
	if (srv->pid == 0)
		serve(lfd, mode);
	close(lfd);
}

static void server_stop(struct server *srv)
{
	(void)kill(srv->pid, SIGKILL);
	(void)waitpid(srv->pid, NULL, 0);
	(void)unlink(srv->path);
	(void)rmdir(srv->dir);
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void client_call(void **state)
{
	(void)state;
	struct server srv;
	server_start(&srv, SERVE_ECHO);
	struct ipc_client c;
	struct err e = {{0}};
	if (ipc_client_connect(&c, srv.path, "test", 1, 5000, &e) < 0)
		fail_msg("connect: %s", e.msg);
	struct ipc_msg req, rep;
	ipc_msg_init(&req);
	ipc_msg_init(&rep);
	ipc_msg_begin(&req, "echo");
	(void)ipc_put(&req, "echo", "hi\0there", 8);
	if (ipc_call(&c, &req, &rep, &e) < 0)
		fail_msg("call: %s", e.msg);
	assert_true(ipc_status_ok(&rep));
	const char *s;
	size_t len;
	assert_int_equal(ipc_get_bytes(&rep, "echo", &s, &len), 1);
	assert_int_equal(len, 8);
	assert_memory_equal(s, "hi\0there", 8);
	assert_int_equal(ipc_get_str(&rep, "type_seen", &s), 1);
	assert_string_equal(s, "echo");
	/* The server has gone: the next call fails, it does not hang. */
	int r = ipc_call(&c, &req, &rep, &e);
	assert_int_equal(r, -1);
	ipc_client_close(&c);
	ipc_msg_deinit(&req);
	ipc_msg_deinit(&rep);
	server_stop(&srv);
}

struct connect_case {
	enum server_mode mode;
	const char *want;
};

static void client_bad_greetings(void **state)
{
	(void)state;
	static const struct connect_case cases[] = {
		{SERVE_OTHER_PROTO, "proto=smtp, want test"},
		{SERVE_OTHER_VERSION, "version=2, want 1"},
		{SERVE_GARBAGE, "malformed"},
		{SERVE_HANGUP, "closed"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct server srv;
		server_start(&srv, cases[i].mode);
		struct ipc_client c;
		struct err e = {{0}};
		int r = ipc_client_connect(&c, srv.path, "test", 1, 5000, &e);
		if (r != -1 || !strstr(e.msg, cases[i].want))
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r,
				 e.msg, cases[i].want);
		assert_int_equal(c.conn.fd, -1);
		ipc_client_close(&c); /* harmless after a failed connect */
		server_stop(&srv);
	}
}

static void client_timeouts(void **state)
{
	(void)state;
	struct server srv;
	server_start(&srv, SERVE_SILENT);
	struct ipc_client c;
	struct err e = {{0}};
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ipc_client_connect(&c, srv.path, "test", 1, 200, &e),
			 -1);
	long ms = elapsed_ms(&t0);
	assert_non_null(strstr(e.msg, "timed out"));
	assert_true(ms >= 150 && ms < 2000);
	server_stop(&srv);

	/* A reply that never comes. */
	server_start(&srv, SERVE_NO_REPLY);
	if (ipc_client_connect(&c, srv.path, "test", 1, 200, &e) < 0)
		fail_msg("connect: %s", e.msg);
	struct ipc_msg req, rep;
	ipc_msg_init(&req);
	ipc_msg_init(&rep);
	ipc_msg_begin(&req, "wait");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ipc_call(&c, &req, &rep, &e), -1);
	ms = elapsed_ms(&t0);
	assert_non_null(strstr(e.msg, "timed out"));
	assert_true(ms >= 150 && ms < 2000);
	ipc_client_close(&c);
	ipc_msg_deinit(&req);
	ipc_msg_deinit(&rep);
	server_stop(&srv);
}

static void client_no_server(void **state)
{
	(void)state;
	struct ipc_client c;
	struct err e = {{0}};
	assert_int_equal(
		ipc_client_connect(&c, "/nonexistent/sock", "test", 1, 100, &e),
		-1);
	assert_non_null(strstr(e.msg, "connect to /nonexistent/sock"));
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(ipc_client_connect(&c, longpath, "test", 1, 100, &e),
			 -1);
	assert_non_null(strstr(e.msg, "too long"));
	ipc_client_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(byte_at_a_time),
		cmocka_unit_test(empty_message),
		cmocka_unit_test(malformed_records),
		cmocka_unit_test(name_limits),
		cmocka_unit_test(value_limits),
		cmocka_unit_test(attribute_count_limit),
		cmocka_unit_test(message_size_limit),
		cmocka_unit_test(truncated_input),
		cmocka_unit_test(repeated_attributes),
		cmocka_unit_test(number_parsing),
		cmocka_unit_test(pointers_survive_put),
		cmocka_unit_test(conn_pipelined),
		cmocka_unit_test(conn_trickle),
		cmocka_unit_test(conn_input_bounded),
		cmocka_unit_test(conn_many_tiny),
		cmocka_unit_test(conn_epipe_not_sigpipe),
		cmocka_unit_test(client_call),
		cmocka_unit_test(client_bad_greetings),
		cmocka_unit_test(client_timeouts),
		cmocka_unit_test(client_no_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
