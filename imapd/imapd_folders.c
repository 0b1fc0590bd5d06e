/* SPDX-License-Identifier: MIT */
/*
 * imapd_folders.c - folder names and the commands that manage folders
 *
 * Client names become store names here (modified UTF-7 checked, raw
 * UTF-8 accepted and converted, INBOX in any case made canonical, a
 * trailing separator dropped), and CREATE, DELETE, RENAME (RFC 3501
 * 6.3.3-5, INBOX's special case and hierarchies included), SUBSCRIBE,
 * UNSUBSCRIBE, STATUS and NAMESPACE (RFC 2342) are served. Also the
 * special-use folders (RFC 6154) a new mailbox gets at its first login.
 *
 * The hierarchy separator is "/". Maildir++ needs no parent folders, so
 * CREATE "a/b/c" makes only that folder (RFC 3501 6.3.3 asks for the
 * superiors "needed for the CREATE to succeed": none are), and LIST shows
 * a missing superior as \Noselect \HasChildren, as Dovecot does on the
 * same layout. Synchronisers (offlineimap) rely on that: a real folder
 * "a" would have no maildir of its own on their side.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/str.h"
#include "imapd/imapd_resp.h"
#include "imapd/imapd_session.h"
#include "imapd/imapd_utf7.h"
#include "imapd/imapd_view.h"

/* Marks a mailbox whose special-use folders were made (or that existed
 * before imapd did that): they are made once, never again. */
#define PROVISIONED_FILE "posthorn.imapd-folders"

static const struct {
	const char *name;
	unsigned bit;
} su_names[] = {
        {"\\All", MBOX_SU_ALL},       {"\\Archive", MBOX_SU_ARCHIVE},
        {"\\Drafts", MBOX_SU_DRAFTS}, {"\\Flagged", MBOX_SU_FLAGGED},
        {"\\Junk", MBOX_SU_JUNK},     {"\\Sent", MBOX_SU_SENT},
        {"\\Trash", MBOX_SU_TRASH},
};

unsigned imapd_special_use_bit(const char *name)
{
	for (size_t i = 0; i < sizeof(su_names) / sizeof(su_names[0]); i++)
		if (str_eq_nocase(name, su_names[i].name))
			return su_names[i].bit;
	return 0;
}

int imapd_special_use_format(struct buf *out, unsigned bits, bool lead_sp)
{
	for (size_t i = 0; i < sizeof(su_names) / sizeof(su_names[0]); i++) {
		if (!(bits & su_names[i].bit))
			continue;
		if (buf_printf(out, "%s%s", lead_sp ? " " : "",
		               su_names[i].name) < 0)
			return -1;
		lead_sp = true;
	}
	return 0;
}

const char *imapd_folder_name(struct imapd_session *s, struct imapd_cmd *c,
                              const struct imapd_str *raw)
{
	struct buf b;
	buf_init(&b, MBOX_NAME_MAX * 4);
	bool ascii = true;
	for (size_t i = 0; i < raw->len; i++)
		if ((unsigned char)raw->p[i] >= 0x80)
			ascii = false;
	int rc = ascii ? buf_append(&b, raw->p, raw->len)
	               : imapd_utf8_to_utf7(raw->p, raw->len, &b);
	if (rc < 0 || memchr(raw->p, '\0', raw->len) ||
	    imapd_utf7_check(b.data ? b.data : "", b.len) < 0) {
		buf_deinit(&b);
		imapd_cmd_no(c, s, "[CANNOT] Invalid mailbox name.");
		return NULL;
	}
	char *name = arena_memdup(s->arena, b.data ? b.data : "", b.len);
	size_t len = b.len;
	buf_deinit(&b);
	if (len > 1 && name[len - 1] == '/')
		name[--len] = '\0';
	/* INBOX is case-insensitive, here also as the first level. */
	if (str_prefix_nocase(name, len, "INBOX") &&
	    (len == 5 || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	struct err e;
	if (mbox_name_check(name, &e) < 0) {
		imapd_cmd_no(c, s, "[CANNOT] Invalid mailbox name: %s", e.msg);
		return NULL;
	}
	return name;
}

int imapd_folder_target(struct imapd_session *s, struct imapd_cmd *c,
                        const char *name, const char *raw,
                        struct mbox_folder **out)
{
	struct err e;
	int rc = mbox_folder_open(s->mb, name, out, &e);
	if (rc > 0)
		return 1;
	if (rc == 0) {
		imapd_cmd_no(c, s, "[TRYCREATE] Mailbox doesn't exist: %s",
		             raw);
		return 0;
	}
	log_error("user=<%s>: %s to %s: %s", s->user, c->name, name, e.msg);
	imapd_cmd_no(c, s, "[SERVERBUG] Internal error occurred.");
	return 0;
}

/* The one argument of DELETE, SUBSCRIBE, UNSUBSCRIBE as a store name:
 * NULL with the outcome set when it is malformed or invalid. */
static const char *folder_arg(struct imapd_session *s, struct imapd_cmd *c,
                              struct imapd_str *raw)
{
	struct imapd_args *a = &c->args;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, raw) < 0 ||
	    imapd_args_done(a) < 0) {
		imapd_cmd_syntax(c, s);
		return NULL;
	}
	return imapd_folder_name(s, c, raw);
}

/* CREATE name [(USE (\Sent ...))] (RFC 6154 5.3 CREATE-SPECIAL-USE). */
void imapd_cmd_create(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_str raw, w;
	unsigned su = 0;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &raw) < 0)
		return imapd_cmd_syntax(c, s);
	if (imapd_args_take(a, ' ')) {
		if (imapd_args_open(a) < 0 || imapd_args_atom(a, &w) < 0 ||
		    !str_eq_nocase(w.p, "USE") || imapd_args_sp(a) < 0 ||
		    imapd_args_open(a) < 0)
			return imapd_cmd_syntax(c, s);
		do {
			if (imapd_args_flag(a, false, &w) < 0)
				return imapd_cmd_syntax(c, s);
			unsigned bit = imapd_special_use_bit(w.p);
			if (!bit)
				return imapd_cmd_no(c, s,
				                    "[USEATTR] Unsupported "
				                    "special-use "
				                    "attribute %s",
				                    w.p);
			su |= bit;
		} while (imapd_args_take(a, ' '));
		if (imapd_args_close(a) < 0 || imapd_args_close(a) < 0)
			return imapd_cmd_syntax(c, s);
	}
	if (imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	const char *name = imapd_folder_name(s, c, &raw);
	if (!name)
		return;
	if (strcmp(name, MBOX_INBOX) == 0)
		return imapd_cmd_no(c, s,
		                    "[ALREADYEXISTS] Mailbox already "
		                    "exists.");
	struct err e;
	int rc = mbox_folder_create(s->mb, name, su, &e);
	if (rc == 0)
		return imapd_cmd_no(c, s,
		                    "[ALREADYEXISTS] Mailbox already "
		                    "exists.");
	if (rc < 0)
		return imapd_cmd_no(c, s, "[CANNOT] %s", e.msg);
	imapd_cmd_ok(c, s, "Create completed.");
}

/* Is the selected folder name itself or below it? */
static bool selected_under(struct imapd_session *s, const char *name)
{
	if (!s->view)
		return false;
	const char *sel = mbox_folder_name(s->view->f);
	size_t n = strlen(name);
	return strncmp(sel, name, n) == 0 && (sel[n] == '\0' || sel[n] == '/');
}

void imapd_cmd_delete(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_str raw;
	const char *name = folder_arg(s, c, &raw);
	if (!name)
		return;
	if (strcmp(name, MBOX_INBOX) == 0)
		return imapd_cmd_no(c, s, "[CANNOT] INBOX can't be deleted.");
	if (s->view && strcmp(mbox_folder_name(s->view->f), name) == 0) {
		imapd_unselect(s);
		imapd_untagged(s, "OK [CLOSED] Mailbox deleted.");
	}
	struct err e;
	int rc = mbox_folder_delete(s->mb, name, &e);
	if (rc == 0)
		return imapd_cmd_no(c, s,
		                    "[NONEXISTENT] Mailbox doesn't "
		                    "exist: %s",
		                    raw.p);
	if (rc < 0)
		return imapd_cmd_no(c, s, "[CANNOT] %s", e.msg);
	imapd_cmd_ok(c, s, "Delete completed.");
}

struct sub_rename {
	struct imapd_session *s;
	const char *from;
	struct strv names;
};

static int collect_subs(void *ctx, const char *name)
{
	struct sub_rename *r = ctx;
	size_t n = strlen(r->from);
	if (strncmp(name, r->from, n) == 0 &&
	    (name[n] == '\0' || name[n] == '/'))
		strv_push(&r->names, name);
	return 0;
}

/* Subscriptions follow a renamed folder and its children. */
static void rename_subscriptions(struct imapd_session *s, const char *from,
                                 const char *to)
{
	struct sub_rename r = {s, from, {0}};
	struct err e;
	strv_init(&r.names);
	if (mbox_subscriptions(s->mb, collect_subs, &r, &e) < 0) {
		log_warn("user=<%s>: subscriptions: %s", s->user, e.msg);
		strv_deinit(&r.names);
		return;
	}
	for (size_t i = 0; i < r.names.n; i++) {
		const char *old = r.names.v[i];
		char *new =
		        arena_printf(s->arena, "%s%s", to, old + strlen(from));
		if (mbox_subscribe(s->mb, old, false, &e) < 0 ||
		    mbox_subscribe(s->mb, new, true, &e) < 0)
			log_warn("user=<%s>: subscription %s: %s", s->user, old,
			         e.msg);
	}
	strv_deinit(&r.names);
}

void imapd_cmd_rename(struct imapd_session *s, struct imapd_cmd *c)
{
	struct imapd_args *a = &c->args;
	struct imapd_str rf, rt;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &rf) < 0 ||
	    imapd_args_sp(a) < 0 || imapd_args_astring(a, &rt) < 0 ||
	    imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	const char *from = imapd_folder_name(s, c, &rf);
	if (!from)
		return;
	const char *to = imapd_folder_name(s, c, &rt);
	if (!to)
		return;
	if (strcmp(to, MBOX_INBOX) == 0)
		return imapd_cmd_no(c, s, "[ALREADYEXISTS] INBOX exists.");
	size_t fl = strlen(from);
	if (strcmp(from, MBOX_INBOX) != 0 && strncmp(to, from, fl) == 0 &&
	    to[fl] == '/')
		return imapd_cmd_no(c, s,
		                    "[CANNOT] Can't rename a mailbox "
		                    "under itself.");
	struct mbox_folder *f;
	struct err e;
	int rc = mbox_folder_open(s->mb, to, &f, &e);
	if (rc > 0) {
		mbox_folder_close(&f);
		return imapd_cmd_no(c, s,
		                    "[ALREADYEXISTS] Mailbox already "
		                    "exists.");
	}
	if (strcmp(from, MBOX_INBOX) != 0 && selected_under(s, from)) {
		imapd_unselect(s);
		imapd_untagged(s, "OK [CLOSED] Mailbox renamed.");
	}
	rc = mbox_folder_rename(s->mb, from, to, &e);
	if (rc == 0)
		return imapd_cmd_no(c, s,
		                    "[NONEXISTENT] Mailbox doesn't "
		                    "exist: %s",
		                    rf.p);
	if (rc < 0)
		return imapd_cmd_no(c, s, "[CANNOT] %s", e.msg);
	if (strcmp(from, MBOX_INBOX) != 0)
		rename_subscriptions(s, from, to);
	imapd_cmd_ok(c, s, "Rename completed.");
}

static void do_subscribe(struct imapd_session *s, struct imapd_cmd *c, bool on)
{
	struct imapd_str raw;
	const char *name = folder_arg(s, c, &raw);
	if (!name)
		return;
	struct err e;
	if (mbox_subscribe(s->mb, name, on, &e) < 0)
		return imapd_cmd_no(c, s, "[CANNOT] %s", e.msg);
}

void imapd_cmd_subscribe(struct imapd_session *s, struct imapd_cmd *c)
{
	do_subscribe(s, c, true);
}

void imapd_cmd_unsubscribe(struct imapd_session *s, struct imapd_cmd *c)
{
	do_subscribe(s, c, false);
}

enum {
	ST_MESSAGES = 0x1,
	ST_RECENT = 0x2,
	ST_UIDNEXT = 0x4,
	ST_UIDVALIDITY = 0x8,
	ST_UNSEEN = 0x10,
	ST_SIZE = 0x20,
	ST_HIGHESTMODSEQ = 0x40,
};

void imapd_cmd_status(struct imapd_session *s, struct imapd_cmd *c)
{
	static const struct {
		const char *name;
		unsigned bit;
	} atts[] = {
	        {"MESSAGES", ST_MESSAGES},
	        {"RECENT", ST_RECENT},
	        {"UIDNEXT", ST_UIDNEXT},
	        {"UIDVALIDITY", ST_UIDVALIDITY},
	        {"UNSEEN", ST_UNSEEN},
	        {"SIZE", ST_SIZE},
	        {"HIGHESTMODSEQ", ST_HIGHESTMODSEQ},
	};
	struct imapd_args *a = &c->args;
	struct imapd_str raw, w;
	unsigned want[8], nwant = 0;
	if (imapd_args_sp(a) < 0 || imapd_args_astring(a, &raw) < 0 ||
	    imapd_args_sp(a) < 0 || imapd_args_open(a) < 0)
		return imapd_cmd_syntax(c, s);
	do {
		if (imapd_args_atom(a, &w) < 0)
			return imapd_cmd_syntax(c, s);
		size_t k = 0;
		while (k < sizeof(atts) / sizeof(atts[0]) &&
		       !str_eq_nocase(w.p, atts[k].name))
			k++;
		if (k == sizeof(atts) / sizeof(atts[0]) || nwant >= 8) {
			imapd_args_fail(a, "Invalid status item");
			return imapd_cmd_syntax(c, s);
		}
		want[nwant++] = (unsigned)k;
		if (atts[k].bit == ST_HIGHESTMODSEQ)
			imapd_condstore_enable(s);
	} while (imapd_args_take(a, ' '));
	if (imapd_args_close(a) < 0 || imapd_args_done(a) < 0)
		return imapd_cmd_syntax(c, s);
	const char *name = imapd_folder_name(s, c, &raw);
	if (!name)
		return;
	struct mbox_folder *f;
	struct mbox_status st;
	struct err e;
	int rc = mbox_folder_open(s->mb, name, &f, &e);
	if (rc == 0)
		return imapd_cmd_no(c, s,
		                    "[NONEXISTENT] Mailbox doesn't "
		                    "exist: %s",
		                    raw.p);
	if (rc > 0) {
		rc = mbox_folder_sync(f, 0, NULL, &e) < 0 ||
		                     mbox_folder_status(f, &st, &e) < 0
		             ? -1
		             : 1;
		mbox_folder_close(&f);
	}
	if (rc < 0) {
		log_error("user=<%s>: status %s: %s", s->user, name, e.msg);
		return imapd_cmd_no(c, s,
		                    "[SERVERBUG] Internal error "
		                    "occurred.");
	}
	struct buf b;
	buf_init(&b, 0);
	buf_append_str(&b, "* STATUS ");
	imapd_resp_astring(&b, name, strlen(name));
	buf_append_str(&b, " (");
	for (unsigned i = 0; i < nwant; i++) {
		unsigned long long v = 0;
		switch (atts[want[i]].bit) {
		case ST_MESSAGES:
			v = st.exists;
			break;
		case ST_RECENT:
			v = st.recent;
			break;
		case ST_UIDNEXT:
			v = st.uidnext;
			break;
		case ST_UIDVALIDITY:
			v = st.uidvalidity;
			break;
		case ST_UNSEEN:
			v = st.unseen;
			break;
		case ST_SIZE:
			v = st.vsize;
			break;
		case ST_HIGHESTMODSEQ:
			v = st.highestmodseq;
			break;
		}
		buf_printf(&b, "%s%s %llu", i ? " " : "", atts[want[i]].name,
		           v);
	}
	buf_append_str(&b, ")\r\n");
	imapd_write(s, b.data, b.len);
	buf_deinit(&b);
}

void imapd_cmd_namespace(struct imapd_session *s, struct imapd_cmd *c)
{
	if (imapd_args_done(&c->args) < 0)
		return imapd_cmd_syntax(c, s);
	imapd_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
}

/* ---- special-use folders for new mailboxes ----------------------------- */

static int note_folder(void *ctx, const struct mbox_folder_info *fi)
{
	struct strv *names = ctx;
	if (fi->special_use == 0)
		strv_push(names, fi->name);
	return 0;
}

void imapd_folders_provision(struct imapd_session *s)
{
	char *marker = arena_printf(s->arena, "%s/%s", mbox_path(s->mb),
	                            PROVISIONED_FILE);
	if (access(marker, F_OK) == 0)
		return;
	struct err e;
	struct strv plain; /* existing folders without an attribute */
	strv_init(&plain);
	if (mbox_folder_list(s->mb, note_folder, &plain, &e) < 0) {
		log_warn("user=<%s>: folder list: %s", s->user, e.msg);
		strv_deinit(&plain);
		return;
	}
	const struct strv *l = &params->imapd_special_use_folders;
	for (size_t i = 0; i < l->n; i++) {
		const char *colon = strchr(l->v[i], ':');
		unsigned bit = colon ? imapd_special_use_bit(colon + 1) : 0;
		if (!bit || colon == l->v[i]) {
			log_warn(
			        "imapd_special_use_folders: bad element \"%s\" "
			        "(want Name:\\Attribute)",
			        l->v[i]);
			continue;
		}
		char *name = arena_memdup(s->arena, l->v[i],
		                          (size_t)(colon - l->v[i]));
		int rc = mbox_folder_create(s->mb, name, bit, &e);
		if (rc == 0 && strv_contains_nocase(&plain, name))
			rc = mbox_folder_set_special_use(s->mb, name, bit, &e);
		if (rc >= 0)
			rc = mbox_subscribe(s->mb, name, true, &e);
		if (rc < 0)
			log_warn("user=<%s>: special-use folder %s: %s",
			         s->user, name, e.msg);
	}
	strv_deinit(&plain);
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		log_warn("user=<%s>: %s: %s", s->user, marker, strerror(errno));
	else
		close(fd);
}
