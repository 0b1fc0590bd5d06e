/* SPDX-License-Identifier: MIT */
/*
 * smtpd.c - the SMTP server: main() and the service definition
 *
 * One client per process, synchronous, like Postfix's smtpd (the service
 * skeleton accepts; smtpd_session.c serves). As root it reads the TLS key
 * and opens the per-client table all smtpd processes share
 * (queue_directory/pid/smtpd.clients, common/anvil.h: sessions and recent
 * AUTH failures per client address); after the drop it opens the lookup
 * tables, the account map and Cyrus SASL, once per process.
 *
 * The same program is the pickup service (local submission from
 * sendmail, smtpd_pickup.c) when master.cf gives it the argument
 * "pickup": both are the queue's producers, and pickup needs none of the
 * SMTP set-up.
 */
#include <string.h>

#include "common/account.h"
#include "common/anvil.h"
#include "common/log.h"
#include "common/params.h"
#include "common/service.h"
#include "smtpd_cmd.h"
#include "smtpd_pickup.h"
#include "smtpd_rcpt.h"
#include "smtpd_session.h"

static struct account_db *accounts;
static struct anvil *clients;
static bool pickup_mode;

static void smtpd_init_privileged(void)
{
	const struct strv *args = service_args();
	for (size_t i = 0; i < args->n; i++) {
		if (strcmp(args->v[i], "pickup") == 0)
			pickup_mode = true;
		else if (strcmp(args->v[i], "--") != 0)
			log_fatal("unknown argument \"%s\" (expected: pickup)",
				  args->v[i]);
	}
	if (pickup_mode) {
		service_open_log("pickup");
		return;
	}
	smtpd_tls_init_privileged();
	clients = anvil_open_family("smtpd");
}

static void smtpd_init(struct event_loop *loop)
{
	struct err e;
	(void)loop;
	if (pickup_mode)
		return;
	if ((params->virtual_mailbox_domains.n > 0 ||
	     params->smtpd_sasl_auth_enable) &&
	    account_open(&accounts, params->account_database, ACCOUNT_RDONLY,
			 &e) < 0) {
		log_warn("account map %s: %s", params->account_database, e.msg);
		accounts = NULL;
	}
	smtpd_rcpt_init(accounts);
	smtpd_auth_init(accounts);
}

static void smtpd_accept(struct service_client *c)
{
	if (pickup_mode)
		smtpd_pickup_session(c);
	else
		smtpd_session_run(c, clients);
}

static void smtpd_exit(void)
{
	if (pickup_mode)
		return;
	smtpd_auth_deinit();
	smtpd_rcpt_deinit();
	account_close(&accounts);
	anvil_close(&clients);
}

static const struct service_def smtpd_def = {
	.name = "smtpd",
	.mode = SERVICE_ONE_CLIENT,
	.user = SERVICE_USER_MAIL_OWNER,
	.init_privileged = smtpd_init_privileged,
	.init = smtpd_init,
	.accept = smtpd_accept,
	.exit_hook = smtpd_exit,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &smtpd_def);
}
