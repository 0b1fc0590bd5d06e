/* SPDX-License-Identifier: MIT */
/*
 * pop3d_cmd.c - CAPA, QUIT and the TRANSACTION commands
 *
 * STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL (RFC 1939 5, 7), CAPA
 * (RFC 2449 5) in both states, and QUIT with the UPDATE state (RFC 1939
 * 6). Replies follow RFC 1939's wording closely; response codes follow
 * RFC 2449 8 and RFC 3206.
 * Not here: argument and state checks (the command table in
 * pop3d_session.c did them), message encoding (pop3d_send.c), the
 * snapshot and its marks (pop3d_maildrop.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "pop3d_send.h"
#include "pop3d_session.h"

/* Bytes read from a message file at a time. */
#define READ_CHUNK 65536

/* ---- both states -------------------------------------------------------- */

int pop3d_cmd_capa(struct pop3d_session *s, const struct pop3d_args *a)
{
	(void)a;
	bool auth = s->state == POP3D_STATE_AUTH;
	bool login_ok = s->tls || !params->pop3d_tls_auth_only;
	pop3d_ok(s, "Capability list follows.");
	pop3d_line(s, "CAPA");
	pop3d_line(s, "TOP");
	pop3d_line(s, "UIDL");
	pop3d_line(s, "RESP-CODES");
	pop3d_line(s, "AUTH-RESP-CODE");
	pop3d_line(s, "PIPELINING");
	if (auth && login_ok) {
		pop3d_line(s, "USER");
		const char *mechs = sasl_server_session_mechs(s->sasl);
		if (*mechs)
			pop3d_line(s, "SASL %s", mechs);
	}
	/* RFC 2595 4: STLS only where it can be used. */
	if (auth && !s->tls && s->cfg->tls)
		pop3d_line(s, "STLS");
	if (s->cfg->expire)
		pop3d_line(s, "EXPIRE %s", s->cfg->expire);
	if (params->pop3d_login_delay > 0)
		pop3d_line(s, "LOGIN-DELAY %ld", params->pop3d_login_delay);
	pop3d_line(s, "IMPLEMENTATION %s", params->mail_name);
	pop3d_end(s);
	return 0;
}

int pop3d_cmd_quit(struct pop3d_session *s, const struct pop3d_args *a)
{
	(void)a;
	s->quit = true;
	s->end_reason = "QUIT";
	if (s->state == POP3D_STATE_AUTH) {
		pop3d_ok(s, "Bye.");
		return 0;
	}
	/* The UPDATE state (RFC 1939 6): only a QUIT gets here. */
	size_t removed = 0;
	struct err e;
	if (pop3d_maildrop_commit(s->md, s->cfg->expire_retrieved, &removed,
	                          &e) < 0) {
		log_error("%s: user=<%s>: removing messages: %s", s->namaddr,
		          s->login, e.msg);
		pop3d_err(s, "SYS/TEMP", "Some deleted messages not removed.");
		return -1;
	}
	s->ndele_applied = removed;
	size_t left = s->md->count - removed;
	if (left == 0)
		pop3d_ok(s, "Logging out (maildrop empty).");
	else
		pop3d_ok(s, "Logging out (%zu messages left).", left);
	return 0;
}

/* ---- message arguments ------------------------------------------------- */

/* The message named by argument i, or NULL after answering -ERR. */
static struct pop3d_msg *msg_arg(struct pop3d_session *s,
                                 const struct pop3d_args *a, size_t i)
{
	uint64_t n;
	bool deleted;
	if (!pop3d_msgno_parse(a->argv[i], a->argl[i], &n)) {
		pop3d_err(s, NULL, "Invalid message number.");
		return NULL;
	}
	struct pop3d_msg *m = pop3d_maildrop_msg(s->md, n, &deleted);
	if (!m) {
		if (deleted)
			pop3d_err(s, NULL, "Message %" PRIu64 " is deleted.",
			          n);
		else
			pop3d_err(s, NULL, "No such message.");
	}
	return m;
}

static uint64_t msg_number(const struct pop3d_session *s,
                           const struct pop3d_msg *m)
{
	return (uint64_t)(m - s->md->msgs) + 1;
}

/* ---- listings ------------------------------------------------------------ */

int pop3d_cmd_stat(struct pop3d_session *s, const struct pop3d_args *a)
{
	(void)a;
	const struct pop3d_maildrop *md = s->md;
	pop3d_ok(s, "%zu %" PRIu64, md->count - md->ndeleted,
	         md->size - md->deleted_size);
	return 0;
}

int pop3d_cmd_list(struct pop3d_session *s, const struct pop3d_args *a)
{
	const struct pop3d_maildrop *md = s->md;
	if (a->argc == 1) {
		const struct pop3d_msg *m = msg_arg(s, a, 0);
		if (!m)
			return -1;
		pop3d_ok(s, "%" PRIu64 " %" PRIu64, msg_number(s, m), m->vsize);
		return 0;
	}
	pop3d_ok(s, "%zu messages (%" PRIu64 " octets)",
	         md->count - md->ndeleted, md->size - md->deleted_size);
	for (size_t i = 0; i < md->count; i++)
		if (!md->msgs[i].deleted)
			pop3d_line(s, "%zu %" PRIu64, i + 1, md->msgs[i].vsize);
	pop3d_end(s);
	return 0;
}

int pop3d_cmd_uidl(struct pop3d_session *s, const struct pop3d_args *a)
{
	const struct pop3d_maildrop *md = s->md;
	char id[POP3D_UIDL_MAX];
	if (a->argc == 1) {
		const struct pop3d_msg *m = msg_arg(s, a, 0);
		if (!m)
			return -1;
		pop3d_maildrop_uidl(md, m, id, sizeof(id));
		pop3d_ok(s, "%" PRIu64 " %s", msg_number(s, m), id);
		return 0;
	}
	pop3d_ok(s, "Unique-ID listing follows.");
	for (size_t i = 0; i < md->count; i++) {
		if (md->msgs[i].deleted)
			continue;
		pop3d_maildrop_uidl(md, &md->msgs[i], id, sizeof(id));
		pop3d_line(s, "%zu %s", i + 1, id);
	}
	pop3d_end(s);
	return 0;
}

/* ---- marks --------------------------------------------------------------- */

int pop3d_cmd_dele(struct pop3d_session *s, const struct pop3d_args *a)
{
	struct pop3d_msg *m = msg_arg(s, a, 0);
	if (!m)
		return -1;
	(void)pop3d_maildrop_mark(s->md, m);
	pop3d_ok(s, "Message %" PRIu64 " deleted.", msg_number(s, m));
	return 0;
}

int pop3d_cmd_rset(struct pop3d_session *s, const struct pop3d_args *a)
{
	(void)a;
	pop3d_maildrop_unmark_all(s->md);
	pop3d_ok(s, "Maildrop has %zu messages (%" PRIu64 " octets).",
	         s->md->count, s->md->size);
	return 0;
}

int pop3d_cmd_noop(struct pop3d_session *s, const struct pop3d_args *a)
{
	(void)a;
	pop3d_ok(s, "Still here.");
	return 0;
}

/* ---- RETR and TOP -------------------------------------------------------- */

static ssize_t read_some(int fd, char *p, size_t n)
{
	ssize_t r;
	do
		r = read(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * Sends message m (whole, or TOP's part). The first piece is read before
 * "+OK" so that a missing or unreadable file still gets an -ERR; a read
 * error after that can only end the session (the client must not take a
 * cut message for a whole one).
 */
static int send_msg(struct pop3d_session *s, struct pop3d_msg *m, bool top,
                    uint64_t lines)
{
	static char chunk[READ_CHUNK];
	int fd;
	struct err e;
	int rc = pop3d_maildrop_open_msg(s->md, m, &fd, &e);
	if (rc == 0) {
		pop3d_err(s, NULL, "Message was removed by another client.");
		return -1;
	}
	if (rc < 0) {
		log_error("%s: user=<%s>: %s", s->namaddr, s->login, e.msg);
		pop3d_err(s, "SYS/TEMP", "Unable to read the message.");
		return -1;
	}
	ssize_t r = read_some(fd, chunk, sizeof(chunk));
	if (r < 0) {
		log_error("%s: user=<%s>: read uid %" PRIu32 ": %s", s->namaddr,
		          s->login, m->uid, strerror(errno));
		(void)close(fd);
		pop3d_err(s, "SYS/TEMP", "Unable to read the message.");
		return -1;
	}
	if (top)
		pop3d_ok(s, "Top of message follows.");
	else
		pop3d_ok(s, "%" PRIu64 " octets", m->vsize);
	struct pop3d_send ps;
	pop3d_send_init(&ps, top, lines);
	while (r > 0 && !ps.done) {
		buf_reset(&s->out);
		(void)pop3d_send_chunk(&ps, chunk, (size_t)r, &s->out);
		if (stream_write(s->st, s->out.data, s->out.len) < 0)
			break;
		if (!ps.done)
			r = read_some(fd, chunk, sizeof(chunk));
	}
	int saved = errno;
	(void)close(fd);
	if (stream_error(s->st) != STREAM_OK) {
		pop3d_session_stream_failed(s);
		return -1;
	}
	if (r < 0) {
		log_error("%s: user=<%s>: read uid %" PRIu32 ": %s; closing",
		          s->namaddr, s->login, m->uid, strerror(saved));
		s->end_reason = "read error";
		s->quit = true;
		return -1;
	}
	buf_reset(&s->out);
	pop3d_send_finish(&ps, &s->out);
	(void)stream_write(s->st, s->out.data, s->out.len);
	s->sent += ps.octets;
	if (!top) {
		m->retrieved = true;
		if (ps.octets != m->vsize)
			log_warn("user=<%s>: uid %" PRIu32 " sent %" PRIu64
			         " octets, index says %" PRIu64,
			         s->login, m->uid, ps.octets, m->vsize);
	}
	return 0;
}

int pop3d_cmd_retr(struct pop3d_session *s, const struct pop3d_args *a)
{
	struct pop3d_msg *m = msg_arg(s, a, 0);
	if (!m || send_msg(s, m, false, 0) < 0)
		return -1;
	s->nretr++;
	return 0;
}

int pop3d_cmd_top(struct pop3d_session *s, const struct pop3d_args *a)
{
	struct pop3d_msg *m = msg_arg(s, a, 0);
	if (!m)
		return -1;
	uint64_t lines;
	if (!pop3d_msgno_parse(a->argv[1], a->argl[1], &lines)) {
		pop3d_err(s, NULL, "Invalid number of lines.");
		return -1;
	}
	if (send_msg(s, m, true, lines) < 0)
		return -1;
	s->ntop++;
	return 0;
}
