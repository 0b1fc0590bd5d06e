/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c - TLS contexts: protocol specs, certificate generation, and
 * the errors an admin sees for missing, broken or mismatched files
 *
 * Handshakes over real sockets are in test_stream.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/tls.h"
#include "tests/unit/tls_fixture.h"

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(fixture_path(name), "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void protocols_table(void **state)
{
	(void)state;
	static const struct {
		const char *spec;
		int min, max; /* min -1: error expected */
	} cases[] = {
	        {NULL, 0x0303, 0},
	        {"", 0x0303, 0},
	        {">=TLSv1.2", 0x0303, 0},
	        {">=TLSv1.3", 0x0304, 0},
	        {">=TLSv1", 0x0301, 0},
	        {"<=TLSv1.1", 0x0301, 0x0302},
	        {">=TLSv1.2, <=TLSv1.2", 0x0303, 0x0303},
	        {"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", 0x0303, 0},
	        {"!SSLv2:!SSLv3", 0x0301, 0},
	        {"TLSv1.2 TLSv1.3", 0x0303, 0},
	        {"tlsv1.3", 0x0304, 0},
	        {"!TLSv1.2", -1, 0},            /* 1.0, 1.1, 1.3: a gap */
	        {">=TLSv1.3 <=TLSv1.2", -1, 0}, /* nothing */
	        {"SSLv3", -1, 0},               /* never enabled */
	        {">=TLSv9", -1, 0},
	        {"TLSv1.2,garbage", -1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int min = 0, max = 0;
		struct err e = {""};
		int rc = tls_protocols_parse(cases[i].spec, &min, &max, &e);
		if (cases[i].min < 0) {
			if (rc != -1)
				fail_msg("\"%s\": got ok, want error",
				         cases[i].spec);
			assert_true(strlen(e.msg) > 0);
			continue;
		}
		if (rc != 0 || min != cases[i].min || max != cases[i].max)
			fail_msg("\"%s\": got rc %d min %#x max %#x, want %#x "
			         "%#x (%s)",
			         cases[i].spec ? cases[i].spec : "(null)", rc,
			         min, max, cases[i].min, cases[i].max, e.msg);
	}
}

static void levels(void **state)
{
	(void)state;
	enum tls_level l;
	assert_int_equal(tls_level_parse("may", &l), 0);
	assert_int_equal(l, TLS_LEVEL_MAY);
	assert_int_equal(tls_level_parse("SECURE", &l), 0);
	assert_int_equal(l, TLS_LEVEL_SECURE);
	assert_int_equal(tls_level_parse("dane", &l), -1);
	assert_string_equal(tls_level_name(TLS_LEVEL_VERIFY), "verify");
	assert_string_equal(tls_trust_name(TLS_TRUST_ANONYMOUS), "Anonymous");
}

static void generated_files(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(fixture_path("mx.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(fixture_path("mx.crt"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	/* Both loadable as a server identity, EC and RSA. */
	struct err e = {""};
	struct tls_server_config cfg = {.cert_file = fixture_path("mx.crt"),
	                                .key_file = fixture_path("mx.key")};
	struct tls_ctx *ctx = tls_server_ctx_new(&cfg, &e);
	if (!ctx)
		fail_msg("%s", e.msg);
	tls_ctx_free(&ctx);
	assert_null(ctx);
	cfg.cert_file = fixture_path("rsa.crt");
	cfg.key_file = fixture_path("rsa.key");
	ctx = tls_server_ctx_new(&cfg, &e);
	if (!ctx)
		fail_msg("%s", e.msg);
	tls_ctx_free(&ctx);

	/* One file holding key and certificate, key_file left empty. */
	assert_int_equal(tls_cert_generate("one.example.test", TLS_KEY_EC_P256,
	                                   1, fixture_path("both.pem"),
	                                   fixture_path("both.pem"), &e),
	                 0);
	assert_int_equal(stat(fixture_path("both.pem"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	cfg.cert_file = fixture_path("both.pem");
	cfg.key_file = "";
	ctx = tls_server_ctx_new(&cfg, &e);
	if (!ctx)
		fail_msg("%s", e.msg);
	tls_ctx_free(&ctx);
	tls_ctx_free(&ctx); /* NULL is fine */
}

static void generate_rejects_bad_names(void **state)
{
	(void)state;
	struct err e = {""};
	assert_int_equal(tls_cert_generate("a.test,DNS:evil.test",
	                                   TLS_KEY_EC_P256, 1,
	                                   fixture_path("x.crt"),
	                                   fixture_path("x.key"), &e),
	                 -1);
	assert_non_null(strstr(e.msg, "not a host name"));
	assert_int_equal(tls_cert_generate("", TLS_KEY_EC_P256, 1,
	                                   fixture_path("x.crt"),
	                                   fixture_path("x.key"), &e),
	                 -1);
	assert_int_equal(tls_cert_generate("a.test", TLS_KEY_EC_P256, 0,
	                                   fixture_path("x.crt"),
	                                   fixture_path("x.key"), &e),
	                 -1);
	assert_int_equal(tls_cert_generate("a.test", TLS_KEY_EC_P256, 1,
	                                   "/nonexistent/dir/x.crt",
	                                   "/nonexistent/dir/x.key", &e),
	                 -1);
	assert_non_null(strstr(e.msg, "/nonexistent/dir/x.key"));
	assert_int_equal(access(fixture_path("x.crt"), F_OK), -1);
}

/* Expects server context creation to fail with every word of want in
 * the message. */
static void server_fails(const char *cert, const char *key,
                         const char *protocols, const char *want1,
                         const char *want2)
{
	struct err e = {""};
	struct tls_server_config cfg = {
	        .cert_file = cert, .key_file = key, .protocols = protocols};
	struct tls_ctx *ctx = tls_server_ctx_new(&cfg, &e);
	if (ctx)
		fail_msg("cert %s key %s: got a context, want an error", cert,
		         key);
	if (!strstr(e.msg, want1) || (want2 && !strstr(e.msg, want2)))
		fail_msg("got \"%s\", want \"%s\" and \"%s\"", e.msg, want1,
		         want2 ? want2 : "");
}

static void server_ctx_errors(void **state)
{
	(void)state;
	server_fails(NULL, NULL, NULL, "no TLS certificate file", NULL);
	server_fails(fixture_path("missing.crt"), fixture_path("mx.key"), NULL,
	             "cannot open certificate file", "No such file");
	server_fails(fixture_path("mx.crt"), fixture_path("missing.key"), NULL,
	             "cannot open private key file",
	             fixture_path("missing.key"));
	/* A key that belongs to another certificate. */
	server_fails(fixture_path("mx.crt"), fixture_path("other.key"), NULL,
	             "does not match the certificate", fixture_path("mx.crt"));
	/* Keys of different types. */
	server_fails(fixture_path("rsa.crt"), fixture_path("mx.key"), NULL,
	             "does not match the certificate", NULL);
	/* Files with no PEM in them. */
	write_file("junk.pem", "hello\n", 6);
	server_fails(fixture_path("junk.pem"), fixture_path("mx.key"), NULL,
	             "cannot load certificate chain from",
	             fixture_path("junk.pem"));
	server_fails(fixture_path("mx.crt"), fixture_path("junk.pem"), NULL,
	             "cannot load private key from", fixture_path("junk.pem"));
	/* A key file holding only a certificate. */
	server_fails(fixture_path("mx.crt"), fixture_path("mx.crt"), NULL,
	             "cannot load private key from", NULL);
	server_fails(fixture_path("mx.crt"), fixture_path("mx.key"), ">=TLSv2",
	             "unknown", NULL);
	if (geteuid() != 0) { /* root reads anything */
		assert_int_equal(chmod(fixture_path("other.key"), 0), 0);
		server_fails(fixture_path("other.crt"),
		             fixture_path("other.key"), NULL,
		             "cannot open private key file",
		             "Permission denied");
		assert_int_equal(chmod(fixture_path("other.key"), 0600), 0);
	}
}

static void ticket_key_file(void **state)
{
	(void)state;
	struct err e = {""};
	struct tls_server_config cfg = {.cert_file = fixture_path("mx.crt"),
	                                .key_file = fixture_path("mx.key"),
	                                .ticket_key_file =
	                                        fixture_path("ticket.key"),
	                                .ticket_lifetime = 3600};
	struct tls_ctx *ctx = tls_server_ctx_new(&cfg, &e);
	if (!ctx)
		fail_msg("%s", e.msg);
	tls_ctx_free(&ctx);
	struct stat st;
	assert_int_equal(stat(fixture_path("ticket.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 80);
	/* A second process reads the same file and leaves it alone. */
	struct stat st2;
	ctx = tls_server_ctx_new(&cfg, &e);
	assert_non_null(ctx);
	tls_ctx_free(&ctx);
	assert_int_equal(stat(fixture_path("ticket.key"), &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);

	write_file("short.key", "0123456789", 10);
	cfg.ticket_key_file = fixture_path("short.key");
	assert_null(tls_server_ctx_new(&cfg, &e));
	assert_non_null(strstr(e.msg, "exactly 80 bytes"));

	cfg.ticket_key_file = "/nonexistent/dir/ticket.key";
	assert_null(tls_server_ctx_new(&cfg, &e));
	assert_non_null(strstr(e.msg, "cannot create ticket key file"));
}

static void client_ctx(void **state)
{
	(void)state;
	struct err e = {""};
	struct tls_client_config cfg = {.level = TLS_LEVEL_VERIFY,
	                                .ca_file =
	                                        fixture_path("missing-ca.pem")};
	assert_null(tls_client_ctx_new(&cfg, &e));
	assert_non_null(strstr(e.msg, "cannot open CA file"));

	cfg.ca_file = fixture_path("junk.pem");
	write_file("junk.pem", "hello\n", 6);
	assert_null(tls_client_ctx_new(&cfg, &e));
	assert_non_null(strstr(e.msg, "cannot load CA certificates"));

	cfg.ca_file = fixture_path("mx.crt");
	cfg.ciphers = "NO-SUCH-CIPHER";
	assert_null(tls_client_ctx_new(&cfg, &e));
	assert_non_null(strstr(e.msg, "bad cipher list"));

	cfg.ciphers = NULL;
	struct tls_ctx *ctx = tls_client_ctx_new(&cfg, &e);
	if (!ctx)
		fail_msg("%s", e.msg);
	assert_int_equal(tls_ctx_level(ctx), TLS_LEVEL_VERIFY);
	/* verify needs the host name to check; secure the next hop. */
	assert_null(tls_conn_new(ctx, -1, NULL, &e));
	assert_non_null(strstr(e.msg, "needs the server name"));
	struct tls_peer peer = {.host = "mx.example.test"};
	struct tls_conn *c = tls_conn_new(ctx, -1, &peer, &e);
	assert_non_null(c);
	tls_conn_free(&c);
	assert_null(c);
	tls_ctx_free(&ctx);

	cfg.level = TLS_LEVEL_SECURE;
	ctx = tls_client_ctx_new(&cfg, &e);
	assert_non_null(ctx);
	assert_null(tls_conn_new(ctx, -1, &peer, &e));
	assert_non_null(strstr(e.msg, "next-hop domain"));
	tls_ctx_free(&ctx);

	/* No CA file: the system store, fine at level may. */
	struct tls_client_config may = {.level = TLS_LEVEL_MAY};
	ctx = tls_client_ctx_new(&may, &e);
	assert_non_null(ctx);
	tls_ctx_free(&ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(protocols_table),
	        cmocka_unit_test(levels),
	        cmocka_unit_test(generated_files),
	        cmocka_unit_test(generate_rejects_bad_names),
	        cmocka_unit_test(server_ctx_errors),
	        cmocka_unit_test(ticket_key_file),
	        cmocka_unit_test(client_ctx),
	};
	return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
