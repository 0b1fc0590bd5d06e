/* SPDX-License-Identifier: MIT */
/*
 * imapd.c - the IMAP4rev1 server (RFC 3501): process setup
 *
 * One process serves one client at a time (SERVICE_ONE_CLIENT), as the
 * virtual mailbox owner, never root. As root it loads the TLS certificate
 * and opens the per-client table all imapd processes share
 * (queue_directory/pid/imapd.clients, common/anvil.h: sessions per
 * address and per user, recent login failures per address); after the
 * drop it opens the account map, sets up SASL and tells the mailbox store
 * how to cache FETCH data for new messages. imapd_session.c does the
 * rest.
 */
#include "common/account.h"
#include "common/anvil.h"
#include "common/imap_struct.h"
#include "common/log.h"
#include "common/mbox.h"
#include "common/mime.h"
#include "common/params.h"
#include "common/sasl_server.h"
#include "common/service.h"
#include "common/tls.h"
#include "imapd/imapd_session.h"

static struct imapd_server server;

/* The mailbox store calls this for every message added (APPEND, COPY
 * keeps the blob): ENVELOPE/BODYSTRUCTURE computed once. */
static int cache_builder(const void *msg, size_t len, struct buf *out)
{
	struct mime_msg *m = mime_parse(msg, len);
	int rc = imap_struct_cache_build(out, m);
	mime_free(&m);
	return rc;
}

static void imapd_init_privileged(void)
{
	struct err e;
	if (params->imapd_tls_cert_file[0]) {
		struct tls_server_config cfg = {
		        .cert_file = params->imapd_tls_cert_file,
		        .key_file = params->imapd_tls_key_file,
		        .protocols = params->imapd_tls_protocols,
		        .ticket_key_file = params->tls_session_ticket_keyfile,
		        .ticket_lifetime =
		                params->smtpd_tls_session_cache_timeout,
		};
		server.tls = tls_server_ctx_new(&cfg, &e);
		if (!server.tls)
			log_warn("TLS disabled: %s", e.msg);
	}
	if (params->imapd_tls_wrappermode && !server.tls)
		log_fatal("imapd_tls_wrappermode = yes needs "
		          "imapd_tls_cert_file");
	server.clients = anvil_open_family("imapd");
}

static void imapd_init(struct event_loop *loop)
{
	(void)loop;
	struct err e;
	if (account_open(&server.accounts, params->account_database,
	                 ACCOUNT_RDONLY, &e) < 0)
		log_fatal("account map: %s", e.msg);
	struct buf mechs;
	buf_init(&mechs, 1024);
	for (size_t i = 0; i < params->imapd_sasl_mechanisms.n; i++)
		buf_printf(&mechs, "%s%s", i ? " " : "",
		           params->imapd_sasl_mechanisms.v[i]);
	if (sasl_server_setup(server.accounts, buf_cstr(&mechs), &e) < 0)
		log_fatal("SASL: %s", e.msg);
	buf_deinit(&mechs);
	server.line_max = (size_t)params->imapd_line_length_limit;
	server.literal_max = (size_t)params->imapd_literal_size_limit;
	server.max_depth = (unsigned)params->imapd_max_nesting;
	mbox_set_cache_builder(cache_builder, IMAP_STRUCT_CACHE_VERSION);
}

static void imapd_accept(struct service_client *c)
{
	imapd_session_run(&server, c);
}

static void imapd_exit(void)
{
	sasl_server_cleanup();
	account_close(&server.accounts);
	anvil_close(&server.clients);
	tls_ctx_free(&server.tls);
}

static const struct service_def imapd_def = {
        .name = "imapd",
        .mode = SERVICE_ONE_CLIENT,
        .user = SERVICE_USER_VIRTUAL,
        .init_privileged = imapd_init_privileged,
        .init = imapd_init,
        .accept = imapd_accept,
        .exit_hook = imapd_exit,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &imapd_def);
}
