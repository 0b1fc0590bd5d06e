/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_POP3D_POP3D_SESSION_H
#define POSTHORN_POP3D_POP3D_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/account.h"
#include "common/anvil.h"
#include "common/buf.h"
#include "common/sasl_server.h"
#include "common/service.h"
#include "common/stream.h"
#include "common/tls.h"
#include "pop3d_cmd.h"
#include "pop3d_maildrop.h"

/*
 * One POP3 session (RFC 1939): the connection, the state, the login, the
 * maildrop, the counters for the log. pop3d_session.c runs it: greeting,
 * command loop, dispatch through the command table, limits, timeouts.
 * The command handlers (pop3d_auth.c, pop3d_cmd.c) reply through the
 * helpers below and change state only through pop3d_session_state().
 */

/* States (RFC 1939 section 3), as bits so the command table can name
 * sets of them. UPDATE is not a state a command can find the session in:
 * QUIT enters and leaves it. */
enum pop3d_state {
	POP3D_STATE_AUTH = 0x1,  /* AUTHORIZATION */
	POP3D_STATE_TRANS = 0x2, /* TRANSACTION */
};

/* What the process holds for every session (set by pop3d.c at start). */
struct pop3d_config {
	struct tls_ctx *tls;         /* NULL: no STLS, no pop3s */
	struct account_db *accounts; /* the account map (read-only) */
	bool expire_retrieved;       /* pop3d_expire is "0" */
	const char *expire;          /* EXPIRE capability value or NULL */
	struct anvil *clients; /* sessions, failures per address; NULL: off */
};

struct pop3d_session {
	const struct pop3d_config *cfg;
	struct service_client *client;
	struct stream *st;
	enum pop3d_state state;
	char addr[64];    /* client address (IPv4 without ::ffff:) */
	char laddr[64];   /* our address */
	char namaddr[80]; /* "unknown[addr]" for Postfix-shaped lines */
	struct anvil_key client_key; /* addr in cfg->clients */
	int clients_slot;            /* this session's slot there, or -1 */
	bool tls;         /* the channel is encrypted */
	unsigned tls_bits;
	struct buf line; /* the current command line */
	struct pop3d_args args;
	const char *where; /* the command being served, for the log */

	/* AUTHORIZATION */
	struct sasl_server_session *sasl;
	char user[ACCOUNT_ADDR_MAX + 1]; /* from USER, until PASS */
	bool user_given; /* the previous command was a good USER */
	unsigned auth_failures;

	/* TRANSACTION */
	char login[ACCOUNT_ADDR_MAX + 1]; /* the authenticated account */
	const char *method;               /* "USER" or a SASL mechanism */
	struct pop3d_maildrop *md;
	struct buf out; /* encoded message bytes on their way out */

	/* limits and counters */
	uint64_t commands;      /* commands read */
	uint64_t command_limit; /* pop3d_command_limit (+ 4 per message) */
	unsigned errors;        /* -ERR replies */
	uint64_t nretr, ntop, ndele_applied;
	uint64_t sent; /* message octets sent by RETR and TOP */
	uint32_t count[POP3D_CMD_COUNT];    /* per command, for the log */
	uint32_t count_ok[POP3D_CMD_COUNT]; /* of which answered +OK */
	bool quit;              /* end the session after this command */
	const char *end_reason; /* why it ended, for the logout line */
};

/* Process-wide setup: the configuration every session uses. cfg must
 * outlive every session. */
void pop3d_session_configure(const struct pop3d_config *cfg);

/* Serves one client on c->fd until it leaves (the skeleton's accept
 * hook). Blocks: one client per process. */
void pop3d_session_run(struct service_client *c);

/* "+OK text" CRLF. Buffered until the session waits for input. */
void pop3d_ok(struct pop3d_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* "-ERR [code] text" CRLF (code NULL: none; RFC 2449 8, RFC 3206);
 * counts toward pop3d_error_limit. */
void pop3d_err(struct pop3d_session *s, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* A line of a multi-line response; dot-stuffed when it starts with ".". */
void pop3d_line(struct pop3d_session *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* The end of a multi-line response: ".". */
void pop3d_end(struct pop3d_session *s);

/* Moves the session to state st (logged at -v 2). */
void pop3d_session_state(struct pop3d_session *s, enum pop3d_state st);

/*
 * Reads the next client line (an AUTH response) into s->line without its
 * terminator, max bytes at most with it, under pop3d_timeout. 1 read,
 * 0 the line was too long (already answered with -ERR), -1 the session
 * must end (logged; s->quit set).
 */
int pop3d_session_read_line(struct pop3d_session *s, size_t max);

/*
 * Starts TLS on the connection (STLS after its +OK, or at once for
 * pop3s), logs the result in Postfix's words, and tells SASL about the
 * channel. 0, or -1 when the session must end (logged, s->quit set).
 * In pop3d_auth.c.
 */
int pop3d_tls_start(struct pop3d_session *s);

/*
 * Completes a login as the canonical account address user with method
 * (for the log): opens and locks the maildrop and enters TRANSACTION,
 * answering +OK, or answers -ERR [IN-USE] / [SYS/TEMP] and stays in
 * AUTHORIZATION. 0 or -1 as a handler. In pop3d_auth.c.
 */
int pop3d_login(struct pop3d_session *s, const char *user, const char *method);

/* Reports a failed stream (timeout, lost connection, TLS error) in the
 * log and ends the session. */
void pop3d_session_stream_failed(struct pop3d_session *s);

#endif
