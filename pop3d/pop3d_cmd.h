/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_POP3D_POP3D_CMD_H
#define POSTHORN_POP3D_POP3D_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * POP3 commands: their ids, the parsing of a command line, the command
 * table (which states allow a command, what it needs) - these three in
 * pop3d_session.c, which dispatches - and the handlers: TRANSACTION ones
 * in pop3d_cmd.c, AUTHORIZATION ones (USER, PASS, AUTH, APOP, STLS) in
 * pop3d_auth.c.
 */

struct pop3d_session;

enum pop3d_cmd_id {
	POP3D_CMD_USER,
	POP3D_CMD_PASS,
	POP3D_CMD_AUTH,
	POP3D_CMD_APOP,
	POP3D_CMD_STLS,
	POP3D_CMD_CAPA,
	POP3D_CMD_QUIT,
	POP3D_CMD_STAT,
	POP3D_CMD_LIST,
	POP3D_CMD_RETR,
	POP3D_CMD_DELE,
	POP3D_CMD_NOOP,
	POP3D_CMD_RSET,
	POP3D_CMD_TOP,
	POP3D_CMD_UIDL,
	POP3D_CMD_UNKNOWN,
	POP3D_CMD_COUNT,
};

/* RFC 2449 3: a keyword is 3 or 4 characters. No command takes more
 * than POP3D_ARGS_MAX arguments. (RFC 2449's 40-character bound on an
 * argument is not applied: an address in USER, an initial response in
 * AUTH may be longer; pop3d_line_length_limit bounds the line.) */
#define POP3D_KEYWORD_MAX 4
#define POP3D_ARGS_MAX 2

/* A parsed command line; pointers into the line. */
struct pop3d_args {
	const char *keyword;
	size_t keyword_len;
	/* Everything after the keyword and one space (PASS takes it whole:
	 * a password may contain spaces). */
	const char *rest;
	size_t rest_len;
	/* rest split at runs of spaces. */
	size_t argc;
	const char *argv[POP3D_ARGS_MAX];
	size_t argl[POP3D_ARGS_MAX];
	bool too_many; /* more than POP3D_ARGS_MAX arguments */
};

/* Reasons a line is not a command at all. */
enum pop3d_parse_status {
	POP3D_PARSE_OK,
	POP3D_PARSE_EMPTY,   /* nothing but spaces */
	POP3D_PARSE_CONTROL, /* a control character or a non-ASCII byte */
};

/*
 * Splits the line p[0..len) (terminator removed) into keyword, rest and
 * arguments. Does not look the keyword up. Never reads past len.
 */
enum pop3d_parse_status pop3d_args_parse(const char *p, size_t len,
                                         struct pop3d_args *out);

/* Command flags. */
#define POP3D_F_LOGIN                                                          \
	0x1u /* a login: refused before TLS when                               \
	        pop3d_tls_auth_only (RFC 2595 4) */

typedef int (*pop3d_cmd_fn)(struct pop3d_session *s,
                            const struct pop3d_args *a);

struct pop3d_cmd {
	const char *name;
	enum pop3d_cmd_id id;
	pop3d_cmd_fn fn;
	unsigned states;           /* enum pop3d_state bits where it is legal */
	unsigned flags;            /* POP3D_F_* */
	size_t min_args, max_args; /* max SIZE_MAX: the rest of the line
	                              is one argument (PASS) */
};

/* The table entry for keyword k[0..klen) (ASCII case ignored), or NULL. */
const struct pop3d_cmd *pop3d_cmd_lookup(const char *k, size_t klen);
/* Name of a command id, lower case for the log ("retr"). */
const char *pop3d_cmd_log_name(enum pop3d_cmd_id id);

/*
 * Parses a message number argument (RFC 1939: 1..n, no sign). true with
 * *out, false when it is not a number (even one too big to be a message
 * number: "no such message" then follows from the range check).
 */
bool pop3d_msgno_parse(const char *p, size_t len, uint64_t *out);

/* Handlers: 0 answered +OK, -1 answered -ERR. */
int pop3d_cmd_user(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_pass(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_auth(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_apop(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_stls(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_capa(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_quit(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_stat(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_list(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_retr(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_dele(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_noop(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_rset(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_top(struct pop3d_session *s, const struct pop3d_args *a);
int pop3d_cmd_uidl(struct pop3d_session *s, const struct pop3d_args *a);

#endif
