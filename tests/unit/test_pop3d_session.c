/* SPDX-License-Identifier: MIT */
/*
 * test_pop3d_session.c - the command parser, the command table and whole
 * sessions of the state machine.
 *
 * A session runs in this process on one end of a socketpair: the script
 * is written to the other end and the write side shut, so the session
 * reads every command, then EOF; its replies wait in the socket buffer
 * and are compared line by line with what RFC 1939/2449/5034 ask. A
 * script without QUIT is a dropped connection. No TLS here (the e2e
 * tests do STLS and pop3s); logins are in the clear with
 * pop3d_tls_auth_only = no, except in the test of that refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/socket.h>
#include <unistd.h>

#include "common/account.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mbox.h"
#include "common/params.h"
#include "common/sasl_server.h"
#include "common/str.h"
#include "common/xalloc.h"
#include "pop3d/pop3d_cmd.h"
#include "pop3d/pop3d_session.h"
#include "unit_tmpdir.h"

static char dir[64];
static char *maildir; /* alice's maildir */
static struct account_db *db;
static struct pop3d_config cfg;

#define USER "alice@example.test"
#define PASS "s3cret pw" /* with a space: PASS takes the rest */
#define LOGIN "USER " USER "\r\nPASS " PASS "\r\n"

static void load_params(const char *const *extra)
{
	struct strv ov;
	struct err e;
	strv_init(&ov);
	char *base = xasprintf("virtual_mailbox_base=%s/mail", dir);
	strv_push(&ov, base);
	free(base);
	strv_push(&ov, "pop3d_tls_auth_only=no");
	strv_push(&ov, "pop3d_auth_failure_delay=0");
	for (size_t i = 0; extra && extra[i]; i++)
		strv_push(&ov, extra[i]);
	if (params_load(NULL, &ov, NULL, NULL, &e) < 0)
		fail_msg("params: %s", e.msg);
	strv_deinit(&ov);
}

static int group_setup(void **state)
{
	(void)state;
	if (unit_tmpdir_make(dir, sizeof(dir), "test_pop3d") < 0)
		return -1;
	char *path = xasprintf("%s/accounts.lmdb", dir);
	struct err e;
	struct account_secret sec = {PASS, strlen(PASS), 0};
	if (account_open(&db, path, ACCOUNT_CREATE, &e) < 0 ||
	    account_add(db, USER, &sec, &e) != 1 ||
	    sasl_server_setup(db, "PLAIN", &e) < 0) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	free(path);
	maildir = xasprintf("%s/mail/example.test/alice/", dir);
	cfg.accounts = db;
	pop3d_session_configure(&cfg);
	load_params(NULL);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sasl_server_cleanup();
	account_close(&db);
	params_unload();
	free(maildir);
	unit_tmpdir_remove(dir);
	return 0;
}

/* Each test starts with an empty maildir. */
static int empty_maildir(void **state)
{
	(void)state;
	char *d = xasprintf("%s/mail", dir);
	unit_tmpdir_remove(d);
	free(d);
	load_params(NULL);
	cfg.expire = NULL;
	cfg.expire_retrieved = false;
	return 0;
}

static uint32_t deliver(const char *msg)
{
	struct mbox *mb;
	struct mbox_folder *f;
	struct err e;
	uint32_t uid = 0;
	if (mbox_open(&mb, maildir, MBOX_CREATE, &e) != 1 ||
	    mbox_folder_open(mb, MBOX_INBOX, &f, &e) != 1)
		fail_msg("open: %s", e.msg);
	struct mbox_part part = {msg, strlen(msg)};
	struct mbox_new m = {.parts = &part, .nparts = 1};
	if (mbox_append(f, &m, &uid, &e) < 0)
		fail_msg("append: %s", e.msg);
	mbox_folder_close(&f);
	mbox_close(&mb);
	return uid;
}

static uint32_t inbox_count(void)
{
	struct mbox *mb;
	struct mbox_folder *f;
	struct mbox_status st;
	struct err e;
	if (mbox_open(&mb, maildir, MBOX_CREATE, &e) != 1 ||
	    mbox_folder_open(mb, MBOX_INBOX, &f, &e) != 1 ||
	    mbox_folder_sync(f, 0, NULL, &e) < 0 ||
	    mbox_folder_status(f, &st, &e) < 0)
		fail_msg("status: %s", e.msg);
	mbox_folder_close(&f);
	mbox_close(&mb);
	return st.exists;
}

/* Runs a session over script; returns everything it answered. */
static char *run(const char *script)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		fail_msg("socketpair");
	int big = 1 << 20;
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	size_t len = strlen(script);
	assert_int_equal(write(sv[0], script, len), (ssize_t)len);
	(void)shutdown(sv[0], SHUT_WR);
	struct service_client c = {
	        .fd = sv[1], .service = "2110", .inet = true};
	snprintf(c.peer.addr, sizeof(c.peer.addr), "127.0.0.1");
	snprintf(c.peer.port, sizeof(c.peer.port), "40000");
	snprintf(c.local.addr, sizeof(c.local.addr), "127.0.0.1");
	snprintf(c.local.port, sizeof(c.local.port), "2110");
	pop3d_session_run(&c);
	close(sv[1]);
	struct buf out;
	buf_init(&out, 0);
	char tmp[4096];
	ssize_t r;
	while ((r = read(sv[0], tmp, sizeof(tmp))) > 0)
		(void)buf_append(&out, tmp, (size_t)r);
	close(sv[0]);
	return buf_take(&out);
}

/* Checks the reply lines against want (NULL-terminated). A wanted line
 * ending in "*" matches any line with that prefix. */
static void expect(const char *script, const char *const *want)
{
	char *got = run(script);
	const char *p = got;
	size_t i = 0;
	for (; want[i]; i++) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			fail_msg("reply %zu: got end of output, want \"%s\"\n"
			         "all output:\n%s",
			         i, want[i], got);
		size_t n = (size_t)(eol - p), wl = strlen(want[i]);
		bool ok =
		        wl && want[i][wl - 1] == '*'
		                ? n >= wl - 1 && memcmp(p, want[i], wl - 1) == 0
		                : n == wl && memcmp(p, want[i], n) == 0;
		if (!ok)
			fail_msg("reply %zu: got \"%.*s\", want \"%s\"\n"
			         "all output:\n%s",
			         i, (int)n, p, want[i], got);
		p = eol + 2;
	}
	if (*p)
		fail_msg("extra output after %zu replies: \"%s\"", i, p);
	free(got);
}

#define GREETING "+OK Posthorn ready."
/* The capabilities every CAPA lists, in order. */
#define CAPA_COMMON                                                            \
	"CAPA", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"
#define LOGGED_IN(n, o) "+OK Logged in, " #n " messages (" #o " octets)."

/* ---- parser and table ---------------------------------------------------- */

static void test_parse(void **state)
{
	(void)state;
	struct pop3d_args a;
	assert_int_equal(pop3d_args_parse("", 0, &a), POP3D_PARSE_EMPTY);
	assert_int_equal(pop3d_args_parse("   ", 3, &a), POP3D_PARSE_EMPTY);
	assert_int_equal(pop3d_args_parse("ST\0T", 4, &a), POP3D_PARSE_CONTROL);
	assert_int_equal(pop3d_args_parse("RETR\r1", 6, &a),
	                 POP3D_PARSE_CONTROL);
	assert_int_equal(pop3d_args_parse("A\x7f", 2, &a), POP3D_PARSE_CONTROL);

	assert_int_equal(pop3d_args_parse("stat", 4, &a), POP3D_PARSE_OK);
	assert_int_equal(a.keyword_len, 4);
	assert_int_equal(a.argc, 0);
	assert_int_equal(a.rest_len, 0);

	const char *l = "TOP  1   10";
	assert_int_equal(pop3d_args_parse(l, strlen(l), &a), POP3D_PARSE_OK);
	assert_int_equal(a.argc, 2);
	assert_memory_equal(a.argv[0], "1", 1);
	assert_int_equal(a.argl[1], 2);
	assert_false(a.too_many);

	l = "PASS  pass word  ";
	assert_int_equal(pop3d_args_parse(l, strlen(l), &a), POP3D_PARSE_OK);
	assert_int_equal(a.rest_len, strlen(" pass word  "));
	assert_true(a.too_many == false && a.argc == 2);

	l = "TOP 1 2 3";
	assert_int_equal(pop3d_args_parse(l, strlen(l), &a), POP3D_PARSE_OK);
	assert_true(a.too_many);

	/* 8-bit bytes may be part of a password. */
	l = "PASS p\xc3\xa4ss";
	assert_int_equal(pop3d_args_parse(l, strlen(l), &a), POP3D_PARSE_OK);
}

static void test_lookup(void **state)
{
	(void)state;
	static const char *const names[] = {
	        "USER", "PASS", "AUTH", "APOP", "STLS", "CAPA", "QUIT", "STAT",
	        "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP",  "UIDL"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct pop3d_cmd *c =
		        pop3d_cmd_lookup(names[i], strlen(names[i]));
		assert_non_null(c);
		assert_string_equal(c->name, names[i]);
	}
	assert_non_null(pop3d_cmd_lookup("rEtR", 4));
	assert_null(pop3d_cmd_lookup("RETRX", 5));
	assert_null(pop3d_cmd_lookup("RET", 3));
	assert_null(pop3d_cmd_lookup("XTND", 4));
	/* The table says where each command is legal. */
	assert_int_equal(pop3d_cmd_lookup("STAT", 4)->states,
	                 POP3D_STATE_TRANS);
	assert_int_equal(pop3d_cmd_lookup("USER", 4)->states, POP3D_STATE_AUTH);
	assert_int_equal(pop3d_cmd_lookup("CAPA", 4)->states,
	                 POP3D_STATE_AUTH | POP3D_STATE_TRANS);
	assert_string_equal(pop3d_cmd_log_name(POP3D_CMD_RETR), "retr");
}

static void test_msgno(void **state)
{
	(void)state;
	uint64_t n;
	assert_true(pop3d_msgno_parse("1", 1, &n) && n == 1);
	assert_true(pop3d_msgno_parse("0", 1, &n) && n == 0);
	assert_true(pop3d_msgno_parse("007", 3, &n) && n == 7);
	assert_true(pop3d_msgno_parse("99999999999999999999999", 23, &n) &&
	            n == UINT64_MAX);
	assert_false(pop3d_msgno_parse("", 0, &n));
	assert_false(pop3d_msgno_parse("-1", 2, &n));
	assert_false(pop3d_msgno_parse("+1", 2, &n));
	assert_false(pop3d_msgno_parse("1a", 2, &n));
}

/* ---- sessions ------------------------------------------------------------ */

static void test_authorization_state(void **state)
{
	(void)state;
	static const char *const want[] = {
	        GREETING,
	        "-ERR STAT is not allowed in the AUTHORIZATION state.",
	        "-ERR Send USER first.",
	        "-ERR Unknown command.",
	        "-ERR Empty command.",
	        "-ERR Missing argument.",
	        "-ERR Too many arguments.",
	        "-ERR APOP is not supported.",
	        "-ERR TLS is not available.",
	        "+OK Bye.",
	        NULL,
	};
	expect("STAT\r\nPASS x\r\nXTND\r\n\r\nUSER\r\nUSER a b\r\n"
	       "APOP a b\r\nSTLS\r\nQUIT\r\nNOOP\r\n",
	       want);
}

static void test_capa(void **state)
{
	(void)state;
	static const char *const want[] = {
	        GREETING,
	        "+OK Capability list follows.",
	        CAPA_COMMON,
	        "USER",
	        "SASL PLAIN",
	        "EXPIRE NEVER",
	        "LOGIN-DELAY 900",
	        "IMPLEMENTATION Posthorn",
	        ".",
	        "+OK Send your password.",
	        LOGGED_IN(0, 0),
	        "+OK Capability list follows.",
	        CAPA_COMMON,
	        "EXPIRE NEVER",
	        "LOGIN-DELAY 900",
	        "IMPLEMENTATION Posthorn",
	        ".",
	        "+OK Logging out (maildrop empty).",
	        NULL,
	};
	static const char *const extra[] = {"pop3d_login_delay=15m", NULL};
	load_params(extra);
	cfg.expire = "NEVER";
	expect("CAPA\r\n" LOGIN "CAPA\r\nQUIT\r\n", want);
}

static void test_tls_auth_only(void **state)
{
	(void)state;
	static const char *const extra[] = {"pop3d_tls_auth_only=yes", NULL};
	load_params(extra);
	static const char *const want[] = {
	        GREETING,
	        "+OK Capability list follows.",
	        CAPA_COMMON,
	        "IMPLEMENTATION Posthorn",
	        ".",
	        "-ERR [AUTH] Plaintext authentication disallowed on non-secure "
	        "connections; use STLS first.",
	        "-ERR [AUTH] Plaintext authentication disallowed on non-secure "
	        "connections; use STLS first.",
	        "-ERR [AUTH] Plaintext authentication disallowed on non-secure "
	        "connections; use STLS first.",
	        "+OK Supported mechanisms follow.",
	        ".",
	        "+OK Bye.",
	        NULL,
	};
	expect("CAPA\r\nUSER " USER "\r\nPASS x\r\nAUTH PLAIN\r\nAUTH\r\n"
	       "QUIT\r\n",
	       want);
}

static void test_bad_password(void **state)
{
	(void)state;
	static const char *const want[] = {
	        GREETING,
	        "+OK Send your password.",
	        "-ERR [AUTH] Authentication failed.",
	        "+OK Send your password.",
	        "-ERR [AUTH] Authentication failed.",
	        "-ERR Send USER first.",
	        "+OK Send your password.",
	        "-ERR NOOP is not allowed in the AUTHORIZATION state.",
	        "-ERR Send USER first.",
	        "+OK Bye.",
	        NULL,
	};
	/* PASS must follow USER directly; a failed PASS forgets USER. */
	expect("USER " USER "\r\nPASS wrong\r\n"
	       "USER nobody@example.test\r\nPASS " PASS "\r\nPASS " PASS "\r\n"
	       "USER " USER "\r\nNOOP\r\nPASS " PASS "\r\nQUIT\r\n",
	       want + 0);
}

static void test_transaction(void **state)
{
	(void)state;
	deliver("Subject: one\n\nline 1\n.dot\n"); /* 30 octets */
	deliver("Subject: two\n\na\nb\nc\n");      /* 25 */
	deliver("Subject: three\n\n");             /* 18 */
	static const char *const want[] = {
	        GREETING,
	        "+OK Send your password.",
	        LOGGED_IN(3, 73),
	        "+OK 3 73",
	        "+OK 3 messages (73 octets)",
	        "1 30",
	        "2 25",
	        "3 18",
	        ".",
	        "+OK 2 25",
	        "-ERR No such message.",
	        "-ERR No such message.",
	        "-ERR Invalid message number.",
	        "+OK 30 octets",
	        "Subject: one",
	        "",
	        "line 1",
	        "..dot",
	        ".",
	        "+OK Top of message follows.",
	        "Subject: two",
	        "",
	        "a",
	        ".",
	        "+OK Unique-ID listing follows.",
	        "1 *",
	        "2 *",
	        "3 *",
	        ".",
	        "+OK 3 *",
	        "+OK Message 2 deleted.",
	        "-ERR Message 2 is deleted.",
	        "-ERR Message 2 is deleted.",
	        "-ERR Message 2 is deleted.",
	        "+OK 2 48",
	        "+OK 2 messages (48 octets)",
	        "1 30",
	        "3 18",
	        ".",
	        "+OK Maildrop has 3 messages (73 octets).",
	        "+OK 3 73",
	        "+OK Still here.",
	        "-ERR USER is not allowed in the TRANSACTION state.",
	        "-ERR Invalid number of lines.",
	        "+OK Message 1 deleted.",
	        "+OK Logging out (2 messages left).",
	        NULL,
	};
	expect(LOGIN "STAT\r\nLIST\r\nlist 2\r\nLIST 4\r\nLIST 0\r\n"
	             "LIST x\r\nRETR 1\r\nTOP 2 1\r\nUIDL\r\nUIDL 3\r\n"
	             "DELE 2\r\nDELE 2\r\nRETR 2\r\nLIST 2\r\nSTAT\r\nLIST\r\n"
	             "RSET\r\nSTAT\r\nNOOP\r\nUSER x\r\nTOP 1 -1\r\nDELE 1\r\n"
	             "QUIT\r\n",
	       want);
	assert_int_equal(inbox_count(), 2);
}

/* RFC 1939 6: without QUIT nothing is removed. */
static void test_dropped_connection(void **state)
{
	(void)state;
	deliver("Subject: a\n\nx\n");
	deliver("Subject: b\n\ny\n");
	static const char *const want[] = {
	        GREETING,
	        "+OK Send your password.",
	        LOGGED_IN(2, 34),
	        "+OK Message 1 deleted.",
	        "+OK Message 2 deleted.",
	        NULL,
	};
	expect(LOGIN "DELE 1\r\nDELE 2\r\n", want);
	assert_int_equal(inbox_count(), 2);
	/* The lock went with the session: a new one logs in. */
	static const char *const again[] = {
	        GREETING,
	        "+OK Send your password.",
	        LOGGED_IN(2, 34),
	        "+OK Logging out (2 messages left).",
	        NULL,
	};
	expect(LOGIN "QUIT\r\n", again);
}

static void test_uidl_stable_and_snapshot(void **state)
{
	(void)state;
	uint32_t u1 = deliver("Subject: a\n\nx\n");
	char *one = run(LOGIN "UIDL 1\r\nQUIT\r\n");
	char *two = run(LOGIN "UIDL 1\r\nQUIT\r\n");
	assert_string_equal(one, two);
	char want[64];
	snprintf(want, sizeof(want), ".%u\r\n", u1);
	assert_non_null(strstr(one, want));
	free(one);
	free(two);
	/* Mail that arrives during a session waits for the next one: the
	 * maildrop is the snapshot taken at login. (Delivered between
	 * two scripted sessions here; the e2e test delivers during one.) */
	deliver("Subject: b\n\ny\n");
	static const char *const want2[] = {
	        GREETING,
	        "+OK Send your password.",
	        LOGGED_IN(2, 34),
	        "+OK Logging out (2 messages left).",
	        NULL,
	};
	expect(LOGIN "QUIT\r\n", want2);
}

static void test_in_use(void **state)
{
	(void)state;
	deliver("Subject: a\n\nx\n");
	struct mbox *mb;
	struct err e;
	int fd;
	assert_int_equal(mbox_open(&mb, maildir, 0, &e), 1);
	assert_int_equal(mbox_lock_session(mb, &fd, &e), 1);
	static const char *const want[] = {
	        GREETING,
	        "+OK Send your password.",
	        "-ERR [IN-USE] Mailbox is locked by another POP3 session.",
	        "-ERR STAT is not allowed in the AUTHORIZATION state.",
	        "+OK Bye.",
	        NULL,
	};
	expect(LOGIN "STAT\r\nQUIT\r\n", want);
	close(fd);
	mbox_close(&mb);
}

static void test_auth_plain(void **state)
{
	(void)state;
	/* base64("\0alice@example.test\0s3cret pw") */
	struct buf ir;
	buf_init(&ir, 0);
	static const char raw[] = "\0" USER "\0" PASS;
	assert_int_equal(sasl_server_b64_encode(raw, sizeof(raw) - 1, &ir), 0);
	char *script =
	        xasprintf("AUTH\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n%%%%\r\n"
	                  "AUTH X-UNKNOWN\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n"
	                  "AUTH PLAIN\r\n%s\r\nQUIT\r\n",
	                  buf_cstr(&ir));
	static const char *const want[] = {
	        GREETING,
	        "+OK Supported mechanisms follow.",
	        "PLAIN",
	        ".",
	        "+ ",
	        "-ERR Authentication cancelled.",
	        "+ ",
	        "-ERR Invalid AUTH data.",
	        "-ERR Unsupported authentication mechanism.",
	        "-ERR [AUTH] Authentication failed.",
	        "+ ",
	        LOGGED_IN(0, 0),
	        "+OK Logging out (maildrop empty).",
	        NULL,
	};
	expect(script, want);
	free(script);
	script = xasprintf("AUTH plain %s\r\nSTAT\r\nQUIT\r\n", buf_cstr(&ir));
	static const char *const want_ir[] = {
	        GREETING,  LOGGED_IN(0, 0),
	        "+OK 0 0", "+OK Logging out (maildrop empty).",
	        NULL,
	};
	expect(script, want_ir);
	free(script);
	buf_deinit(&ir);
}

static void test_limits(void **state)
{
	(void)state;
	static const char *const extra[] = {
	        "pop3d_error_limit=3", "pop3d_line_length_limit=255", NULL};
	load_params(extra);
	char longline[400];
	memset(longline, 'A', sizeof(longline));
	memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
	char *script = xasprintf("%s"
	                         "NOOP\r\nX\r\nY\r\nNOOP\r\n",
	                         longline);
	static const char *const want[] = {
	        GREETING,
	        "-ERR Line too long.",
	        "-ERR NOOP is not allowed in the AUTHORIZATION state.",
	        "-ERR Unknown command.",
	        "-ERR Too many errors, closing connection.",
	        NULL,
	};
	expect(script, want);
	free(script);

	static const char *const extra2[] = {"pop3d_command_limit=10", NULL};
	load_params(extra2);
	char *many = xasprintf("%s", "");
	for (int i = 0; i < 12; i++) {
		char *n = xasprintf("%sUSER x\r\n", many);
		free(many);
		many = n;
	}
	char *out = run(many);
	/* Ten commands answered, then the limit. */
	size_t oks = 0;
	for (const char *p = out; (p = strstr(p, "+OK Send")); p++)
		oks++;
	assert_int_equal(oks, 10);
	assert_non_null(strstr(out, "-ERR [SYS/PERM] Too many commands."));
	free(out);
	free(many);
}

/* RFC 2449 6.5: with LOGIN-DELAY set, a second login too soon is
 * refused with the response code, and the maildrop is left alone. */
static void test_login_delay(void **state)
{
	(void)state;
	static const char *const extra[] = {"pop3d_login_delay=1h", NULL};
	load_params(extra);
	static const char *const first[] = {
	        GREETING,
	        "+OK Send your password.",
	        LOGGED_IN(0, 0),
	        "+OK Logging out (maildrop empty).",
	        NULL,
	};
	expect(LOGIN "QUIT\r\n", first);
	static const char *const again[] = {
	        GREETING,
	        "+OK Send your password.",
	        "-ERR [LOGIN-DELAY] Minimum time between logins is 3600 "
	        "seconds.",
	        "+OK Bye.",
	        NULL,
	};
	expect(LOGIN "QUIT\r\n", again);
}

static void test_expire_zero(void **state)
{
	(void)state;
	deliver("Subject: a\n\nx\n");
	deliver("Subject: b\n\ny\n");
	cfg.expire = "0";
	cfg.expire_retrieved = true;
	char *out = run(LOGIN "RETR 2\r\nTOP 1 0\r\nQUIT\r\n");
	assert_non_null(strstr(out, "+OK Logging out (1 messages left)."));
	free(out);
	assert_int_equal(inbox_count(), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse),
	        cmocka_unit_test(test_lookup),
	        cmocka_unit_test(test_msgno),
	        cmocka_unit_test_setup(test_authorization_state, empty_maildir),
	        cmocka_unit_test_setup(test_capa, empty_maildir),
	        cmocka_unit_test_setup(test_tls_auth_only, empty_maildir),
	        cmocka_unit_test_setup(test_bad_password, empty_maildir),
	        cmocka_unit_test_setup(test_transaction, empty_maildir),
	        cmocka_unit_test_setup(test_dropped_connection, empty_maildir),
	        cmocka_unit_test_setup(test_uidl_stable_and_snapshot,
	                               empty_maildir),
	        cmocka_unit_test_setup(test_in_use, empty_maildir),
	        cmocka_unit_test_setup(test_auth_plain, empty_maildir),
	        cmocka_unit_test_setup(test_limits, empty_maildir),
	        cmocka_unit_test_setup(test_login_delay, empty_maildir),
	        cmocka_unit_test_setup(test_expire_zero, empty_maildir),
	};
	log_to_file("/dev/null");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
