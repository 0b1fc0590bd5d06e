/* SPDX-License-Identifier: MIT */
/*
 * local_resolve.c - what one recipient address becomes: virtual alias
 * rewriting, aliases, :include: files, .forward, system users and
 * virtual accounts, each ending in a target (a maildir, an mbox file, a
 * command, or an address for qmgr to route)
 *
 * Policy as in Postfix's local(8), which admins know:
 *  - virtual_alias_maps apply to every domain first (full address, then
 *    without the extension, then "@domain"); an address that maps to
 *    itself is delivered as itself;
 *  - mydestination domains are system users: alias_maps by local part
 *    (with, then without the extension), else the passwd entry, its
 *    .forward (forward_path), else ~/home_mailbox;
 *  - virtual_mailbox_domains are accounts (account_get) or entries of
 *    virtual_mailbox_maps, in virtual_mailbox_base;
 *  - |command and /file destinations only where allow_mail_to_commands
 *    and allow_mail_to_files name the source (alias, forward, include);
 *    alias commands run as the owner of the alias table when that is not
 *    root (else nobody), .forward ones as the user, :include: ones as the
 *    file's owner when that is not root;
 *  - "\user" delivers to the user's mailbox without further expansion,
 *    and so does a list naming its own owner;
 *  - a message that already has "Delivered-To: <address>" for an address
 *    expanded or delivered here bounces 5.4.6 (mail forwarding loop;
 *    not asked of an address for another host, which asks it itself,
 *    as in Postfix); so does one
 *    that has it for an address of a forwarded recipient's
 *    delivered-to chain (proto_deliver.h), and an expansion that meets
 *    an address of that chain again (its copies carry the chain).
 * Loops inside the tables are cut by remembering every address expanded
 * for this recipient; depth and size are bounded (LOCAL_DEPTH_MAX,
 * DELIVER_FORWARD_MAX). Files are read with the owner's ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/params.h"
#include "common/privs.h"
#include "common/proto_deliver.h"
#include "common/queue_env.h"
#include "common/xalloc.h"
#include "local.h"

enum source { SRC_ALIAS, SRC_FORWARD, SRC_INCLUDE, SRC_VIRTUAL };

static const char *const source_names[] = {"alias", "forward", "include",
					   "virtual"};

struct rctx {
	struct local_resolver *r;
	struct local_expansion *x;
	const char *top; /* the recipient being expanded */
};

/* ---- users ---------------------------------------------------------- */

static void fill_user(struct local_user *out, const struct passwd *pw)
{
	memset(out, 0, sizeof(*out));
	(void)snprintf(out->name, sizeof(out->name), "%s", pw->pw_name);
	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	(void)snprintf(out->home, sizeof(out->home), "%s",
		       pw->pw_dir ? pw->pw_dir : "/");
	(void)snprintf(out->shell, sizeof(out->shell), "%s",
		       pw->pw_shell ? pw->pw_shell : "/bin/sh");
}

static int getpw_common(const char *name, uid_t uid, bool by_name,
			struct local_user *out)
{
	struct passwd pw, *res = NULL;
	char mem[8192];
	int rc = by_name ? getpwnam_r(name, &pw, mem, sizeof(mem), &res)
			 : getpwuid_r(uid, &pw, mem, sizeof(mem), &res);
	if (res) {
		fill_user(out, res);
		return 1;
	}
	return rc == 0 || rc == ENOENT || rc == ESRCH ? 0 : -1;
}

int local_getpw_system(const char *name, struct local_user *out)
{
	return getpw_common(name, 0, true, out);
}

void local_never_root(uid_t *uid, gid_t *gid)
{
	if (*uid != 0)
		return;
	struct local_user nobody;
	if (local_getpw_system("nobody", &nobody) == 1) {
		*uid = nobody.uid;
		*gid = nobody.gid;
	} else {
		*uid = *gid = 65534;
	}
}

/* The user a uid belongs to, or a stand-in named by the number. */
static void user_of_uid(uid_t uid, gid_t gid, struct local_user *out)
{
	if (getpw_common(NULL, uid, false, out) == 1)
		return;
	memset(out, 0, sizeof(*out));
	(void)snprintf(out->name, sizeof(out->name), "%u", (unsigned)uid);
	out->uid = uid;
	out->gid = gid;
	(void)snprintf(out->home, sizeof(out->home), "/");
	(void)snprintf(out->shell, sizeof(out->shell), "/bin/sh");
}

/* ---- the resolver --------------------------------------------------- */

/* Who alias commands and files run as: the owner of the first alias
 * table file when not root, else nobody (Postfix: default_privs). */
static void alias_owner(struct local_resolver *r)
{
	struct local_user u;
	if (!r->as_root) {
		user_of_uid(getuid(), getgid(), &u);
	} else {
		bool found = false;
		for (size_t i = 0; !found && i < params->alias_maps.n; i++) {
			const char *spec = params->alias_maps.v[i];
			const char *colon = strchr(spec, ':');
			struct stat st;
			if (!colon || colon[1] != '/')
				continue;
			char *file = xasprintf("%s.lmdb", colon + 1);
			if (stat(file, &st) == 0 && st.st_uid != 0) {
				user_of_uid(st.st_uid, st.st_gid, &u);
				found = true;
			}
			free(file);
		}
		if (!found && local_getpw_system("nobody", &u) != 1)
			user_of_uid(65534, 65534, &u);
	}
	r->alias_uid = u.uid;
	r->alias_gid = u.gid;
}

int local_resolver_init(struct local_resolver *r, struct err *e)
{
	memset(r, 0, sizeof(*r));
	r->getpw = local_getpw_system;
	r->as_root = privs_is_root();
	if (!(r->aliases = maplist_open(&params->alias_maps, e)) ||
	    !(r->virtual_aliases = maplist_open(&params->virtual_alias_maps,
						 e)) ||
	    !(r->virtual_mailboxes =
		      maplist_open(&params->virtual_mailbox_maps, e)) ||
	    account_open(&r->accounts, params->account_database,
			 ACCOUNT_RDONLY, e) < 0) {
		local_resolver_deinit(r);
		return -1;
	}
	if (r->as_root) {
		unsigned u, g;
		if (privs_lookup_static(params->virtual_uid_maps, false, &u,
					e) < 0 ||
		    privs_lookup_static(params->virtual_gid_maps, true, &g,
					e) < 0) {
			local_resolver_deinit(r);
			return -1;
		}
		r->virtual_uid = u;
		r->virtual_gid = g;
	} else {
		r->virtual_uid = getuid();
		r->virtual_gid = getgid();
	}
	alias_owner(r);
	return 0;
}

void local_resolver_deinit(struct local_resolver *r)
{
	maplist_close(&r->aliases);
	maplist_close(&r->virtual_aliases);
	maplist_close(&r->virtual_mailboxes);
	account_close(&r->accounts);
}

/* ---- expansions ------------------------------------------------------- */

void local_expansion_init(struct local_expansion *x)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->reason, LOCAL_TEXT_MAX);
	strv_init(&x->seen);
}

void local_expansion_deinit(struct local_expansion *x)
{
	for (size_t i = 0; i < x->n; i++) {
		struct local_target *t = &x->v[i];
		free(t->addr);
		free(t->path);
		free(t->user);
		free(t->home);
		free(t->shell);
		free(t->extension);
		free(t->reason);
	}
	free(x->v);
	free(x->top);
	buf_deinit(&x->reason);
	strv_deinit(&x->seen);
	memset(x, 0, sizeof(*x));
}

void local_expansion_fail(struct local_expansion *x, enum local_status st,
			  const char *dsn, const char *fmt, ...)
{
	if (x->status != LOCAL_PENDING)
		return;
	x->status = st;
	(void)snprintf(x->dsn, sizeof(x->dsn), "%s", dsn);
	char tmp[LOCAL_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_reset(&x->reason);
	(void)buf_append_str(&x->reason, tmp);
}

static struct local_target *add_target(struct rctx *c,
				       enum local_target_kind kind,
				       const char *addr, const char *path,
				       const struct local_user *owner,
				       bool member, bool forwardable)
{
	struct local_expansion *x = c->x;
	if (x->n >= DELIVER_FORWARD_MAX) {
		local_expansion_fail(x, LOCAL_BOUNCE, "5.2.4",
				     "alias/forward expansion of %s has more "
				     "than %d destinations",
				     c->top, DELIVER_FORWARD_MAX);
		return NULL;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 4;
		x->v = xrealloc(x->v, x->cap * sizeof(*x->v));
	}
	struct local_target *t = &x->v[x->n++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->addr = xstrdup(addr);
	t->path = path ? xstrdup(path) : NULL;
	t->member = member;
	t->forwardable = member && forwardable;
	t->item = -1;
	if (owner) {
		t->uid = owner->uid;
		t->gid = owner->gid;
		t->user = xstrdup(owner->name);
		t->home = xstrdup(owner->home);
		t->shell = xstrdup(owner->shell);
	}
	return t;
}

/* A failure while expanding: the recipient's own when !member, else a
 * failed member. addr is the member address that failed (the fold may
 * hand it back to qmgr), or NULL when what failed is not an address (a
 * refused command, a bad list). */
static void fail(struct rctx *c, const char *addr, bool member,
		 enum local_status st, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void fail(struct rctx *c, const char *addr, bool member,
		 enum local_status st, const char *dsn, const char *fmt, ...)
{
	char tmp[LOCAL_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (!member) {
		local_expansion_fail(c->x, st, dsn, "%s", tmp);
		return;
	}
	struct local_target *t = add_target(c, LOCAL_T_FORWARD,
					    addr ? addr : c->top, NULL, NULL,
					    true, addr != NULL);
	if (!t)
		return;
	t->status = st;
	(void)snprintf(t->dsn, sizeof(t->dsn), "%s", dsn);
	t->reason = xstrdup(tmp);
}

/* ---- addresses -------------------------------------------------------- */

/*
 * Normalises an address into out (> LOCAL_ADDR_MAX): trims space and
 * <>, lower-cases it, qualifies a bare local part with myorigin. -1 for
 * an empty, over-long or control-character address, and for one qmgr
 * would refuse in a forward list (queue_addr_safe: '<', '>', unquoted
 * space): one such address in a user's .forward would make qmgr reject
 * the whole reply and deliver every recipient of the request again.
 */
static int norm_addr(const char *in, char *out, size_t outsz)
{
	char tmp[LOCAL_ADDR_MAX + 3];
	size_t len = strlen(in);
	while (len && (*in == ' ' || *in == '\t'))
		in++, len--;
	while (len && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	if (len >= 2 && in[0] == '<' && in[len - 1] == '>')
		in++, len -= 2;
	if (len == 0 || len > LOCAL_ADDR_MAX)
		return -1;
	memcpy(tmp, in, len);
	tmp[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)tmp[i] < ' ' || tmp[i] == 0x7f)
			return -1;
	str_lower(tmp);
	int n = strrchr(tmp, '@')
			? snprintf(out, outsz, "%s", tmp)
			: snprintf(out, outsz, "%s@%s", tmp, params->myorigin);
	if (n < 0 || (size_t)n >= outsz || (size_t)n > LOCAL_ADDR_MAX ||
	    !queue_addr_safe(out, (size_t)n))
		return -1;
	str_lower(out);
	return 0;
}

/* Splits addr at its last '@' into local (outsz) and a domain pointer. */
static const char *split_addr(const char *addr, char *local, size_t outsz)
{
	const char *at = strrchr(addr, '@');
	size_t n = (size_t)(at - addr);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(local, addr, n);
	local[n] = '\0';
	return at + 1;
}

/* The user part and extension of a local part (recipient_delimiter). */
static void split_ext(const char *local, char *user, size_t usz,
		      const char **ext)
{
	const char *d = params->recipient_delimiter;
	size_t n = d && *d ? strcspn(local, d) : strlen(local);
	*ext = local[n] ? local + n + 1 : NULL;
	if (n >= usz)
		n = usz - 1;
	memcpy(user, local, n);
	user[n] = '\0';
	if (n == 0) /* "+foo": no user part; keep the whole */
		*ext = NULL;
}

static bool in_list(const struct strv *l, const char *domain)
{
	return strv_contains_nocase(l, domain);
}

static bool allowed(const struct strv *classes, enum source src)
{
	return strv_contains_nocase(classes, source_names[src]);
}

static void expand_addr(struct rctx *c, const char *addr, int depth,
			bool member, bool no_virtual);
static void expand_list(struct rctx *c, const char *text, size_t len,
			enum source src, const struct local_user *owner,
			const char *self, int depth);

/* ---- files: .forward and :include: ------------------------------------ */

/*
 * Reads a .forward or :include: file as owner: 1 read (text into out,
 * comment lines dropped, lines joined with commas; *file_uid its owner),
 * 0 no such file, -1 error (e).
 */
static int read_list_file(struct local_resolver *r, const char *path,
			  const struct local_user *owner, struct buf *out,
			  uid_t *file_uid, struct err *e)
{
	struct err pe;
	if (r->as_root && privs_become(owner->uid, owner->gid, &pe) < 0) {
		err_set(e, "%s", pe.msg);
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int saved = errno;
	if (r->as_root && privs_restore(&pe) < 0)
		log_panic("cannot restore root: %s", pe.msg);
	if (fd < 0) {
		if (saved == ENOENT || saved == ENOTDIR)
			return 0;
		err_set(e, "open %s: %s", path, strerror(saved));
		return -1;
	}
	struct stat st;
	char text[LOCAL_INCLUDE_MAX + 1];
	size_t got = 0;
	ssize_t n = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		err_set(e, "%s: not a regular file", path);
		return -1;
	}
	while (got < LOCAL_INCLUDE_MAX &&
	       (n = read(fd, text + got, LOCAL_INCLUDE_MAX - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (n < 0) {
		err_set(e, "read %s: %s", path, strerror(errno));
		return -1;
	}
	*file_uid = st.st_uid;
	text[got] = '\0';
	buf_reset(out);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *t = str_trim(line);
		if (*t == '\0' || *t == '#')
			continue;
		if (out->len)
			(void)buf_append_char(out, ',');
		(void)buf_append_str(out, t);
	}
	return 1;
}

static void include_file(struct rctx *c, const char *path,
			 const struct local_user *owner, int depth)
{
	struct buf text;
	struct err e = {{0}};
	uid_t fuid = 0;
	buf_init(&text, LOCAL_INCLUDE_MAX + 16);
	int rc = read_list_file(c->r, path, owner, &text, &fuid, &e);
	if (rc < 0)
		fail(c, c->top, false, LOCAL_DEFER, "4.3.0",
		     "cannot read include file: %s", e.msg);
	else if (rc == 0)
		fail(c, c->top, false, LOCAL_DEFER, "4.3.0",
		     "include file %s does not exist", path);
	else {
		/* Commands and files in the list run as the file's owner,
		 * unless that is root. */
		struct local_user fo = *owner;
		if (fuid != 0 && fuid != owner->uid)
			user_of_uid(fuid, (gid_t)-1, &fo);
		if (fo.gid == (gid_t)-1)
			fo.gid = owner->gid;
		expand_list(c, text.data ? text.data : "", text.len,
			    SRC_INCLUDE, &fo, NULL, depth + 1);
	}
	buf_deinit(&text);
}

struct fwd_vars {
	const struct local_user *u;
	const char *ext, *recipient, *local, *domain;
};

static int fwd_lookup(void *ctx, const char *name, size_t len,
		      const char **text, struct err *e)
{
	(void)e;
	const struct fwd_vars *v = ctx;
	struct {
		const char *n, *v;
	} vars[] = {
		{"home", v->u->home},
		{"user", v->u->name},
		{"shell", v->u->shell},
		{"extension", v->ext},
		{"recipient", v->recipient},
		{"local", v->local},
		{"domain", v->domain},
		{"recipient_delimiter", params->recipient_delimiter},
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strlen(vars[i].n) == len &&
		    memcmp(vars[i].n, name, len) == 0) {
			*text = vars[i].v ? vars[i].v : "";
			return 1;
		}
	return 0;
}

/* Tries the user's forward_path files: 1 one was used, 0 none exists. */
static int try_forward(struct rctx *c, const char *addr,
		       const struct local_user *u, const char *local,
		       const char *domain, const char *ext, int depth)
{
	struct fwd_vars v = {.u = u, .ext = ext, .recipient = addr,
			     .local = local, .domain = domain};
	struct buf path, text;
	buf_init(&path, 4096);
	buf_init(&text, LOCAL_INCLUDE_MAX + 16);
	int used = 0;
	for (size_t i = 0; !used && i < params->forward_path.n; i++) {
		const char *tmpl = params->forward_path.v[i];
		struct err e = {{0}};
		uid_t fuid;
		buf_reset(&path);
		if (params_expand_with(tmpl, strlen(tmpl), fwd_lookup, &v,
				       &path, &e) < 0 ||
		    path.len == 0)
			continue;
		int rc = read_list_file(c->r, buf_cstr(&path), u, &text, &fuid,
					&e);
		if (rc < 0) {
			fail(c, addr, false, LOCAL_DEFER, "4.3.0",
			     "cannot read .forward: %s", e.msg);
			used = 1;
		} else if (rc == 1) {
			/* Another user's file could send this user's mail
			 * anywhere. */
			if (fuid != u->uid && fuid != 0) {
				log_warn("%s: owned by uid %u, not %s: "
					 "ignored",
					 buf_cstr(&path), (unsigned)fuid,
					 u->name);
				continue;
			}
			expand_list(c, text.data ? text.data : "", text.len,
				    SRC_FORWARD, u, u->name, depth + 1);
			used = 1;
		}
	}
	buf_deinit(&path);
	buf_deinit(&text);
	return used;
}

/* ---- local (system) users --------------------------------------------- */

#define NO_ALIAS 0x1u
#define NO_FORWARD 0x2u

static void local_user(struct rctx *c, const char *addr, int depth,
		       bool member, unsigned flags)
{
	bool fwdable = !(flags & NO_ALIAS);
	char local[LOCAL_ADDR_MAX + 1], user[LOCAL_ADDR_MAX + 1];
	const char *domain = split_addr(addr, local, sizeof(local));
	const char *ext;
	split_ext(local, user, sizeof(user), &ext);
	struct err e = {{0}};
	if (!(flags & NO_ALIAS)) {
		const char *keys[2] = {local, ext ? user : NULL};
		for (int k = 0; k < 2 && keys[k]; k++) {
			char *val = NULL;
			int rc = maplist_lookup(c->r->aliases, keys[k], &val, &e);
			if (rc < 0) {
				fail(c, addr, member, LOCAL_DEFER, "4.3.0",
				     "alias table unavailable: %s", e.msg);
				return;
			}
			if (rc == 1) {
				struct local_user owner;
				user_of_uid(c->r->alias_uid, c->r->alias_gid,
					    &owner);
				expand_list(c, val, strlen(val), SRC_ALIAS,
					    &owner, keys[k], depth + 1);
				free(val);
				return;
			}
		}
	}
	struct local_user u;
	int rc = c->r->getpw(user, &u);
	if (rc < 0) {
		fail(c, addr, member, LOCAL_DEFER, "4.3.0",
		     "user database unavailable");
		return;
	}
	if (rc == 0) {
		fail(c, addr, member, LOCAL_BOUNCE, "5.1.1",
		     "unknown user: \"%s\"", user);
		return;
	}
	if (!(flags & NO_FORWARD) &&
	    try_forward(c, addr, &u, local, domain, ext, depth))
		return;
	char *path = xasprintf("%s/%s", u.home, params->home_mailbox);
	struct local_target *t = add_target(c, LOCAL_T_MAILDIR, addr, path,
					    &u, member, fwdable);
	if (t && ext)
		t->extension = xstrdup(ext);
	free(path);
}

/* ---- virtual accounts --------------------------------------------------- */

static void virtual_user(struct rctx *c, const char *addr, bool member)
{
	char local[LOCAL_ADDR_MAX + 1], user[LOCAL_ADDR_MAX + 1];
	const char *domain = split_addr(addr, local, sizeof(local));
	const char *ext;
	split_ext(local, user, sizeof(user), &ext);
	char plain[LOCAL_ADDR_MAX + 2];
	(void)snprintf(plain, sizeof(plain), "%s@%s", user, domain);
	const char *keys[2] = {addr, ext ? plain : NULL};
	struct err e = {{0}};
	char rel[ACCOUNT_MAILDIR_MAX + 1] = "";
	for (int k = 0; k < 2 && keys[k] && !rel[0]; k++) {
		struct account_info info;
		int rc = account_get(c->r->accounts, keys[k], &info, &e);
		if (rc < 0) {
			fail(c, addr, member, LOCAL_DEFER, "4.3.0",
			     "account database unavailable: %s", e.msg);
			return;
		}
		if (rc == 1) {
			(void)snprintf(rel, sizeof(rel), "%s", info.maildir);
			break;
		}
		char *val = NULL;
		rc = maplist_lookup(c->r->virtual_mailboxes, keys[k], &val, &e);
		if (rc < 0) {
			fail(c, addr, member, LOCAL_DEFER, "4.3.0",
			     "virtual_mailbox_maps unavailable: %s", e.msg);
			return;
		}
		if (rc == 1) {
			char *t = str_trim(val);
			if (t[0] != '/' && !strstr(t, ".."))
				(void)snprintf(rel, sizeof(rel), "%s", t);
			else
				log_warn("virtual_mailbox_maps: %s: bad "
					 "maildir \"%s\"",
					 keys[k], t);
			free(val);
		}
	}
	if (!rel[0]) {
		fail(c, addr, member, LOCAL_BOUNCE, "5.1.1",
		     "unknown user: \"%s\"", addr);
		return;
	}
	struct local_user owner;
	user_of_uid(c->r->virtual_uid, c->r->virtual_gid, &owner);
	owner.gid = c->r->virtual_gid;
	char *path = xasprintf("%s/%s", params->virtual_mailbox_base, rel);
	struct local_target *t = add_target(c, LOCAL_T_MAILDIR, addr, path,
					    &owner, member, true);
	if (t && ext)
		t->extension = xstrdup(ext);
	free(path);
}

/* ---- lists (alias values, .forward, :include:) --------------------------- */

static void expand_dest(struct rctx *c, const char *d, enum source src,
			const struct local_user *owner, const char *self,
			int depth)
{
	char addr[LOCAL_ADDR_MAX + 1];
	if (d[0] == '|' || d[0] == '/') {
		bool cmd = d[0] == '|';
		const struct strv *classes = cmd ? &params->allow_mail_to_commands
						 : &params->allow_mail_to_files;
		if (!allowed(classes, src)) {
			fail(c, NULL, true, LOCAL_BOUNCE, "5.7.1",
			     "mail to %s is restricted",
			     cmd ? "command" : "file");
			return;
		}
		size_t len = strlen(d);
		enum local_target_kind kind =
			cmd ? LOCAL_T_COMMAND
			    : d[len - 1] == '/' ? LOCAL_T_MAILDIR : LOCAL_T_FILE;
		(void)add_target(c, kind, c->top, cmd ? d + 1 : d, owner, true,
				 false);
		return;
	}
	if (str_prefix_nocase(d, strlen(d), ":include:")) {
		const char *path = d + 9;
		while (*path == ' ' || *path == '\t')
			path++;
		if (path[0] != '/') {
			fail(c, NULL, true, LOCAL_BOUNCE, "5.3.0",
			     ":include: needs an absolute path");
			return;
		}
		if (depth > LOCAL_DEPTH_MAX) {
			fail(c, NULL, true, LOCAL_BOUNCE, "5.4.6",
			     "mail forwarding loop for %s", c->top);
			return;
		}
		include_file(c, path, owner, depth);
		return;
	}
	bool direct = d[0] == '\\';
	const char *a = direct ? d + 1 : d;
	bool bare = strchr(a, '@') == NULL;
	if (norm_addr(a, addr, sizeof(addr)) < 0) {
		log_warn("%s: bad destination \"%s\" ignored", c->top, d);
		return;
	}
	/* "\\user", or a list naming its own owner: that user's mailbox,
	 * without the alias again (and, from .forward or with "\\",
	 * without the .forward again). */
	bool is_self = self && bare && str_eq_nocase(a, self);
	char local[LOCAL_ADDR_MAX + 1];
	const char *domain = split_addr(addr, local, sizeof(local));
	if ((direct || is_self) &&
	    (bare || in_list(&params->mydestination, domain))) {
		char key[LOCAL_ADDR_MAX + 2];
		(void)snprintf(key, sizeof(key), "\\%s", addr);
		if (strv_contains_nocase(&c->x->seen, key))
			return;
		strv_push(&c->x->seen, key);
		if (depth > LOCAL_DEPTH_MAX) {
			fail(c, NULL, true, LOCAL_BOUNCE, "5.4.6",
			     "mail forwarding loop for %s", c->top);
			return;
		}
		unsigned flags = NO_ALIAS;
		if (direct || src == SRC_FORWARD)
			flags |= NO_FORWARD;
		local_user(c, addr, depth, true, flags);
		return;
	}
	expand_addr(c, addr, depth, true, false);
}

static void expand_list(struct rctx *c, const char *text, size_t len,
			enum source src, const struct local_user *owner,
			const char *self, int depth)
{
	struct strv dests;
	struct err e = {{0}};
	strv_init(&dests);
	if (alias_split(text, len, &dests, &e) < 0) {
		fail(c, c->top, false, LOCAL_DEFER, "4.3.0",
		     "bad %s list: %s", source_names[src], e.msg);
	} else if (dests.n == 0) {
		fail(c, NULL, true, LOCAL_BOUNCE, "5.3.0",
		     "empty %s list", source_names[src]);
	}
	for (size_t i = 0; i < dests.n && c->x->status == LOCAL_PENDING; i++)
		expand_dest(c, dests.v[i], src, owner, self, depth);
	strv_deinit(&dests);
}

/* ---- addresses, top down --------------------------------------------------- */

/*
 * True when the copy for this recipient has, or would have, a
 * Delivered-To for addr: in the message, or in the request's chain
 * (which its copies carry). Asked where addr is expanded or delivered
 * here, as Postfix's local does, not of an address handed back to qmgr
 * for another host: that host asks it itself, so a loop between two
 * hosts ends where it started, after one round trip.
 */
static bool delivered_before(const struct local_resolver *r, const char *addr)
{
	return (r->msg && local_msg_delivered_to(r->msg, addr)) ||
	       local_chain_has(r->dlvto, addr);
}

static void loop_fail(struct rctx *c, const char *addr, bool member)
{
	fail(c, addr, member, LOCAL_BOUNCE, "5.4.6",
	     "mail forwarding loop for %s", addr);
}

/* virtual_alias_maps: 1 rewritten (targets expanded), 0 not, -1 error. */
static int virtual_alias(struct rctx *c, const char *addr, int depth,
			 bool member)
{
	char local[LOCAL_ADDR_MAX + 1], user[LOCAL_ADDR_MAX + 1];
	const char *domain = split_addr(addr, local, sizeof(local));
	const char *ext;
	split_ext(local, user, sizeof(user), &ext);
	char plain[LOCAL_ADDR_MAX + 2], catchall[LOCAL_ADDR_MAX + 2];
	(void)snprintf(plain, sizeof(plain), "%s@%s", user, domain);
	(void)snprintf(catchall, sizeof(catchall), "@%s", domain);
	const char *keys[3] = {addr, ext ? plain : catchall,
			       ext ? catchall : NULL};
	struct err e = {{0}};
	char *val = NULL;
	int rc = 0;
	for (int k = 0; k < 3 && keys[k] && rc == 0; k++)
		rc = maplist_lookup(c->r->virtual_aliases, keys[k], &val, &e);
	if (rc < 0) {
		fail(c, addr, member, LOCAL_DEFER, "4.3.0",
		     "virtual_alias_maps unavailable: %s", e.msg);
		return -1;
	}
	if (rc == 0)
		return 0;
	if (delivered_before(c->r, addr)) {
		free(val);
		loop_fail(c, addr, member);
		return 1;
	}
	struct strv targets;
	strv_init(&targets);
	strv_split(&targets, val, ", \t\r\n");
	free(val);
	bool self = false;
	for (size_t i = 0; i < targets.n && c->x->status == LOCAL_PENDING;
	     i++) {
		char t[LOCAL_ADDR_MAX + 1];
		if (norm_addr(targets.v[i], t, sizeof(t)) < 0) {
			log_warn("%s: bad virtual alias target \"%s\" ignored",
				 addr, targets.v[i]);
			continue;
		}
		if (strcmp(t, addr) == 0)
			self = true;
		else
			expand_addr(c, t, depth + 1, true, false);
	}
	size_t ntargets = targets.n;
	strv_deinit(&targets);
	if (self)
		expand_addr(c, addr, depth + 1, member, true);
	else if (ntargets == 0)
		fail(c, addr, member, LOCAL_BOUNCE, "5.3.0",
		     "empty virtual alias for %s", addr);
	return 1;
}

static void expand_addr(struct rctx *c, const char *addr, int depth,
			bool member, bool no_virtual)
{
	if (c->x->status != LOCAL_PENDING)
		return;
	if (depth > LOCAL_DEPTH_MAX) {
		fail(c, addr, member, LOCAL_BOUNCE, "5.4.6",
		     "mail forwarding loop for %s", c->top);
		return;
	}
	if (!no_virtual) {
		/* An address seen before in this expansion is a loop or a
		 * duplicate: it is (being) handled already. */
		if (strv_contains_nocase(&c->x->seen, addr))
			return;
		strv_push(&c->x->seen, addr);
	}
	char local[LOCAL_ADDR_MAX + 1];
	const char *domain = split_addr(addr, local, sizeof(local));
	if (!no_virtual) {
		int rc = virtual_alias(c, addr, depth, member);
		if (rc != 0)
			return;
		if (in_list(&params->virtual_alias_domains, domain)) {
			fail(c, addr, member, LOCAL_BOUNCE, "5.1.1",
			     "unknown user: \"%s\"", addr);
			return;
		}
	}
	bool mine = in_list(&params->mydestination, domain);
	if (!mine && !in_list(&params->virtual_mailbox_domains, domain))
		(void)add_target(c, LOCAL_T_FORWARD, addr, NULL, NULL, member,
				 true);
	else if (delivered_before(c->r, addr))
		loop_fail(c, addr, member);
	else if (mine)
		local_user(c, addr, depth, member, 0);
	else
		virtual_user(c, addr, member);
}

void local_resolve(struct local_resolver *r, const char *addr,
		   struct local_expansion *x)
{
	char a[LOCAL_ADDR_MAX + 1];
	if (norm_addr(addr, a, sizeof(a)) < 0 || !strchr(addr, '@')) {
		local_expansion_fail(x, LOCAL_BOUNCE, "5.1.3",
				     "bad recipient address syntax");
		return;
	}
	struct rctx c = {.r = r, .x = x, .top = a};
	x->top = xstrdup(a);
	/* A forwarded recipient: the addresses that produced it are
	 * delivered again only if the message was not already delivered
	 * to one of them (it came back: a loop between hosts). */
	size_t pos = 0, alen;
	const char *p;
	while (r->msg && r->dlvto &&
	       queue_dlvto_next(r->dlvto, strlen(r->dlvto), &pos, &p, &alen)) {
		char *chained = xmemdup(p, alen);
		bool loop = local_msg_delivered_to(r->msg, chained);
		if (loop)
			local_expansion_fail(x, LOCAL_BOUNCE, "5.4.6",
					     "mail forwarding loop for %s",
					     chained);
		free(chained);
		if (loop)
			return;
	}
	expand_addr(&c, a, 0, false, false);
	if (x->status == LOCAL_PENDING && x->n == 0)
		local_expansion_fail(x, LOCAL_BOUNCE, "5.4.6",
				     "mail forwarding loop for %s", a);
}
