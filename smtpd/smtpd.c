/* SPDX-License-Identifier: MIT */
/*
 * smtpd.c - the SMTP server: main() and the service definition
 *
 * One client per process, synchronous, like Postfix's smtpd (the service
 * skeleton accepts; smtpd_session.c serves). As root it reads the TLS key
 * and opens the shared per-client table; after the drop it opens the
 * lookup tables, the account map and Cyrus SASL, once per process.
 */
#include "common/account.h"
#include "common/log.h"
#include "common/params.h"
#include "common/service.h"
#include "smtpd_cmd.h"
#include "smtpd_conn.h"
#include "smtpd_rcpt.h"
#include "smtpd_session.h"

static struct account_db *accounts;

static void smtpd_init_privileged(void)
{
	smtpd_tls_init_privileged();
	smtpd_conn_open();
}

static void smtpd_init(struct event_loop *loop)
{
	struct err e;
	(void)loop;
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

static void smtpd_exit(void)
{
	smtpd_auth_deinit();
	smtpd_rcpt_deinit();
	account_close(&accounts);
}

static const struct service_def smtpd_def = {
	.name = "smtpd",
	.mode = SERVICE_ONE_CLIENT,
	.user = SERVICE_USER_MAIL_OWNER,
	.init_privileged = smtpd_init_privileged,
	.init = smtpd_init,
	.accept = smtpd_session_run,
	.exit_hook = smtpd_exit,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &smtpd_def);
}
