/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_SESSION_H
#define POSTHORN_SMTPD_SMTPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/anvil.h"
#include "common/buf.h"
#include "common/queue_env.h"
#include "common/service.h"
#include "smtpd_addr.h"
#include "smtpd_data.h"
#include "smtpd_params.h"
#include "smtpd_rcpt.h"

/*
 * One SMTP session (one client, one process at a time): the connection,
 * what the client said about itself, its counters, and the current mail
 * transaction. smtpd_session.c runs the command loop and owns the state
 * changes; the smtpd_cmd_*.c files implement the commands against this
 * struct.
 *
 * States (RFC 5321 4.1.4 ordering; one function changes them):
 *   GREET  connected (or just after STARTTLS), no HELO/EHLO yet
 *   READY  HELO/EHLO done, no transaction
 *   MAIL   MAIL accepted, no recipient accepted yet
 *   RCPT   at least one recipient accepted (DATA/BDAT allowed)
 * A transaction (struct smtpd_tx) lives from MAIL until the message is
 * queued, refused, or RSET/HELO/EHLO/STARTTLS ends it.
 */
enum smtpd_state {
	SMTPD_STATE_GREET = 0x1,
	SMTPD_STATE_READY = 0x2,
	SMTPD_STATE_MAIL = 0x4,
	SMTPD_STATE_RCPT = 0x8,
};
#define SMTPD_STATE_ANY 0xf

/* Commands, for the dispatch table and the disconnect statistics. */
enum smtpd_cmd_id {
	SMTPD_CMD_HELO,
	SMTPD_CMD_EHLO,
	SMTPD_CMD_STARTTLS,
	SMTPD_CMD_AUTH,
	SMTPD_CMD_MAIL,
	SMTPD_CMD_RCPT,
	SMTPD_CMD_DATA,
	SMTPD_CMD_BDAT,
	SMTPD_CMD_RSET,
	SMTPD_CMD_NOOP,
	SMTPD_CMD_VRFY,
	SMTPD_CMD_EXPN,
	SMTPD_CMD_HELP,
	SMTPD_CMD_QUIT,
	SMTPD_CMD_UNKNOWN,
	SMTPD_CMD_COUNT
};

struct queue_file;
struct sasl_server_session;
struct arena;

struct smtpd_tx {
	struct arena *arena; /* strings and the recipient array */
	char *sender;        /* external form, "" for <> */
	struct smtpd_addr sender_addr;
	struct smtpd_mail_params mp;
	struct queue_rcpt *rcpts;
	size_t nrcpt, cap;
	unsigned rcpt_tried; /* RCPT commands in this transaction */
	unsigned overshoot;  /* RCPTs refused for the recipient limit */
	struct queue_file *qf; /* created at the first accepted RCPT */
	int64_t arrival_us;
	/* BDAT (RFC 3030): content arrives over several commands. */
	bool bdat;
	struct smtpd_data data;
};

struct smtpd_session {
	struct stream *st;
	struct service_client *client;
	/* The table shared by all smtpd processes (NULL: limits off):
	 * sessions and recent AUTH failures per client address. */
	struct anvil *clients;
	struct anvil_key client_key; /* addr's key in it */
	int clients_slot;            /* this session's slot, or -1 */
	char addr[64];      /* client address */
	char name[256];     /* verified host name, or "unknown" */
	char namaddr[330];  /* "name[addr]" for the log */
	char helo[256];     /* "" until HELO/EHLO */
	bool esmtp;         /* EHLO (not HELO) was used */
	bool mynetworks;    /* client in mynetworks */
	enum smtpd_bare_mode bare_mode; /* after the exclusions */
	enum smtpd_state state;
	const char *where; /* the last command, "CONNECT", "DATA" ... */
	unsigned ok[SMTPD_CMD_COUNT], total[SMTPD_CMD_COUNT];
	int errors, junk;
	bool quit; /* leave after this command */
	/* TLS (smtpd_cmd_tls.c) */
	bool tls;           /* the stream is encrypted */
	bool tls_required;  /* smtpd_tls_security_level = encrypt */
	unsigned tls_bits;
	/* AUTH (smtpd_cmd_auth.c) */
	struct sasl_server_session *sasl;
	char *sasl_user;    /* canonical account, NULL until AUTH */
	char sasl_mech[32];
	unsigned auth_failures;
	struct smtpd_tx tx;
	struct buf line;    /* the current command line */
	struct buf out;     /* stored bytes on their way to the file */
	uint64_t data_bytes; /* content bytes of the current DATA/BDAT */
};

/* Serves one client (from the service_def accept hook); clients is the
 * shared per-client table, or NULL. */
void smtpd_session_run(struct service_client *c, struct anvil *clients);

/*
 * Replies: "code dsn text" (dsn NULL: none). A 4xx/5xx reply counts as
 * an error (RFC 5321 has no such notion: Postfix's smtpd_*_error_limit):
 * past smtpd_soft_error_limit each one is delayed by
 * smtpd_error_sleep_time. Output is buffered; the stream sends it before
 * it waits for input (RFC 2920 batching).
 */
void smtpd_reply(struct smtpd_session *s, int code, const char *dsn,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same, but not counted as an error (a tolerated refusal). */
void smtpd_reply_free(struct smtpd_session *s, int code, const char *dsn,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* One line of a multi-line reply ("250-..." unless last). */
void smtpd_reply_part(struct smtpd_session *s, int code, bool last,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A policy refusal: the reply, plus Postfix's "reject:" log line
 * ("NOQUEUE: reject: RCPT from host[addr]: 550 5.1.1 ...; from=<>
 * to=<> proto=ESMTP helo=<>"). from: the sender, or NULL for the
 * transaction's (if any); to may be NULL. */
void smtpd_reject(struct smtpd_session *s, const struct smtpd_verdict *v,
		  const char *from, const char *to);

/* The one place the state changes. */
void smtpd_state_set(struct smtpd_session *s, enum smtpd_state st);
/* Ends the transaction: aborts an unfinished queue file, frees its
 * memory; the state drops to READY (GREET if no HELO yet). */
void smtpd_tx_reset(struct smtpd_session *s);
/* What the checks of smtpd_rcpt.h need to know, filled from s. */
void smtpd_who(const struct smtpd_session *s, struct smtpd_who *w);
/* RFC 3848 protocol name: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, and the
 * UTF8SMTP... forms when the transaction uses SMTPUTF8. */
const char *smtpd_protocol(const struct smtpd_session *s);
/* The queue id for log lines: the file's, or "NOQUEUE". */
const char *smtpd_queue_id(const struct smtpd_session *s);
/* Reports a broken stream ("timeout after DATA (1234 bytes) from
 * host[addr]") with the 421 reply where one can still be sent, and
 * sets s->quit. */
void smtpd_stream_failed(struct smtpd_session *s);

#endif
