/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TESTS_UNIT_TLS_FIXTURE_H
#define POSTHORN_TESTS_UNIT_TLS_FIXTURE_H

/*
 * tls_fixture.h - a cmocka group fixture for tests that need certificates:
 * a temporary directory holding, made with tls_cert_generate(),
 *   mx.crt, mx.key        EC P-256 for mx.example.test
 *   rsa.crt, rsa.key      RSA 2048 for mx.example.test
 *   other.crt, other.key  EC P-256 for other.example.test
 * Included by test programs only; removed with everything else in it by
 * fixture_teardown().
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/tls.h"

static char fixture_dir[64];

/* A path in the fixture directory. Results live in a ring of buffers, so
 * a test may hold a few dozen at once. */
__attribute__((unused)) static const char *fixture_path(const char *name)
{
	static char p[32][128];
	static int i;
	i = (i + 1) % 32;
	(void)snprintf(p[i], sizeof(p[i]), "%s/%s", fixture_dir, name);
	return p[i];
}

__attribute__((unused)) static int fixture_setup(void **state)
{
	(void)state;
	(void)snprintf(fixture_dir, sizeof(fixture_dir),
	               "/tmp/posthorn-tlstest.XXXXXX");
	if (!mkdtemp(fixture_dir))
		return -1;
	static const struct {
		const char *host, *name;
		enum tls_key_type type;
	} certs[] = {
	        {"mx.example.test", "mx", TLS_KEY_EC_P256},
	        {"mx.example.test", "rsa", TLS_KEY_RSA_2048},
	        {"other.example.test", "other", TLS_KEY_EC_P256},
	};
	for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
		char crt[32], key[32];
		(void)snprintf(crt, sizeof(crt), "%s.crt", certs[i].name);
		(void)snprintf(key, sizeof(key), "%s.key", certs[i].name);
		struct err e;
		if (tls_cert_generate(certs[i].host, certs[i].type, 30,
		                      fixture_path(crt), fixture_path(key),
		                      &e) < 0) {
			fprintf(stderr, "cert generation: %s\n", e.msg);
			return -1;
		}
	}
	return 0;
}

__attribute__((unused)) static int fixture_teardown(void **state)
{
	(void)state;
	char cmd[128];
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fixture_dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
