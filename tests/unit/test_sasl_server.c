/* SPDX-License-Identifier: MIT */
/*
 * test_sasl_server.c - SASL through Cyrus SASL against a temporary
 * account map: PLAIN and LOGIN exchanges byte by byte, SCRAM-SHA-256
 * against Cyrus's own client, wrong passwords, unknown and disabled users,
 * authzid games, plaintext mechanisms refused without TLS, cancel and
 * malformed input, the direct check for IMAP LOGIN / POP3 PASS, and a
 * damaged account record turning into a temporary failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sasl/sasl.h>

#include "common/account.h"
#include "common/buf.h"
#include "common/db.h"
#include "common/sasl_server.h"

static char dir[64];
static char path[128];
static struct account_db *db;

static void add(const char *addr, const char *pw, unsigned scram)
{
	struct account_secret s = {pw, strlen(pw), scram};
	struct err e;
	if (account_add(db, addr, &s, &e) != 1)
		fail_msg("add %s: %s", addr, e.msg);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_sasl.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/accounts.lmdb", dir);
	struct err e;
	if (account_open(&db, path, ACCOUNT_CREATE, &e) < 0)
		return -1;
	add("alice@example.test", "s3cret", 4096);
	add("bob@example.test", "hunter2", 0);
	add("carol@example.test", "carolpw", 4096);
	if (account_set_disabled(db, "carol@example.test", true, &e) != 1)
		return -1;
	if (sasl_server_setup(db, "plain, LOGIN SCRAM-SHA-256", &e) < 0) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sasl_server_cleanup();
	account_close(&db);
	char lock[160];
	snprintf(lock, sizeof(lock), "%s-lock", path);
	unlink(path);
	unlink(lock);
	rmdir(dir);
	return 0;
}

static struct sasl_server_session *tls_session(void)
{
	struct sasl_server_session *s = sasl_server_session_new(
		"smtp", "mx.example.test", "127.0.0.1;25", "127.0.0.1;40000");
	sasl_server_session_security(s, 256, false);
	return s;
}

/* base64 of raw[0..n) as a NUL-terminated string in a static buffer. */
static const char *b64(const void *raw, size_t n)
{
	static struct buf b;
	if (!b.max)
		buf_init(&b, 4096);
	buf_reset(&b);
	assert_int_equal(sasl_server_b64_encode(raw, n, &b), 0);
	return buf_cstr(&b);
}

static enum sasl_server_status plain(struct sasl_server_session *s,
				     const char *authz, const char *user,
				     const char *pw)
{
	char msg[512];
	size_t n = 0;
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s", authz) + 1;
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s", user) + 1;
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s", pw);
	const char *ir = b64(msg, n);
	struct buf ch;
	buf_init(&ch, 1024);
	enum sasl_server_status st =
		sasl_server_session_start_b64(s, "PLAIN", ir, strlen(ir), &ch);
	buf_deinit(&ch);
	return st;
}

/* Starts mech with no initial response (ir NULL) or with ir as text. */
static enum sasl_server_status start(struct sasl_server_session *s,
				     const char *mech, const char *ir,
				     struct buf *ch)
{
	return sasl_server_session_start_b64(s, mech, ir, ir ? strlen(ir) : 0,
					     ch);
}

static void mechanism_lists(void **state)
{
	(void)state;
	struct sasl_server_session *s = sasl_server_session_new(
		"smtp", "mx.example.test", NULL, NULL);
	/* No TLS: only the mechanism that does not reveal the password. */
	assert_string_equal(sasl_server_session_mechs(s), "SCRAM-SHA-256");
	sasl_server_session_security(s, 0, true);
	const char *m = sasl_server_session_mechs(s);
	assert_non_null(strstr(m, "PLAIN"));
	assert_non_null(strstr(m, "LOGIN"));
	sasl_server_session_security(s, 128, false);
	m = sasl_server_session_mechs(s);
	assert_non_null(strstr(m, "PLAIN"));
	assert_non_null(strstr(m, "LOGIN"));
	assert_non_null(strstr(m, "SCRAM-SHA-256"));
	assert_null(strstr(m, "CRAM-MD5"));
	assert_null(strstr(m, "DIGEST"));
	assert_null(strstr(m, "ANONYMOUS"));
	sasl_server_session_free(&s);
	assert_null(s);
	sasl_server_session_free(&s);
}

static void plain_exchanges(void **state)
{
	(void)state;
	struct sasl_server_session *s = tls_session();
	assert_int_equal(plain(s, "", "Alice@Example.TEST", "s3cret"),
			 SASL_SERVER_OK);
	assert_string_equal(sasl_server_session_user(s), "alice@example.test");
	assert_string_equal(sasl_server_session_mech(s), "PLAIN");
	/* Same session, new exchanges: failures leave no user behind. */
	assert_int_equal(plain(s, "", "alice@example.test", "wrong"),
			 SASL_SERVER_FAIL);
	assert_string_equal(sasl_server_session_user(s), "");
	assert_true(sasl_server_session_reason(s)[0] != '\0');
	assert_null(strstr(sasl_server_session_reason(s), "wrong"));
	assert_int_equal(plain(s, "", "alice@example.test", "s3cre"),
			 SASL_SERVER_FAIL);
	assert_int_equal(plain(s, "", "nobody@example.test", "s3cret"),
			 SASL_SERVER_FAIL);
	assert_int_equal(plain(s, "", "alice", "s3cret"), SASL_SERVER_FAIL);
	assert_int_equal(plain(s, "", "carol@example.test", "carolpw"),
			 SASL_SERVER_FAIL);
	/* authzid: may only name oneself (any case), never someone else. */
	assert_int_equal(plain(s, "ALICE@example.test", "alice@example.test",
			       "s3cret"),
			 SASL_SERVER_OK);
	assert_int_equal(plain(s, "bob@example.test", "alice@example.test",
			       "s3cret"),
			 SASL_SERVER_FAIL);
	assert_int_equal(plain(s, "", "bob@example.test", "hunter2"),
			 SASL_SERVER_OK);
	assert_string_equal(sasl_server_session_user(s), "bob@example.test");
	sasl_server_session_free(&s);
}

static void plain_without_initial_response(void **state)
{
	(void)state;
	struct sasl_server_session *s = tls_session();
	struct buf ch;
	buf_init(&ch, 1024);
	assert_int_equal(start(s, "plain", NULL, &ch), SASL_SERVER_CONTINUE);
	assert_int_equal(ch.len, 0); /* "334 " with nothing after it */
	const char *r = b64("\0alice@example.test\0s3cret", 26);
	assert_int_equal(sasl_server_session_step_b64(s, r, strlen(r), &ch),
			 SASL_SERVER_OK);
	assert_string_equal(sasl_server_session_user(s), "alice@example.test");
	/* No exchange in progress any more. */
	assert_int_equal(sasl_server_session_step_b64(s, r, strlen(r), &ch),
			 SASL_SERVER_BADPROT);
	buf_deinit(&ch);
	sasl_server_session_free(&s);
}

static void login_exchange(void **state)
{
	(void)state;
	struct sasl_server_session *s = tls_session();
	struct buf ch;
	buf_init(&ch, 1024);
	assert_int_equal(start(s, "LOGIN", NULL, &ch), SASL_SERVER_CONTINUE);
	assert_string_equal(buf_cstr(&ch), "VXNlcm5hbWU6"); /* Username: */
	buf_reset(&ch);
	const char *u = b64("Alice@example.test", 18);
	assert_int_equal(sasl_server_session_step_b64(s, u, strlen(u), &ch),
			 SASL_SERVER_CONTINUE);
	assert_string_equal(buf_cstr(&ch), "UGFzc3dvcmQ6"); /* Password: */
	buf_reset(&ch);
	const char *p = b64("s3cret", 6);
	assert_int_equal(sasl_server_session_step_b64(s, p, strlen(p), &ch),
			 SASL_SERVER_OK);
	assert_string_equal(sasl_server_session_user(s), "alice@example.test");

	/* Username as initial response (RFC 4954 clients do this). */
	buf_reset(&ch);
	assert_int_equal(sasl_server_session_start_b64(s, "LOGIN", u,
						       strlen(u), &ch),
			 SASL_SERVER_CONTINUE);
	assert_string_equal(buf_cstr(&ch), "UGFzc3dvcmQ6");
	p = b64("S3cret", 6);
	assert_int_equal(sasl_server_session_step_b64(s, p, strlen(p), &ch),
			 SASL_SERVER_FAIL);
	assert_string_equal(sasl_server_session_user(s), "");
	buf_deinit(&ch);
	sasl_server_session_free(&s);
}

static void plaintext_refused_without_tls(void **state)
{
	(void)state;
	struct sasl_server_session *s = sasl_server_session_new(
		"imap", "mx.example.test", NULL, NULL);
	assert_int_equal(plain(s, "", "alice@example.test", "s3cret"),
			 SASL_SERVER_NOMECH);
	struct buf ch;
	buf_init(&ch, 64);
	assert_int_equal(start(s, "LOGIN", NULL, &ch), SASL_SERVER_NOMECH);
	/* The admin allowed it (smtpd_tls_auth_only = no). */
	sasl_server_session_security(s, 0, true);
	assert_int_equal(plain(s, "", "alice@example.test", "s3cret"),
			 SASL_SERVER_OK);
	/* Mechanisms we do not serve, configured or not. */
	sasl_server_session_security(s, 256, false);
	assert_int_equal(start(s, "CRAM-MD5", NULL, &ch), SASL_SERVER_NOMECH);
	assert_int_equal(start(s, "ANONYMOUS", NULL, &ch), SASL_SERVER_NOMECH);
	assert_int_equal(start(s, "A-VERY-LONG-MECHANISM-NAME-INDEED-YES",
			       NULL, &ch),
			 SASL_SERVER_NOMECH);
	buf_deinit(&ch);
	sasl_server_session_free(&s);
}

static void cancel_and_malformed(void **state)
{
	(void)state;
	struct sasl_server_session *s = tls_session();
	struct buf ch;
	buf_init(&ch, 1024);
	assert_int_equal(start(s, "LOGIN", NULL, &ch), SASL_SERVER_CONTINUE);
	assert_int_equal(sasl_server_session_step_b64(s, "*", 1, &ch),
			 SASL_SERVER_CANCEL);
	assert_int_equal(sasl_server_session_step_b64(s, "YQ==", 4, &ch),
			 SASL_SERVER_BADPROT);
	/* Malformed base64 ends the exchange. */
	assert_int_equal(start(s, "LOGIN", NULL, &ch), SASL_SERVER_CONTINUE);
	assert_int_equal(sasl_server_session_step_b64(s, "YQ=", 3, &ch),
			 SASL_SERVER_BADPROT);
	assert_int_equal(sasl_server_session_step_b64(s, "YQ==", 4, &ch),
			 SASL_SERVER_BADPROT);
	assert_int_equal(sasl_server_session_start_b64(s, "PLAIN", "%%%%", 4,
						       &ch),
			 SASL_SERVER_BADPROT);
	/* "=": an empty initial response, which PLAIN cannot accept. */
	assert_int_equal(sasl_server_session_start_b64(s, "PLAIN", "=", 1, &ch),
			 SASL_SERVER_BADPROT);
	/* PLAIN without its NUL separators. */
	const char *junk = b64("alice@example.test s3cret", 25);
	assert_int_equal(sasl_server_session_start_b64(s, "PLAIN", junk,
						       strlen(junk), &ch),
			 SASL_SERVER_BADPROT);
	/* Longer than SASL_SERVER_INPUT_MAX once decoded. */
	size_t big = (SASL_SERVER_INPUT_MAX / 3 + 2) * 4;
	char *line = malloc(big);
	memset(line, 'A', big);
	assert_int_equal(sasl_server_session_start_b64(s, "PLAIN", line, big,
						       &ch),
			 SASL_SERVER_BADPROT);
	free(line);
	/* And the session still works afterwards. */
	assert_int_equal(plain(s, "", "alice@example.test", "s3cret"),
			 SASL_SERVER_OK);
	buf_deinit(&ch);
	sasl_server_session_free(&s);
}

/* ---- SCRAM-SHA-256 with Cyrus SASL's own client ------------------------- */

struct creds {
	const char *user, *pass;
	sasl_secret_t *secret;
};

static int cl_simple(void *ctx, int id, const char **result, unsigned *len)
{
	struct creds *c = ctx;
	*result = id == SASL_CB_USER ? "" : c->user;
	if (len)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int cl_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **out)
{
	(void)conn, (void)id;
	struct creds *c = ctx;
	size_t n = strlen(c->pass);
	free(c->secret);
	c->secret = calloc(1, sizeof(sasl_secret_t) + n + 1);
	c->secret->len = (unsigned long)n;
	memcpy(c->secret->data, c->pass, n);
	*out = c->secret;
	return SASL_OK;
}

#define CB(fn) ((int (*)(void))(void (*)(void))(fn))

static enum sasl_server_status scram(const char *user, const char *pass,
				     bool *client_verified)
{
	struct creds c = {user, pass, NULL};
	sasl_callback_t cbs[] = {
		{SASL_CB_AUTHNAME, CB(cl_simple), &c},
		{SASL_CB_USER, CB(cl_simple), &c},
		{SASL_CB_PASS, CB(cl_pass), &c},
		{SASL_CB_LIST_END, NULL, NULL},
	};
	sasl_conn_t *cl;
	assert_int_equal(sasl_client_new("imap", "mx.example.test", NULL, NULL,
					 cbs, 0, &cl),
			 SASL_OK);
	const char *out, *mech;
	unsigned outlen;
	int crc = sasl_client_start(cl, "SCRAM-SHA-256", NULL, &out, &outlen,
				    &mech);
	assert_true(crc == SASL_CONTINUE || crc == SASL_OK);
	struct sasl_server_session *s = tls_session();
	const void *ch;
	size_t chlen;
	enum sasl_server_status st = sasl_server_session_start(
		s, "SCRAM-SHA-256", out, outlen, &ch, &chlen);
	*client_verified = false;
	while (st == SASL_SERVER_CONTINUE) {
		crc = sasl_client_step(cl, ch, (unsigned)chlen, NULL, &out,
				       &outlen);
		assert_true(crc == SASL_CONTINUE || crc == SASL_OK);
		/* The client checked the server signature (v=...). */
		if (crc == SASL_OK)
			*client_verified = true;
		st = sasl_server_session_step(s, out, outlen, &ch, &chlen);
	}
	if (st == SASL_SERVER_OK)
		assert_string_equal(sasl_server_session_user(s), user);
	sasl_server_session_free(&s);
	sasl_dispose(&cl);
	free(c.secret);
	return st;
}

static void scram_sha_256(void **state)
{
	(void)state;
	bool verified;
	assert_int_equal(scram("alice@example.test", "s3cret", &verified),
			 SASL_SERVER_OK);
	assert_true(verified);
	assert_int_equal(scram("alice@example.test", "wrong", &verified),
			 SASL_SERVER_FAIL);
	/* No verifier stored for bob, unknown and disabled users. */
	assert_int_equal(scram("bob@example.test", "hunter2", &verified),
			 SASL_SERVER_FAIL);
	assert_int_equal(scram("nobody@example.test", "x", &verified),
			 SASL_SERVER_FAIL);
	assert_int_equal(scram("carol@example.test", "carolpw", &verified),
			 SASL_SERVER_FAIL);
}

/* ---- the direct check ------------------------------------------------ */

static void check_plain(void **state)
{
	(void)state;
	char canon[ACCOUNT_ADDR_MAX + 1];
	struct err e;
	assert_int_equal(sasl_server_check_plain("BOB@example.test", 16,
						 "hunter2", 7, canon,
						 sizeof(canon), &e),
			 1);
	assert_string_equal(canon, "bob@example.test");
	assert_int_equal(sasl_server_check_plain("bob@example.test", 16,
						 "hunter3", 7, canon,
						 sizeof(canon), &e),
			 0);
	assert_int_equal(sasl_server_check_plain("bob@example.test\0x", 18,
						 "hunter2", 7, canon,
						 sizeof(canon), &e),
			 0);
	assert_int_equal(sasl_server_check_plain("carol@example.test", 18,
						 "carolpw", 7, canon,
						 sizeof(canon), &e),
			 0);
	assert_int_equal(sasl_server_check_plain("nobody@example.test", 19,
						 "x", 1, canon, sizeof(canon),
						 &e),
			 0);
}

static void b64_helpers(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 4);
	assert_int_equal(sasl_server_b64_decode("Zm9v", 4, &b), 0);
	assert_int_equal(b.len, 3);
	assert_int_equal(sasl_server_b64_decode("YQ==", 4, &b), 0);
	assert_memory_equal(b.data, "fooa", 4);
	assert_int_equal(sasl_server_b64_decode("YQ==", 4, &b), -1); /* max */
	buf_reset(&b);
	assert_int_equal(sasl_server_b64_decode("YQ", 2, &b), -1);
	assert_int_equal(sasl_server_b64_decode("", 0, &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(sasl_server_b64_encode("fo", 2, &b), 0);
	assert_string_equal(buf_cstr(&b), "Zm8=");
	assert_int_equal(sasl_server_b64_encode("f", 1, &b), -1);
	buf_deinit(&b);
}

/* Runs last: it rebuilds the set-up around a damaged record. */
static int raw_put(struct db_txn *txn, void *ctx, struct err *e)
{
	(void)ctx;
	static const char key[] = "dave@example.test";
	static const char val[] = "v=7\nhash=whatever\n";
	return db_put(txn, "accounts", key, sizeof(key) - 1, val,
		      sizeof(val) - 1, e);
}

static void damaged_record_is_tempfail(void **state)
{
	(void)state;
	struct err e;
	sasl_server_cleanup();
	account_close(&db);
	struct db_env *env;
	assert_int_equal(db_open(&env, path, DB_NOSUBDIR, 4, &e), 0);
	assert_int_equal(db_write(env, raw_put, NULL, &e), 0);
	db_close(&env);
	assert_int_equal(account_open(&db, path, ACCOUNT_RDONLY, &e), 0);
	/* Set-up again in the same process (a reload). */
	assert_int_equal(sasl_server_setup(db, "PLAIN", &e), 0);
	assert_int_equal(sasl_server_setup(db, "PLAIN", &e), -1);
	struct sasl_server_session *s = tls_session();
	assert_int_equal(plain(s, "", "dave@example.test", "x"),
			 SASL_SERVER_TEMPFAIL);
	assert_int_equal(plain(s, "", "bob@example.test", "hunter2"),
			 SASL_SERVER_OK);
	struct buf ch;
	buf_init(&ch, 64);
	/* Not configured this time. */
	assert_int_equal(start(s, "LOGIN", NULL, &ch), SASL_SERVER_NOMECH);
	buf_deinit(&ch);
	sasl_server_session_free(&s);
	char canon[ACCOUNT_ADDR_MAX + 1];
	assert_int_equal(sasl_server_check_plain("dave@example.test", 17, "x",
						 1, canon, sizeof(canon), &e),
			 -1);
}

static void bad_configurations(void **state)
{
	(void)state;
	struct err e;
	sasl_server_cleanup();
	assert_int_equal(sasl_server_setup(db, "PLAIN CRAM-MD5", &e), -1);
	assert_non_null(strstr(e.msg, "CRAM-MD5"));
	assert_int_equal(sasl_server_setup(db, " , ", &e), -1);
	assert_int_equal(sasl_server_setup(db, "plain PLAIN plain", &e), 0);
	sasl_server_cleanup();
	assert_int_equal(sasl_server_check_plain("bob@example.test", 16,
						 "hunter2", 7, NULL, 0, &e),
			 -1);
	assert_int_equal(sasl_server_setup(db, "LOGIN", &e), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mechanism_lists),
		cmocka_unit_test(plain_exchanges),
		cmocka_unit_test(plain_without_initial_response),
		cmocka_unit_test(login_exchange),
		cmocka_unit_test(plaintext_refused_without_tls),
		cmocka_unit_test(cancel_and_malformed),
		cmocka_unit_test(scram_sha_256),
		cmocka_unit_test(check_plain),
		cmocka_unit_test(b64_helpers),
		cmocka_unit_test(damaged_record_is_tempfail),
		cmocka_unit_test(bad_configurations),
	};
	if (sasl_client_init(NULL) != SASL_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
