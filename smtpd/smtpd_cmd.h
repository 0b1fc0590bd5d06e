/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_CMD_H
#define POSTHORN_SMTPD_SMTPD_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "smtpd_session.h"

/*
 * The command handlers, dispatched by smtpd_session.c's table after it
 * checked the state. arg[0..len) is the text after the command name and
 * its space (no CR LF; may be empty). A handler sends its replies and
 * returns 0 when the command succeeded, -1 when it was refused (for the
 * "rcpt=1/2" counts of the disconnect line).
 */
typedef int (*smtpd_cmd_fn)(struct smtpd_session *s, const char *arg,
			    size_t len);

/* smtpd_cmd_basic.c */
int smtpd_cmd_helo(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_ehlo(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_rset(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_noop(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_quit(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_vrfy(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_expn(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_help(struct smtpd_session *s, const char *arg, size_t len);

/* smtpd_cmd_mail.c */
int smtpd_cmd_mail(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_rcpt(struct smtpd_session *s, const char *arg, size_t len);

/* smtpd_cmd_data.c */
int smtpd_cmd_data(struct smtpd_session *s, const char *arg, size_t len);
int smtpd_cmd_bdat(struct smtpd_session *s, const char *arg, size_t len);

/* smtpd_cmd_tls.c */
int smtpd_cmd_starttls(struct smtpd_session *s, const char *arg, size_t len);
/* As root: loads the certificate when TLS is configured. */
void smtpd_tls_init_privileged(void);
/* True when smtpd_tls_security_level requires TLS before mail. */
bool smtpd_tls_required(void);
/* True when STARTTLS can be offered now. */
bool smtpd_tls_offer(const struct smtpd_session *s);
/* Implicit TLS (smtpd_tls_wrappermode): handshake before the greeting.
 * 0, or -1 (logged; the session ends). */
int smtpd_tls_wrapper_start(struct smtpd_session *s);

/* smtpd_cmd_auth.c */
int smtpd_cmd_auth(struct smtpd_session *s, const char *arg, size_t len);
struct account_db;
/* After the privilege drop: Cyrus SASL over the account map. */
void smtpd_auth_init(struct account_db *accounts);
void smtpd_auth_deinit(void);
/* Per session; smtpd_auth_tls() after a TLS handshake. */
void smtpd_auth_session_new(struct smtpd_session *s);
void smtpd_auth_session_free(struct smtpd_session *s);
void smtpd_auth_tls(struct smtpd_session *s);
/* The mechanisms to advertise in EHLO now, or NULL. */
const char *smtpd_auth_mechs(struct smtpd_session *s);

#endif
