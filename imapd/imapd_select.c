/* SPDX-License-Identifier: MIT */
/*
 * imapd_select.c - selecting a folder, leaving it, expunging, waiting
 *
 * SELECT and EXAMINE (RFC 3501 6.3.1-2) load the view and send its state;
 * CLOSE expunges silently, UNSELECT (RFC 3691) does not; EXPUNGE and UID
 * EXPUNGE (RFC 4315) remove \Deleted messages and say so; CHECK and NOOP
 * just let the untagged updates through; IDLE (RFC 2177) waits on the
 * client and on the folder's change watch at once, pushing updates as
 * they happen, until DONE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/str.h"
#include "imapd/imapd_seqset.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_view.h"

/* IDLE sends "* OK Still here" this often, so NAT boxes and clients see
 * a live connection. */
#define IDLE_KEEPALIVE_MS (2 * 60 * 1000)

static void do_select(struct imapd_session *s, struct imapd_cmd *c,
                      bool readonly)
{
	struct imapd_args *a = &c->args;
	struct imapd_str raw;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &raw) < 0)
		return imapd_cmd_syntax(c, s);
	bool condstore = false, qresync = false, first = true;
	struct imapd_qresync q;
	if (imapd_args_take(a, ' ')) {
		/* RFC 4466 select parameters: CONDSTORE (RFC 7162 3.1.8),
		 * QRESYNC (3.2.5, only once enabled). */
		struct imapd_str w;
		if (imapd_args_open(a) < 0)
			return imapd_cmd_syntax(c, s);
		while (!imapd_args_take(a, ')')) {
			if ((!first && imapd_args_sp(a) < 0) ||
			    imapd_args_atom(a, &w) < 0)
				return imapd_cmd_syntax(c, s);
			first = false;
			if (str_eq_nocase(w.p, "CONDSTORE")) {
				condstore = true;
			} else if (str_eq_nocase(w.p, "QRESYNC") &&
			           (s->enabled & IMAPD_EXT_QRESYNC)) {
				if (imapd_args_sp(a) < 0 ||
				    imapd_qresync_parse(a, &q) < 0)
					return imapd_cmd_syntax(c, s);
				qresync = true;
			} else {
				return imapd_cmd_bad(c, s,
				                     "Unknown SELECT "
				                     "parameter %s",
				                     w.p);
			}
		}
	}
	if (imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	const char *name = imapd_folder_name(s, c, &raw);
	if (s->state == IMAPD_STATE_SELECTED) {
		imapd_unselect(s);
		/* RFC 7162 3.2.11: where the old folder's responses end. */
		if (s->enabled & IMAPD_EXT_QRESYNC)
			imapd_untagged(s,
			               "OK [CLOSED] Previous mailbox closed.");
	}
	if (!name)
		return;
	struct err e;
	int rc = imapd_view_open(s->mb, name, readonly, &s->view, &e);
	if (rc == 0)
		return imapd_cmd_no(c, s,
		                    "[NONEXISTENT] Mailbox doesn't "
		                    "exist: %s",
		                    raw.p);
	if (rc < 0) {
		log_error("user=<%s>: select %s: %s", s->user, name, e.msg);
		return imapd_cmd_no(c, s,
		                    "[SERVERBUG] Internal error "
		                    "occurred.");
	}
	s->state = IMAPD_STATE_SELECTED;
	if (condstore)
		s->enabled |= IMAPD_EXT_CONDSTORE;
	struct imapd_view *v = s->view;
	imapd_view_send_flags(s);
	imapd_untagged(s, "%zu EXISTS", v->n);
	imapd_untagged(s, "%zu RECENT", v->nrecent);
	for (size_t i = 0; i < v->n; i++) {
		if (!(v->m[i].flags & MBOX_F_SEEN)) {
			imapd_untagged(s, "OK [UNSEEN %zu] First unseen.",
			               i + 1);
			break;
		}
	}
	imapd_untagged(s, "OK [UIDVALIDITY %u] UIDs valid.", v->uidvalidity);
	imapd_untagged(s, "OK [UIDNEXT %u] Predicted next UID.", v->uidnext);
	/* RFC 7162 3.1.2.1: mod-sequences are persistent in every folder. */
	imapd_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest",
	               (unsigned long long)imapd_view_highestmodseq(v));
	if (qresync)
		imapd_qresync_select(s, &q);
	imapd_cmd_ok(c, s, "[%s] %s completed.",
	             readonly ? "READ-ONLY" : "READ-WRITE",
	             readonly ? "Examine" : "Select");
}

void imapd_cmd_select(struct imapd_session *s, struct imapd_cmd *c)
{
	do_select(s, c, false);
}

void imapd_cmd_examine(struct imapd_session *s, struct imapd_cmd *c)
{
	do_select(s, c, true);
}

/*
 * Expunges the \Deleted messages (of those in uids when uids is set).
 * Marks them in the view; the caller sends or drops the EXPUNGEs. 0, or
 * -1 (logged).
 */
static int expunge_deleted(struct imapd_session *s,
                           const struct imapd_seqset *uids)
{
	struct imapd_view *v = s->view;
	uint32_t *list = arena_calloc(s->arena, v->n ? v->n : 1, sizeof(*list));
	size_t n = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct imapd_msg *m = &v->m[i];
		if ((m->flags & MBOX_F_DELETED) &&
		    !(m->state & IMAPD_MSG_EXPUNGED) &&
		    (!uids || imapd_seqset_has(uids, m->uid)))
			list[n++] = m->uid;
	}
	if (n == 0)
		return 0;
	uint32_t *done = arena_calloc(s->arena, n, sizeof(*done));
	size_t ndone = 0;
	struct err e;
	if (mbox_expunge(v->f, list, n, done, &ndone, &e) < 0) {
		log_error("user=<%s>: expunge: %s", s->user, e.msg);
		return -1;
	}
	for (size_t k = 0; k < ndone; k++) {
		size_t i = imapd_view_find(v, done[k]);
		if (i != SIZE_MAX && !(v->m[i].state & IMAPD_MSG_EXPUNGED)) {
			v->m[i].state |= IMAPD_MSG_EXPUNGED;
			v->nexpunged++;
		}
	}
	s->expunged += ndone;
	return 0;
}

void imapd_cmd_close(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
	/* RFC 3501 6.4.2: expunge without EXPUNGE responses. */
	if (!s->view->readonly)
		(void)expunge_deleted(s, NULL);
	imapd_unselect(s);
}

void imapd_cmd_unselect(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
	imapd_unselect(s);
}

void imapd_cmd_expunge(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_seqset set, norm;
	if (c->uid) {
		if (imapd_args_sp(a) < 0 || imapd_args_seqset(a, &set) < 0)
			return imapd_cmd_syntax(c, s);
		struct imapd_view *v = s->view;
		imapd_seqset_resolve(&set, v->n ? v->m[v->n - 1].uid : 0,
		                     s->arena, &norm);
	}
	if (imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	if (s->view->readonly)
		return imapd_cmd_no(c, s, "[READ-ONLY] Mailbox is read-only.");
	if (expunge_deleted(s, c->uid ? &norm : NULL) < 0)
		return imapd_cmd_no(c, s,
		                    "[SERVERBUG] Internal error "
		                    "occurred.");
	imapd_view_send_expunges(s);
}

void imapd_cmd_check(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
}

void imapd_cmd_noop(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
}

/* Without a change watch (inotify refused), IDLE looks this often. */
#define IDLE_POLL_MS 5000

/* Ends IDLE and the session: the reply was sent or cannot be. */
static void idle_end(struct imapd_session *s, struct imapd_cmd *c,
                     const char *bye)
{
	if (bye)
		imapd_untagged(s, "BYE %s", bye);
	s->bye = true;
	c->replied = true;
}

void imapd_cmd_idle(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
	struct err e;
	int fd = -1;
	if (s->view) {
		fd = mbox_watch_open(s->view->f, &e);
		if (fd < 0)
			log_warn("user=<%s>: IDLE without change watch: %s",
			         s->user, e.msg);
	}
	imapd_printf(s, "+ idling\r\n");
	int64_t now = imapd_now_ms();
	int64_t deadline = now + params->imapd_idle_timeout * 1000;
	int64_t next_ping = now + IDLE_KEEPALIVE_MS, next_poll = 0;
	bool look = true;
	for (;;) {
		/* RFC 2177: changes are pushed while the client waits. */
		if (look && s->view && s->state == IMAPD_STATE_SELECTED)
			imapd_view_update(s, true);
		if (s->bye)
			break;
		now = imapd_now_ms();
		if (service_stopping()) {
			idle_end(s, c, "Server shutting down.");
			break;
		}
		if (now >= deadline) {
			idle_end(s, c, "IDLE timed out.");
			break;
		}
		if (now >= next_ping) {
			imapd_untagged(s, "OK Still here");
			next_ping = now + IDLE_KEEPALIVE_MS;
		}
		if (look && fd < 0)
			next_poll = now + IDLE_POLL_MS;
		int64_t wait = next_ping < deadline ? next_ping : deadline;
		wait -= now;
		if (wait > IMAPD_WAIT_SLICE_MS)
			wait = IMAPD_WAIT_SLICE_MS;
		int r = s->in.len > 0
		                ? STREAM_READY_INPUT
		                : stream_wait_readable(s->s, fd, (int)wait);
		if (r < 0) {
			idle_end(s, c, NULL);
			break;
		}
		if (r & STREAM_READY_FD)
			mbox_watch_drain(fd);
		look = (r & STREAM_READY_FD) ||
		       (fd < 0 && imapd_now_ms() >= next_poll);
		if (!(r & STREAM_READY_INPUT))
			continue;
		int rc = imapd_read_command(s, -1);
		if (rc == 0) {
			idle_end(s, c, NULL);
			break;
		}
		if (rc == 1 &&
		    strn_eq_nocase(s->rd.cmd.data, s->rd.cmd.len, "DONE"))
			break;
		if (rc == 1)
			imapd_cmd_bad(c, s, "Expected DONE.");
		else
			c->replied = true; /* the error reply was sent */
		break;
	}
	if (fd >= 0)
		close(fd);
}
