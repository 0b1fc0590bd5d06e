/* SPDX-License-Identifier: MIT */
/*
 * pop3d.c - the POP3 access server: main() and process setup
 *
 * One client per process (SERVICE_ONE_CLIENT), running as the virtual
 * mailbox owner (never root): as root it loads the TLS certificate and
 * opens the per-client table all pop3d processes share
 * (queue_directory/pid/pop3d.clients, common/anvil.h: sessions and recent
 * login failures per address); after the drop it opens the account map
 * and sets up SASL, then serves sessions (pop3d_session.c). master.cf
 * runs it twice in the default configuration: plain POP3 with STLS, and
 * pop3s with -o pop3d_tls_wrappermode=yes.
 */
#include <stdlib.h>
#include <string.h>

#include "common/account.h"
#include "common/anvil.h"
#include "common/err.h"
#include "common/log.h"
#include "common/params.h"
#include "common/sasl_server.h"
#include "common/service.h"
#include "common/str.h"
#include "common/tls.h"
#include "pop3d_session.h"

static struct pop3d_config cfg;

static void pop3d_init_privileged(void)
{
	cfg.clients = anvil_open_family("pop3d");
	if (!*params->pop3d_tls_cert_file) {
		if (params->pop3d_tls_wrappermode)
			log_fatal("pop3d_tls_wrappermode = yes needs "
			          "pop3d_tls_cert_file");
		if (params->pop3d_tls_auth_only)
			log_warn("no pop3d_tls_cert_file and "
			         "pop3d_tls_auth_only = yes: nobody can log "
			         "in");
		return;
	}
	struct tls_server_config tc = {
	        .cert_file = params->pop3d_tls_cert_file,
	        .key_file = params->pop3d_tls_key_file,
	        .protocols = params->pop3d_tls_protocols,
	        .ticket_key_file = params->tls_session_ticket_keyfile,
	        .ticket_lifetime = params->smtpd_tls_session_cache_timeout,
	};
	struct err e;
	cfg.tls = tls_server_ctx_new(&tc, &e);
	if (!cfg.tls)
		log_fatal("TLS: %s", e.msg);
}

/* pop3d_expire: "NEVER" or a number of days (RFC 2449 6.7); "0" means
 * retrieved messages go at QUIT. Anything else is not advertised. */
static void expire_setup(void)
{
	const char *x = params->pop3d_expire;
	uint64_t days;
	if (!*x)
		return;
	if (str_eq_nocase(x, "NEVER")) {
		cfg.expire = "NEVER";
		return;
	}
	if (parse_uint(x, 0, 100000, &days) < 0) {
		log_warn("pop3d_expire: \"%s\" is neither NEVER nor a number "
		         "of days; not advertised",
		         x);
		return;
	}
	cfg.expire = x;
	cfg.expire_retrieved = days == 0;
}

static void pop3d_init(struct event_loop *loop)
{
	(void)loop;
	struct err e;
	if (account_open(&cfg.accounts, params->account_database,
	                 ACCOUNT_RDONLY, &e) < 0)
		log_fatal("accounts: %s", e.msg);
	/* Space-separated, as sasl_server_setup() takes them. */
	struct buf mechs;
	buf_init(&mechs, 1024);
	for (size_t i = 0; i < params->pop3d_sasl_mechanisms.n; i++)
		if (buf_printf(&mechs, "%s%s", i ? " " : "",
		               params->pop3d_sasl_mechanisms.v[i]) < 0)
			log_fatal("pop3d_sasl_mechanisms: too long");
	if (sasl_server_setup(cfg.accounts, buf_cstr(&mechs), &e) < 0)
		log_fatal("SASL: %s", e.msg);
	buf_deinit(&mechs);
	expire_setup();
	pop3d_session_configure(&cfg);
}

static void pop3d_exit(void)
{
	sasl_server_cleanup();
	account_close(&cfg.accounts);
	anvil_close(&cfg.clients);
	tls_ctx_free(&cfg.tls);
}

static const struct service_def pop3d_def = {
        .name = "pop3d",
        .mode = SERVICE_ONE_CLIENT,
        .user = SERVICE_USER_VIRTUAL,
        .init_privileged = pop3d_init_privileged,
        .init = pop3d_init,
        .accept = pop3d_session_run,
        .exit_hook = pop3d_exit,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &pop3d_def);
}
