/* SPDX-License-Identifier: MIT */
/*
 * test_local.c - the local delivery agent's pieces: request decoding and
 * the reply, Delivered-To parsing, address expansion (virtual accounts,
 * system users, aliases, :include:, .forward, commands allowed and
 * refused, loops, extensions, virtual aliases), folding outcomes into one
 * result, and whole deliveries of a request into maildirs
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/map.h"
#include "common/mbox.h"
#include "common/params.h"
#include "common/proto_deliver.h"
#include "common/queue_env.h"
#include "common/xalloc.h"
#include "local/local.h"
#include "unit_tmpdir.h"

/* ---- request and reply ------------------------------------------------- */

static void put_request(struct ipc_msg *m, size_t n, bool extra_rcpt)
{
	ipc_msg_begin(m, DELIVER_REQ_DELIVER);
	ipc_put_str(m, DELIVER_ATTR_QUEUE_ID, "4AbC");
	ipc_put_str(m, DELIVER_ATTR_QUEUE_FILE, "queue/4AbC");
	ipc_put_str(m, DELIVER_ATTR_SENDER, "s@example.org");
	ipc_put_u64(m, DELIVER_ATTR_ARRIVAL, 1700000000);
	ipc_put_u64(m, DELIVER_ATTR_SIZE, 100);
	ipc_put_str(m, DELIVER_ATTR_NEXTHOP, "example.test");
	ipc_put_u64(m, DELIVER_ATTR_NRCPT, n);
	for (size_t i = 0; i < n + (extra_rcpt ? 1 : 0); i++) {
		char id[16], addr[32];
		snprintf(id, sizeof(id), "r%zu", i);
		snprintf(addr, sizeof(addr), "u%zu@example.test", i);
		ipc_put_str(m, DELIVER_ATTR_RCPT_ID, id);
		ipc_put_str(m, DELIVER_ATTR_RCPT, addr);
		ipc_put_str(m, DELIVER_ATTR_ORCPT, "");
		ipc_put_str(m, DELIVER_ATTR_NOTIFY, "");
	}
}

static void request_decode(void **state)
{
	(void)state;
	struct ipc_msg m;
	struct local_request r;
	struct err e = {{0}};
	ipc_msg_init(&m);
	put_request(&m, 3, false);
	assert_int_equal(local_request_decode(&m, &r, &e), 0);
	assert_int_equal(r.nrcpt, 3);
	assert_string_equal(r.queue_id, "4AbC");
	assert_string_equal(r.rcpts[2].id, "r2");
	assert_string_equal(r.rcpts[2].addr, "u2@example.test");
	assert_int_equal(r.arrival, 1700000000);
	/* Results and the reply, in request order. */
	local_rcpt_result(&r.rcpts[0], DELIVER_RESULT_SENT, "2.0.0",
			  "delivered to %s", "maildir");
	local_rcpt_result(&r.rcpts[0], DELIVER_RESULT_BOUNCE, "5.1.1", "x");
	local_rcpt_result(&r.rcpts[1], DELIVER_RESULT_FORWARD, "2.0.0", "fw");
	strv_push(&r.rcpts[1].forward, "a@remote.test");
	strv_push(&r.rcpts[1].forward, "b@remote.test");
	struct ipc_msg reply;
	ipc_msg_init(&reply);
	local_reply_build(&r, &reply);
	assert_string_equal(ipc_status(&reply), "ok");
	assert_int_equal(ipc_count(&reply, DELIVER_ATTR_RCPT_ID), 3);
	const char *want[] = {"status", "rcpt_id", "result", "dsn", "reason",
			      "relay", "forward_to"};
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(reply.attrs[i].name, want[i]);
	assert_string_equal(reply.attrs[2].value, "sent");
	assert_string_equal(reply.attrs[4].value, "delivered to maildir");
	assert_string_equal(reply.attrs[8].value, "forward");
	assert_string_equal(reply.attrs[12].value,
			    "a@remote.test\nb@remote.test");
	/* A recipient never given a result is deferred. */
	assert_string_equal(reply.attrs[14].value, "defer");
	ipc_msg_deinit(&reply);
	local_request_deinit(&r);
	/* Malformed: one rcpt too many, a missing attribute, a bad type. */
	put_request(&m, 2, true);
	assert_int_equal(local_request_decode(&m, &r, &e), -1);
	assert_non_null(strstr(e.msg, "extra"));
	ipc_msg_begin(&m, DELIVER_REQ_DELIVER);
	ipc_put_str(&m, DELIVER_ATTR_QUEUE_ID, "x");
	assert_int_equal(local_request_decode(&m, &r, &e), -1);
	ipc_msg_begin(&m, "other");
	assert_int_equal(local_request_decode(&m, &r, &e), -1);
	/* more=1: a group goes on; anything but 0 or 1 is malformed. */
	put_request(&m, 1, false);
	assert_int_equal(local_request_decode(&m, &r, &e), 0);
	assert_false(r.more);
	local_request_deinit(&r);
	ipc_put_str(&m, DELIVER_ATTR_MORE, "1");
	assert_int_equal(local_request_decode(&m, &r, &e), 0);
	assert_true(r.more);
	local_request_deinit(&r);
	put_request(&m, 1, false);
	ipc_put_str(&m, DELIVER_ATTR_MORE, "2");
	assert_int_equal(local_request_decode(&m, &r, &e), -1);
	/* Well-formed but too many for one reply. */
	put_request(&m, DELIVER_RCPT_MAX + 1, false);
	assert_int_equal(local_request_decode(&m, &r, &e), -2);
	/* The delivered-to chain: "" is none; anything that is not a
	 * list of addresses one a line is malformed. */
	static const struct {
		const char *v;
		int rc;
	} chains[] = {{"a@one.test\nb@two.test", 0}, {"", 0},
		      {"a@one.test\n", -1}, {"a@one.test\n\nb@x", -1},
		      {"a@one.test\r\nb@x", -1}, {"<a@one.test>", -1}};
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
		put_request(&m, 1, false);
		ipc_put_str(&m, DELIVER_ATTR_DELIVERED_TO, chains[i].v);
		if (local_request_decode(&m, &r, &e) != chains[i].rc)
			fail_msg("chain \"%s\": want %d", chains[i].v,
				 chains[i].rc);
		if (chains[i].rc == 0) {
			if (chains[i].v[0])
				assert_string_equal(r.dlvto, chains[i].v);
			else
				assert_null(r.dlvto);
			local_request_deinit(&r);
		}
	}
	ipc_msg_deinit(&m);
}

static void message_headers(void **state)
{
	(void)state;
	struct local_msg m;
	const char *text = "Received: x\n"
			   "delivered-to: <Alice@Example.TEST>\n"
			   "Subject: hi\n"
			   "Delivered-To:\n\tbob@example.test\n"
			   "\n"
			   "Delivered-To: body@example.test\n";
	local_msg_set(&m, text, strlen(text));
	assert_int_equal(m.delivered_to.n, 2);
	assert_string_equal(m.delivered_to.v[0], "alice@example.test");
	assert_string_equal(m.delivered_to.v[1], "bob@example.test");
	assert_true(local_msg_delivered_to(&m, "ALICE@example.test"));
	assert_false(local_msg_delivered_to(&m, "body@example.test"));
	assert_int_equal(m.header_len, strlen(text) - 32);
	local_msg_deinit(&m);
	/* No body separator: all header. */
	local_msg_set(&m, "A: b\n", 5);
	assert_int_equal(m.header_len, 5);
	local_msg_deinit(&m);
	struct buf b;
	buf_init(&b, 0);
	local_msg_prepend(&b, "", "x@y", NULL);
	assert_string_equal(buf_cstr(&b), "Return-Path: <>\nDelivered-To: x@y\n");
	buf_reset(&b);
	local_msg_prepend(&b, "a\r\nb@c", "x@y", NULL);
	assert_string_equal(buf_cstr(&b),
			    "Return-Path: <a??b@c>\nDelivered-To: x@y\n");
	/* A forwarded recipient's copy keeps its chain, in order. */
	buf_reset(&b);
	local_msg_prepend(&b, "s@x", "c@one.test", "a@one.test\nb@two.test");
	assert_string_equal(buf_cstr(&b), "Return-Path: <s@x>\n"
					  "Delivered-To: c@one.test\n"
					  "Delivered-To: a@one.test\n"
					  "Delivered-To: b@two.test\n");
	buf_deinit(&b);
	assert_true(local_chain_has("a@one.test\nB@Two.test", "b@two.TEST"));
	assert_false(local_chain_has("a@one.test\nb@two.test", "b@two"));
	assert_false(local_chain_has(NULL, "a@one.test"));
}

/* ---- expansion fixture ----------------------------------------------------- */

struct fx {
	char dir[64];
	struct local_resolver r;
	bool resolver_open;
};

static char fx_dir[64]; /* for the fake passwd */

static int fake_getpw(const char *name, struct local_user *out)
{
	static const char *const users[] = {"alice", "bob", "carol", "dave"};
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(name, users[i]) != 0)
			continue;
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", name);
		out->uid = getuid();
		out->gid = getgid();
		snprintf(out->home, sizeof(out->home), "%s/home/%s", fx_dir,
			 name);
		snprintf(out->shell, sizeof(out->shell), "/bin/sh");
		return 1;
	}
	return 0;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err e = {{0}};
	if (unit_tmpdir_make(f->dir, sizeof(f->dir), "test_local") < 0)
		return -1;
	memcpy(fx_dir, f->dir, sizeof(fx_dir));
	char *p = xasprintf("%s/home", f->dir);
	mkdir(p, 0700);
	free(p);
	const char *users[] = {"alice", "bob", "carol", "dave"};
	for (int i = 0; i < 4; i++) {
		p = xasprintf("%s/home/%s", f->dir, users[i]);
		mkdir(p, 0700);
		free(p);
	}
	p = xasprintf("%s/list.inc", f->dir);
	write_text(p, "# the list\nbob\ncarol, ext@remote.test\n|cat >/dev/null\n");
	free(p);
	p = xasprintf("%s/aliases", f->dir);
	char *text = xasprintf(
		"postmaster: alice\n"
		"team: alice, bob, friend@remote.test\n"
		"list: :include:%s/list.inc\n"
		"pipe: \"|cat > %s/piped\"\n"
		"file: %s/filed\n"
		"loop1: loop2\n"
		"loop2: loop1\n"
		"self: self, bob\n"
		"root: \\alice\n"
		"ghost: nosuchuser, bob\n"
		"allgone: nosuchuser\n",
		f->dir, f->dir, f->dir);
	write_text(p, text);
	free(text);
	if (map_build(p, MAP_FORMAT_ALIASES, &e) < 0) {
		fprintf(stderr, "aliases: %s\n", e.msg);
		return -1;
	}
	free(p);
	p = xasprintf("%s/virtual", f->dir);
	write_text(p, "info@virt.test sales@virt.test, info@virt.test\n"
		      "@alias.test bob@mail.example.test\n"
		      "x@virt.test y@virt.test\n"
		      "y@virt.test x@virt.test\n");
	if (map_build(p, MAP_FORMAT_KV, &e) < 0)
		return -1;
	free(p);
	p = xasprintf("%s/vmaps", f->dir);
	write_text(p, "sales@virt.test virt.test/sales/\n"
		      "info@virt.test virt.test/info/\n"
		      "evil@virt.test ../../etc/\n"
		      "broken@virt.test virt.test/brokenfile/\n");
	if (map_build(p, MAP_FORMAT_KV, &e) < 0)
		return -1;
	free(p);
	struct strv ov;
	strv_init(&ov);
	char *o;
#define OV(...) (o = xasprintf(__VA_ARGS__), strv_push(&ov, o), free(o))
	OV("myhostname=mail.example.test");
	OV("mydomain=example.test");
	OV("myorigin=mail.example.test");
	OV("mydestination=mail.example.test, localhost");
	OV("virtual_mailbox_domains=virt.test");
	OV("virtual_alias_domains=alias-only.test");
	OV("virtual_mailbox_base=%s/vmail", f->dir);
	OV("alias_maps=lmdb:%s/aliases", f->dir);
	OV("virtual_alias_maps=lmdb:%s/virtual", f->dir);
	OV("virtual_mailbox_maps=lmdb:%s/vmaps", f->dir);
	OV("account_database=%s/accounts.lmdb", f->dir);
	OV("queue_directory=%s", f->dir);
	OV("allow_mail_to_commands=alias, forward");
	OV("allow_mail_to_files=alias");
	OV("virtual_uid_maps=static:%u", (unsigned)getuid());
	OV("virtual_gid_maps=static:%u", (unsigned)getgid());
#undef OV
	if (params_load(NULL, &ov, NULL, NULL, &e) < 0) {
		fprintf(stderr, "params: %s\n", e.msg);
		return -1;
	}
	strv_deinit(&ov);
	if (local_resolver_init(&f->r, &e) < 0) {
		fprintf(stderr, "resolver: %s\n", e.msg);
		return -1;
	}
	f->resolver_open = true;
	f->r.getpw = fake_getpw;
	/* Unit tests act as themselves, whoever runs them. */
	f->r.as_root = false;
	f->r.alias_uid = getuid();
	f->r.alias_gid = getgid();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	local_boxes_close();
	if (f->resolver_open)
		local_resolver_deinit(&f->r);
	unit_tmpdir_remove(f->dir);
	params_unload();
	free(f);
	return 0;
}

/* Expands addr into a printable summary, one target per line:
 * "<kind> <addr> <path|-> <status>". */
static char *expand(struct fx *f, const char *addr, struct local_msg *msg)
{
	struct local_expansion x;
	local_expansion_init(&x);
	f->r.msg = msg;
	local_resolve(&f->r, addr, &x);
	f->r.msg = NULL;
	struct buf b;
	buf_init(&b, 0);
	static const char *const kinds[] = {"maildir", "file", "command",
					    "forward"};
	static const char *const st[] = {"", " ok", " defer", " bounce"};
	if (x.status != LOCAL_PENDING)
		buf_printf(&b, "FAIL %s %s\n", x.dsn, buf_cstr(&x.reason));
	for (size_t i = 0; i < x.n; i++) {
		const struct local_target *t = &x.v[i];
		const char *path = t->path ? t->path : "-";
		if (t->path && strncmp(path, f->dir, strlen(f->dir)) == 0)
			path += strlen(f->dir);
		buf_printf(&b, "%s %s %s%s%s%s\n", kinds[t->kind], t->addr,
			   path, st[t->status], t->status ? " " : "",
			   t->status ? t->dsn : "");
	}
	local_expansion_deinit(&x);
	return buf_take(&b);
}

struct exp_case {
	const char *addr;
	const char *want;
};

static void check_cases(struct fx *f, const struct exp_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *got = expand(f, c[i].addr, NULL);
		if (strcmp(got, c[i].want) != 0)
			fail_msg("%s:\ngot:\n%swant:\n%s", c[i].addr, got,
				 c[i].want);
		free(got);
	}
}

static void expand_users(void **state)
{
	struct fx *f = *state;
	const struct exp_case cases[] = {
		{"alice@mail.example.test",
		 "maildir alice@mail.example.test /home/alice/Maildir/\n"},
		{"<Alice@MAIL.example.test>",
		 "maildir alice@mail.example.test /home/alice/Maildir/\n"},
		{"alice+tag@localhost",
		 "maildir alice+tag@localhost /home/alice/Maildir/\n"},
		{"nobody-here@mail.example.test",
		 "FAIL 5.1.1 unknown user: \"nobody-here\"\n"},
		{"sales@virt.test",
		 "maildir sales@virt.test /vmail/virt.test/sales/\n"},
		{"sales+x@virt.test",
		 "maildir sales+x@virt.test /vmail/virt.test/sales/\n"},
		{"who@virt.test", "FAIL 5.1.1 unknown user: \"who@virt.test\"\n"},
		{"evil@virt.test",
		 "FAIL 5.1.1 unknown user: \"evil@virt.test\"\n"},
		{"someone@remote.test", "forward someone@remote.test -\n"},
		{"no-at-sign", "FAIL 5.1.3 bad recipient address syntax\n"},
		{"x@alias-only.test",
		 "FAIL 5.1.1 unknown user: \"x@alias-only.test\"\n"},
	};
	check_cases(f, cases, sizeof(cases) / sizeof(cases[0]));
}

static void expand_aliases(void **state)
{
	struct fx *f = *state;
	const struct exp_case cases[] = {
		{"postmaster@mail.example.test",
		 "maildir alice@mail.example.test /home/alice/Maildir/\n"},
		{"team@mail.example.test",
		 "maildir alice@mail.example.test /home/alice/Maildir/\n"
		 "maildir bob@mail.example.test /home/bob/Maildir/\n"
		 "forward friend@remote.test -\n"},
		/* :include: with a command, refused for includes. */
		{"list@mail.example.test",
		 "maildir bob@mail.example.test /home/bob/Maildir/\n"
		 "maildir carol@mail.example.test /home/carol/Maildir/\n"
		 "forward ext@remote.test -\n"
		 "forward list@mail.example.test - bounce 5.7.1\n"},
		{"pipe@mail.example.test", NULL},
		{"file@mail.example.test", NULL},
		{"loop1@mail.example.test",
		 "FAIL 5.4.6 mail forwarding loop for "
		 "loop1@mail.example.test\n"},
		{"self@mail.example.test",
		 "forward self@mail.example.test - bounce 5.1.1\n"
		 "maildir bob@mail.example.test /home/bob/Maildir/\n"},
		{"root@mail.example.test",
		 "maildir alice@mail.example.test /home/alice/Maildir/\n"},
		{"ghost@mail.example.test",
		 "forward nosuchuser@mail.example.test - bounce 5.1.1\n"
		 "maildir bob@mail.example.test /home/bob/Maildir/\n"},
		{"allgone@mail.example.test",
		 "forward nosuchuser@mail.example.test - bounce 5.1.1\n"},
		/* Virtual aliases: self-reference, catch-all, loop. */
		{"info@virt.test",
		 "maildir sales@virt.test /vmail/virt.test/sales/\n"
		 "maildir info@virt.test /vmail/virt.test/info/\n"},
		{"anyone@alias.test",
		 "maildir bob@mail.example.test /home/bob/Maildir/\n"},
		{"x@virt.test",
		 "FAIL 5.4.6 mail forwarding loop for x@virt.test\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].want) {
			check_cases(f, &cases[i], 1);
			continue;
		}
		/* Command and file: paths carry the tmp dir. */
		char *got = expand(f, cases[i].addr, NULL);
		if (strncmp(cases[i].addr, "pipe", 4) == 0)
			assert_non_null(strstr(got, "command "
						    "pipe@mail.example.test "
						    "cat > "));
		else
			assert_non_null(strstr(got, "file file@mail.example.test "
						    "/filed\n"));
		free(got);
	}
	/* The self alias: "self" is no user, so it bounces as a member. */
}

static void expand_forward(void **state)
{
	struct fx *f = *state;
	char *p = xasprintf("%s/home/carol/.forward", f->dir);
	/* The last line: addresses qmgr would refuse in a forward list
	 * are dropped, or it would reject the whole reply (found by
	 * fuzz_local_forward); a quoted space is fine. */
	write_text(p, "# carol's forward\n\\carol, carol@remote.test\n"
		      "\"|exit 0\"\n"
		      "<x@remote.test, a b@remote.test, \"q r\"@remote.test\n");
	free(p);
	p = xasprintf("%s/home/dave/.forward", f->dir);
	write_text(p, "dave, /tmp/not-allowed\n");
	free(p);
	const struct exp_case cases[] = {
		{"carol@mail.example.test",
		 "maildir carol@mail.example.test /home/carol/Maildir/\n"
		 "forward carol@remote.test -\n"
		 "command carol@mail.example.test exit 0\n"
		 "forward \"q r\"@remote.test -\n"},
		{"dave@mail.example.test",
		 "maildir dave@mail.example.test /home/dave/Maildir/\n"
		 "forward dave@mail.example.test - bounce 5.7.1\n"},
	};
	check_cases(f, cases, 2);
	/* Loop detection through Delivered-To. */
	struct local_msg msg;
	const char *text = "Delivered-To: bob@mail.example.test\n\nbody\n";
	local_msg_set(&msg, text, strlen(text));
	char *got = expand(f, "bob@mail.example.test", &msg);
	assert_string_equal(got, "FAIL 5.4.6 mail forwarding loop for "
				 "bob@mail.example.test\n");
	free(got);
	got = expand(f, "team@mail.example.test", &msg);
	assert_string_equal(got,
			    "maildir alice@mail.example.test "
			    "/home/alice/Maildir/\n"
			    "forward bob@mail.example.test - bounce 5.4.6\n"
			    "forward friend@remote.test -\n");
	free(got);
	local_msg_deinit(&msg);
	/* An address for another host is that host's to check: it goes
	 * (and comes back bounced there, a loop ended in one round). */
	text = "Delivered-To: friend@remote.test\n\nbody\n";
	local_msg_set(&msg, text, strlen(text));
	got = expand(f, "team@mail.example.test", &msg);
	assert_string_equal(got,
			    "maildir alice@mail.example.test "
			    "/home/alice/Maildir/\n"
			    "maildir bob@mail.example.test /home/bob/Maildir/\n"
			    "forward friend@remote.test -\n");
	free(got);
	local_msg_deinit(&msg);
	/* A virtual alias is expanded here: checked. */
	text = "Delivered-To: info@virt.test\n\nbody\n";
	local_msg_set(&msg, text, strlen(text));
	got = expand(f, "info@virt.test", &msg);
	assert_string_equal(got, "FAIL 5.4.6 mail forwarding loop for "
				 "info@virt.test\n");
	free(got);
	local_msg_deinit(&msg);
}

/* ---- folding --------------------------------------------------------------- */

static void add(struct local_expansion *x, enum local_target_kind kind,
		const char *addr, enum local_status st, bool fwdable)
{
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 8;
		x->v = xrealloc(x->v, x->cap * sizeof(*x->v));
	}
	struct local_target *t = &x->v[x->n++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->addr = xstrdup(addr);
	t->status = st;
	t->member = true;
	t->forwardable = fwdable;
	snprintf(t->dsn, sizeof(t->dsn), "%s",
		 st == LOCAL_OK ? "2.0.0" : st == LOCAL_DEFER ? "4.2.2" : "5.1.1");
	t->reason = xstrdup(st == LOCAL_OK ? "delivered to maildir" : "bad");
}

struct fold_case {
	const char *name;
	const char *spec; /* per target: kind letter m/f/c, status o/d/b/p,
			     forwardable y/n */
	const char *result, *dsn, *forward;
};

static void fold(void **state)
{
	(void)state;
	const struct fold_case cases[] = {
		{"one ok", "moy", "sent", "2.0.0", ""},
		{"two ok", "moy moy", "sent", "2.0.0", ""},
		{"remote only", "fpy", "forward", "2.0.0", "a0"},
		{"local and remote", "moy fpy", "forward", "2.0.0", "a1"},
		{"member failed, other ok", "moy mdy", "forward", "2.0.0",
		 "a1"},
		{"member bounced, remote", "mby fpy", "forward", "2.0.0",
		 "a0\na1"},
		{"command failed, other ok", "moy cdn", "defer", "4.2.2", ""},
		{"all deferred", "mdy mdy", "defer", "4.2.2", ""},
		{"all bounced", "mby fby", "bounce", "5.1.1", ""},
		{"defer beats bounce", "mby mdy", "defer", "4.2.2", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fold_case *c = &cases[i];
		struct local_expansion x;
		local_expansion_init(&x);
		size_t k = 0;
		for (const char *p = c->spec; p[0]; p += p[3] ? 4 : 3, k++) {
			char addr[8];
			snprintf(addr, sizeof(addr), "a%zu", k);
			enum local_target_kind kind =
				p[0] == 'm' ? LOCAL_T_MAILDIR
				: p[0] == 'c' ? LOCAL_T_COMMAND
					      : LOCAL_T_FORWARD;
			enum local_status st = p[1] == 'o'   ? LOCAL_OK
					       : p[1] == 'd' ? LOCAL_DEFER
					       : p[1] == 'b' ? LOCAL_BOUNCE
							     : LOCAL_PENDING;
			add(&x, kind, addr, st, p[2] == 'y');
			if (!p[3])
				break;
		}
		struct local_rcpt rc = {0};
		buf_init(&rc.reason, LOCAL_TEXT_MAX);
		strv_init(&rc.forward);
		local_fold(&rc, &x);
		struct buf fw;
		buf_init(&fw, 0);
		for (size_t j = 0; j < rc.forward.n; j++)
			buf_printf(&fw, "%s%s", j ? "\n" : "", rc.forward.v[j]);
		if (strcmp(rc.result, c->result) != 0 ||
		    strcmp(rc.dsn, c->dsn) != 0 ||
		    strcmp(buf_cstr(&fw), c->forward) != 0)
			fail_msg("%s: got %s %s [%s], want %s %s [%s]", c->name,
				 rc.result, rc.dsn, buf_cstr(&fw), c->result,
				 c->dsn, c->forward);
		buf_deinit(&fw);
		buf_deinit(&rc.reason);
		strv_deinit(&rc.forward);
		local_expansion_deinit(&x);
	}
	/* The recipient's own failure wins. */
	struct local_expansion x;
	local_expansion_init(&x);
	local_expansion_fail(&x, LOCAL_BOUNCE, "5.4.6", "loop");
	struct local_rcpt rc = {0};
	buf_init(&rc.reason, LOCAL_TEXT_MAX);
	strv_init(&rc.forward);
	local_fold(&rc, &x);
	assert_string_equal(rc.result, "bounce");
	assert_string_equal(buf_cstr(&rc.reason), "loop");
	buf_deinit(&rc.reason);
	strv_deinit(&rc.forward);
	local_expansion_deinit(&x);
}

/* ---- whole deliveries ------------------------------------------------------- */

static char *read_all(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return NULL;
	char *b = xcalloc(1, 65536);
	size_t n = fread(b, 1, 65535, fp);
	b[n] = '\0';
	fclose(fp);
	return b;
}

/* The files in maildir/new: their paths (caller frees each and the
 * array), *n of them. */
static char **new_files(const char *maildir, int *n)
{
	char *nd = xasprintf("%s/new", maildir);
	DIR *d = opendir(nd);
	char **v = NULL;
	struct dirent *de;
	*n = 0;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		v = xrealloc(v, (size_t)(*n + 1) * sizeof(*v));
		v[(*n)++] = xasprintf("%s/%s", nd, de->d_name);
	}
	if (d)
		closedir(d);
	free(nd);
	return v;
}

/* The only message file in dir/new (NULL if not exactly one). */
static char *only_message(const char *maildir)
{
	int n;
	char **v = new_files(maildir, &n);
	char *text = n == 1 ? read_all(v[0]) : NULL;
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return text;
}

static void deliver_request(void **state)
{
	struct fx *f = *state;
	const char *body = "From: s@example.org\nSubject: t\n\nhello\n";
	struct local_msg msg;
	local_msg_set(&msg, body, strlen(body));
	struct ipc_msg m;
	ipc_msg_init(&m);
	ipc_msg_begin(&m, DELIVER_REQ_DELIVER);
	ipc_put_str(&m, DELIVER_ATTR_QUEUE_ID, "Q1");
	ipc_put_str(&m, DELIVER_ATTR_QUEUE_FILE, "queue/Q1");
	ipc_put_str(&m, DELIVER_ATTR_SENDER, "s@example.org");
	ipc_put_u64(&m, DELIVER_ATTR_ARRIVAL, 1);
	ipc_put_u64(&m, DELIVER_ATTR_SIZE, strlen(body));
	ipc_put_str(&m, DELIVER_ATTR_NEXTHOP, "x");
	const char *rcpts[] = {"sales@virt.test", "team@mail.example.test",
			       "pipe@mail.example.test",
			       "nobody-here@mail.example.test",
			       "bob@mail.example.test", "file@mail.example.test"};
	size_t n = sizeof(rcpts) / sizeof(rcpts[0]);
	ipc_put_u64(&m, DELIVER_ATTR_NRCPT, n);
	for (size_t i = 0; i < n; i++) {
		ipc_put_str(&m, DELIVER_ATTR_RCPT_ID, rcpts[i]);
		ipc_put_str(&m, DELIVER_ATTR_RCPT, rcpts[i]);
		ipc_put_str(&m, DELIVER_ATTR_ORCPT, "");
		ipc_put_str(&m, DELIVER_ATTR_NOTIFY, "");
	}
	struct local_request r;
	struct err e = {{0}};
	assert_int_equal(local_request_decode(&m, &r, &e), 0);
	local_deliver(&f->r, &r, &msg);
	assert_string_equal(r.rcpts[0].result, "sent");
	assert_string_equal(buf_cstr(&r.rcpts[0].reason),
			    "delivered to maildir");
	assert_string_equal(r.rcpts[1].result, "forward");
	assert_int_equal(r.rcpts[1].forward.n, 1);
	assert_string_equal(r.rcpts[1].forward.v[0], "friend@remote.test");
	assert_string_equal(r.rcpts[2].result, "sent");
	assert_non_null(strstr(buf_cstr(&r.rcpts[2].reason), "command"));
	assert_string_equal(r.rcpts[3].result, "bounce");
	assert_string_equal(r.rcpts[3].dsn, "5.1.1");
	assert_string_equal(r.rcpts[4].result, "sent"); /* shares team's */
	assert_string_equal(r.rcpts[5].result, "sent");
	/* The copies: headers in front, body byte-exact. */
	char *md = xasprintf("%s/vmail/virt.test/sales", f->dir);
	char *text = only_message(md);
	assert_non_null(text);
	char *want = xasprintf("Return-Path: <s@example.org>\n"
			       "Delivered-To: sales@virt.test\n%s",
			       body);
	assert_string_equal(text, want);
	free(text);
	free(want);
	free(md);
	/* bob got one copy although reached twice. */
	md = xasprintf("%s/home/bob/Maildir", f->dir);
	text = only_message(md);
	assert_non_null(text);
	assert_non_null(strstr(text, "Delivered-To: bob@mail.example.test\n"));
	free(text);
	/* It is indexed. */
	struct mbox *mb;
	struct mbox_folder *in;
	assert_int_equal(mbox_open(&mb, md, 0, &e), 1);
	assert_int_equal(mbox_folder_open(mb, "INBOX", &in, &e), 1);
	struct mbox_status st;
	assert_int_equal(mbox_folder_status(in, &st, &e), 0);
	assert_int_equal(st.exists, 1);
	assert_int_equal(st.uidnext, 2);
	mbox_folder_close(&in);
	mbox_close(&mb);
	free(md);
	/* The command got the message with the headers. */
	char *piped = xasprintf("%s/piped", f->dir);
	text = read_all(piped);
	assert_non_null(text);
	assert_true(strncmp(text, "Return-Path: <s@example.org>\n", 29) == 0);
	assert_non_null(strstr(text, "\n\nhello\n"));
	free(text);
	free(piped);
	/* The file got an mbox-format copy. */
	char *filed = xasprintf("%s/filed", f->dir);
	text = read_all(filed);
	assert_non_null(text);
	assert_true(strncmp(text, "From s@example.org ", 19) == 0);
	assert_non_null(strstr(text, "Delivered-To: file@mail.example.test\n"));
	free(text);
	free(filed);
	local_request_deinit(&r);
	ipc_msg_deinit(&m);
	local_msg_deinit(&msg);
}

/* A request for rcpts with the given message, decoded into r (m keeps
 * the strings). */
static void group_request(struct ipc_msg *m, struct local_request *r,
			  const char *qid, const char *const *rcpts, size_t n,
			  bool more, const char *dlvto)
{
	struct err e = {{0}};
	ipc_msg_init(m);
	ipc_msg_begin(m, DELIVER_REQ_DELIVER);
	ipc_put_str(m, DELIVER_ATTR_QUEUE_ID, qid);
	ipc_put_str(m, DELIVER_ATTR_QUEUE_FILE, "queue/x");
	ipc_put_str(m, DELIVER_ATTR_SENDER, "s@example.org");
	ipc_put_u64(m, DELIVER_ATTR_ARRIVAL, 1);
	ipc_put_u64(m, DELIVER_ATTR_SIZE, 1);
	ipc_put_str(m, DELIVER_ATTR_NEXTHOP, "x");
	if (more)
		ipc_put_str(m, DELIVER_ATTR_MORE, "1");
	if (dlvto)
		ipc_put_str(m, DELIVER_ATTR_DELIVERED_TO, dlvto);
	ipc_put_u64(m, DELIVER_ATTR_NRCPT, n);
	for (size_t i = 0; i < n; i++) {
		ipc_put_str(m, DELIVER_ATTR_RCPT_ID, rcpts[i]);
		ipc_put_str(m, DELIVER_ATTR_RCPT, rcpts[i]);
		ipc_put_str(m, DELIVER_ATTR_ORCPT, "");
		ipc_put_str(m, DELIVER_ATTR_NOTIFY, "");
	}
	assert_int_equal(local_request_decode(m, r, &e), 0);
}

/* Messages in maildir/new, and whether one of them holds text. */
static int count_new(const char *maildir, const char *text, bool *found)
{
	int n;
	char **v = new_files(maildir, &n);
	for (int i = 0; i < n; i++) {
		char *t = read_all(v[i]);
		if (t && strstr(t, text))
			*found = true;
		free(t);
		free(v[i]);
	}
	free(v);
	return n;
}

static uint32_t indexed(const char *maildir)
{
	struct mbox *mb;
	struct mbox_folder *in;
	struct mbox_status st;
	struct err e = {{0}};
	assert_int_equal(mbox_open(&mb, maildir, 0, &e), 1);
	assert_int_equal(mbox_folder_open(mb, "INBOX", &in, &e), 1);
	assert_int_equal(mbox_folder_status(in, &st, &e), 0);
	mbox_folder_close(&in);
	mbox_close(&mb);
	return st.exists;
}

/* A group: three requests, two messages for one mailbox, a mailbox that
 * cannot be made, an unknown user; each gets its own results, the copies
 * go where they belong. The mailbox stays open for the next group, and
 * one replaced on disk meanwhile is opened again. */
static void deliver_group(void **state)
{
	struct fx *f = *state;
	char *vdir = xasprintf("%s/vmail/virt.test", f->dir);
	char *broken = xasprintf("%s/brokenfile", vdir);
	char *sales = xasprintf("%s/sales", vdir);
	char *old = xasprintf("%s/sales.old", vdir);
	char *p = xasprintf("%s/vmail", f->dir);
	mkdir(p, 0700);
	free(p);
	mkdir(vdir, 0700);
	write_text(broken, "not a maildir\n");
	const char *ra[] = {"sales@virt.test", "broken@virt.test"};
	const char *rb[] = {"sales@virt.test"};
	const char *rc[] = {"nosuch@virt.test"};
	struct ipc_msg m[3];
	struct local_request r[3];
	struct local_msg msg[3];
	group_request(&m[0], &r[0], "QA", ra, 2, true, NULL);
	group_request(&m[1], &r[1], "QB", rb, 1, true, NULL);
	group_request(&m[2], &r[2], "QC", rc, 1, false, NULL);
	local_msg_set(&msg[0], "Subject: A\n\nbody A\n", 20);
	local_msg_set(&msg[1], "Subject: B\n\nbody B\n", 20);
	local_msg_set(&msg[2], "Subject: C\n\nbody C\n", 20);
	struct local_delivery d[3];
	for (int i = 0; i < 3; i++)
		d[i] = (struct local_delivery){&r[i], &msg[i]};
	local_deliver_group(&f->r, d, 3);
	assert_string_equal(r[0].rcpts[0].result, "sent");
	assert_string_equal(r[0].rcpts[1].result, "defer");
	assert_string_equal(r[0].rcpts[1].dsn, "4.3.0");
	assert_string_equal(r[1].rcpts[0].result, "sent");
	assert_string_equal(r[2].rcpts[0].result, "bounce");
	assert_string_equal(r[2].rcpts[0].dsn, "5.1.1");
	bool a = false, b = false;
	assert_int_equal(count_new(sales, "body A", &a), 2);
	assert_int_equal(count_new(sales, "body B", &b), 2);
	assert_true(a && b);
	assert_int_equal(indexed(sales), 2);
	for (int i = 0; i < 3; i++)
		local_request_deinit(&r[i]);
	/* The next group reuses the open mailbox. */
	struct err e = {{0}};
	assert_int_equal(local_request_decode(&m[1], &r[1], &e), 0);
	local_deliver_group(&f->r, d + 1, 1);
	assert_string_equal(r[1].rcpts[0].result, "sent");
	assert_int_equal(indexed(sales), 3);
	local_request_deinit(&r[1]);
	/* Replaced on disk: the kept handle is stale, the copy goes to the
	 * new maildir, not into the old one's index. */
	assert_int_equal(rename(sales, old), 0);
	assert_int_equal(local_request_decode(&m[1], &r[1], &e), 0);
	local_deliver_group(&f->r, d + 1, 1);
	assert_string_equal(r[1].rcpts[0].result, "sent");
	assert_int_equal(indexed(sales), 1);
	assert_int_equal(indexed(old), 3);
	for (int i = 0; i < 3; i++) {
		local_request_deinit(&r[i]);
		ipc_msg_deinit(&m[i]);
		local_msg_deinit(&msg[i]);
	}
	free(vdir);
	free(broken);
	free(sales);
	free(old);
}

/* A forwarded recipient (a request with a delivered-to chain): its
 * copies carry the chain under their own Delivered-To, what it forwards
 * gets its address in front of the chain, and a message that already
 * went through an address of the chain (it came back) bounces. */
static void deliver_forwarded(void **state)
{
	struct fx *f = *state;
	const char *body = "Subject: fwd\n\nhello\n";
	const char *rcpts[] = {"Team@mail.example.test"};
	struct ipc_msg m;
	struct local_request r;
	struct local_msg msg;
	local_msg_set(&msg, body, strlen(body));
	group_request(&m, &r, "QF", rcpts, 1, false, "a@one.test");
	local_deliver(&f->r, &r, &msg);
	assert_string_equal(r.rcpts[0].result, "forward");
	assert_string_equal(r.rcpts[0].forward.v[0], "friend@remote.test");
	assert_string_equal(r.rcpts[0].dlvto,
			    "team@mail.example.test\na@one.test");
	char *md = xasprintf("%s/home/alice/Maildir", f->dir);
	char *text = only_message(md);
	assert_non_null(text);
	char *want = xasprintf("Return-Path: <s@example.org>\n"
			       "Delivered-To: alice@mail.example.test\n"
			       "Delivered-To: a@one.test\n%s",
			       body);
	assert_string_equal(text, want);
	free(text);
	free(want);
	/* The reply carries the chain after the forward list. */
	struct ipc_msg reply;
	const char *v;
	ipc_msg_init(&reply);
	local_reply_build(&r, &reply);
	assert_int_equal(ipc_get_str(&reply, DELIVER_ATTR_DELIVERED_TO, &v),
			 1);
	assert_string_equal(v, "team@mail.example.test\na@one.test");
	assert_string_equal(reply.attrs[reply.nattrs - 1].name,
			    DELIVER_ATTR_DELIVERED_TO);
	ipc_msg_deinit(&reply);
	local_request_deinit(&r);
	ipc_msg_deinit(&m);
	local_msg_deinit(&msg);

	/* Back again: the message has a Delivered-To for the chain's
	 * address. Nothing is delivered. */
	body = "Delivered-To: A@One.test\nSubject: fwd\n\nhello\n";
	local_msg_set(&msg, body, strlen(body));
	group_request(&m, &r, "QG", rcpts, 1, false, "a@one.test");
	local_deliver(&f->r, &r, &msg);
	assert_string_equal(r.rcpts[0].result, "bounce");
	assert_string_equal(r.rcpts[0].dsn, "5.4.6");
	assert_string_equal(buf_cstr(&r.rcpts[0].reason),
			    "mail forwarding loop for a@one.test");
	assert_null(r.rcpts[0].dlvto);
	local_request_deinit(&r);
	ipc_msg_deinit(&m);
	local_msg_deinit(&msg);
	/* The expansion meets an address of its own chain: a loop too. */
	const char *bob[] = {"bob@mail.example.test"};
	local_msg_set(&msg, "\nx\n", 3);
	group_request(&m, &r, "QH", bob, 1, false,
		      "team@mail.example.test\nbob@mail.example.test");
	local_deliver(&f->r, &r, &msg);
	assert_string_equal(r.rcpts[0].result, "bounce");
	assert_string_equal(r.rcpts[0].dsn, "5.4.6");
	local_request_deinit(&r);
	ipc_msg_deinit(&m);
	local_msg_deinit(&msg);
	assert_int_equal(count_new(md, "x", &(bool){false}), 1);
	free(md);
}

/* The chain grows by one address a step, to QUEUE_DLVTO_MAX, oldest
 * dropped; a reply keeps each chain whole or defers its recipient. */
static void chain_bounds(void **state)
{
	(void)state;
	struct local_rcpt rc = {0};
	struct buf b;
	buf_init(&b, 0);
	for (int i = 0; i < QUEUE_DLVTO_MAX; i++)
		buf_printf(&b, "%sa%d@x.test", i ? "\n" : "", i);
	local_rcpt_chain(&rc, "top@x.test", buf_cstr(&b));
	assert_true(queue_dlvto_safe(rc.dlvto, strlen(rc.dlvto)));
	assert_true(strncmp(rc.dlvto, "top@x.test\na0@x.test\n", 21) == 0);
	assert_null(strstr(rc.dlvto, "a19@"));
	assert_non_null(strstr(rc.dlvto, "\na18@x.test"));
	free(rc.dlvto);
	rc.dlvto = NULL;
	local_rcpt_chain(&rc, NULL, "a@x.test");
	assert_null(rc.dlvto);
	local_rcpt_chain(&rc, "t@x.test", NULL);
	assert_string_equal(rc.dlvto, "t@x.test");
	free(rc.dlvto);
	buf_deinit(&b);

	/* DELIVER_RCPT_MAX forwarded recipients with chains: as many
	 * as the attribute limit holds keep theirs, the rest defer. */
	struct ipc_msg m, reply;
	struct local_request r;
	struct err e = {{0}};
	ipc_msg_init(&m);
	put_request(&m, DELIVER_RCPT_MAX, false);
	assert_int_equal(local_request_decode(&m, &r, &e), 0);
	for (size_t i = 0; i < r.nrcpt; i++) {
		local_rcpt_result(&r.rcpts[i], DELIVER_RESULT_FORWARD, "2.0.0",
				  "fw");
		strv_push(&r.rcpts[i].forward, "far@remote.test");
		local_rcpt_chain(&r.rcpts[i], r.rcpts[i].addr, NULL);
	}
	ipc_msg_init(&reply);
	local_reply_build(&r, &reply);
	assert_true(reply.nattrs <= IPC_ATTR_MAX);
	size_t chains = ipc_count(&reply, DELIVER_ATTR_DELIVERED_TO);
	assert_true(chains > 20);
	assert_int_equal(ipc_count(&reply, DELIVER_ATTR_RCPT_ID),
			 DELIVER_RCPT_MAX);
	size_t pos = 0, fw = 0, deferred = 0;
	const char *v;
	while (ipc_get_next(&reply, DELIVER_ATTR_RESULT, &pos, &v, NULL) == 1) {
		fw += strcmp(v, "forward") == 0;
		deferred += strcmp(v, "defer") == 0;
	}
	assert_int_equal(fw, chains);
	assert_int_equal(deferred, DELIVER_RCPT_MAX - chains);
	/* It encodes and decodes whole. */
	struct ipc_msg back;
	size_t used = 0;
	ipc_msg_init(&back);
	static const char term[4] = {0, 0, 0, 0};
	assert_int_equal(buf_append(&reply.wire, term, 4), 0);
	assert_int_equal(ipc_msg_decode(&back, reply.wire.data, reply.wire.len,
					&used, &e),
			 1);
	ipc_msg_deinit(&back);
	ipc_msg_deinit(&reply);
	local_request_deinit(&r);
	ipc_msg_deinit(&m);
}

static void command_outcomes(void **state)
{
	(void)state;
	struct local_msg msg;
	local_msg_set(&msg, "a\n", 2);
	struct {
		const char *cmd;
		enum local_status st;
		const char *dsn;
		const char *reason_has;
	} cases[] = {
		{"cat >/dev/null", LOCAL_OK, "2.0.0", "delivered to command"},
		{"exit 75", LOCAL_DEFER, "4.3.0", "status 75"},
		{"echo nope; exit 1", LOCAL_BOUNCE, "5.3.0", "Command output: nope"},
		{"kill -9 $$", LOCAL_DEFER, "4.3.0", "signal 9"},
		{"exit 0", LOCAL_OK, "2.0.0", "exit 0"}, /* stdin unread */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct local_target t = {.kind = LOCAL_T_COMMAND,
					 .path = (char *)cases[i].cmd,
					 .uid = getuid(), .gid = getgid()};
		local_command_run(&t, &msg, "X: y\n", 5, "s@x", "r@y", false);
		if (t.status != cases[i].st || strcmp(t.dsn, cases[i].dsn) ||
		    !strstr(t.reason, cases[i].reason_has))
			fail_msg("%s: got %d %s %s", cases[i].cmd, t.status,
				 t.dsn, t.reason);
		free(t.reason);
	}
	local_msg_deinit(&msg);
}

static void command_time_limit(void **state)
{
	struct fx *f = *state;
	(void)f;
	struct strv ov;
	struct err e = {{0}};
	strv_init(&ov);
	strv_push(&ov, "command_time_limit=1");
	assert_int_equal(params_load(NULL, &ov, NULL, NULL, &e), 0);
	strv_deinit(&ov);
	struct local_msg msg;
	local_msg_set(&msg, "a\n", 2);
	struct local_target t = {.kind = LOCAL_T_COMMAND,
				 .path = (char *)"sleep 30",
				 .uid = getuid(), .gid = getgid()};
	local_command_run(&t, &msg, "", 0, "s@x", "r@y", false);
	assert_int_equal(t.status, LOCAL_DEFER);
	assert_non_null(strstr(t.reason, "time limit"));
	free(t.reason);
	local_msg_deinit(&msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_decode),
		cmocka_unit_test(message_headers),
		cmocka_unit_test_setup_teardown(expand_users, setup, teardown),
		cmocka_unit_test_setup_teardown(expand_aliases, setup,
						teardown),
		cmocka_unit_test_setup_teardown(expand_forward, setup,
						teardown),
		cmocka_unit_test(fold),
		cmocka_unit_test_setup_teardown(deliver_request, setup,
						teardown),
		cmocka_unit_test_setup_teardown(deliver_group, setup,
						teardown),
		cmocka_unit_test_setup_teardown(deliver_forwarded, setup,
						teardown),
		cmocka_unit_test(chain_bounds),
		cmocka_unit_test_setup_teardown(command_outcomes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(command_time_limit, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
