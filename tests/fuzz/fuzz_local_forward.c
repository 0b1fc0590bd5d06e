/* SPDX-License-Identifier: MIT */
/*
 * fuzz_local_forward.c - a user's .forward file (any local user writes
 * their own) and the recipient address it is expanded for, through
 * local_resolve()
 *
 * Input: the first line is the recipient address (it came from an SMTP
 * client); the rest becomes ~/.forward of the system users alice and
 * bob. Commands and files are allowed from aliases only, so nothing a
 * .forward says may become a command, a file or a maildir of its own
 * choosing. Checks what local_deliver.c and qmgr rely on: a pending
 * expansion has targets, a failed one a DSN of its class; at most
 * DELIVER_FORWARD_MAX targets; every target address is one qmgr accepts
 * back in a forward list (queue_addr_safe, no line break); maildirs are
 * only the fixed ones of alice, bob or the virtual account, owned as
 * expected; targets that failed carry a DSN and a reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/account.h"
#include "common/log.h"
#include "common/params.h"
#include "common/proto_deliver.h"
#include "common/queue_env.h"
#include "common/xalloc.h"
#include "local/local.h"
#include "../unit/unit_tmpdir.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static struct local_resolver resolver;
static struct local_msg msg;
static char *maildirs[3];

static int fake_getpw(const char *name, struct local_user *out)
{
	static const char *const users[] = {"alice", "bob"};
	for (size_t i = 0; i < 2; i++) {
		if (strcmp(name, users[i]) != 0)
			continue;
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", name);
		out->uid = 1000 + (uid_t)i;
		out->gid = 1000;
		snprintf(out->home, sizeof(out->home), "%s/home/%s", dir, name);
		snprintf(out->shell, sizeof(out->shell), "/bin/sh");
		return 1;
	}
	return 0;
}

static void cleanup(void)
{
	local_msg_deinit(&msg);
	local_resolver_deinit(&resolver);
	for (int i = 0; i < 3; i++)
		free(maildirs[i]);
	unit_tmpdir_remove(dir);
}

static void mkdir_in(const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	CHECK(mkdir(p, 0700) == 0);
	free(p);
}

static void setup(void)
{
	struct err e = {{0}};
	CHECK(unit_tmpdir_make(dir, sizeof(dir), "fuzz_local") == 0);
	atexit(cleanup);
	mkdir_in("home");
	mkdir_in("home/alice");
	mkdir_in("home/bob");
	struct strv ov;
	strv_init(&ov);
	char *o;
#define OV(...) (o = xasprintf(__VA_ARGS__), strv_push(&ov, o), free(o))
	OV("myhostname=mail.example.test");
	OV("mydomain=example.test");
	OV("myorigin=example.test");
	OV("mydestination=example.test, localhost");
	OV("virtual_mailbox_domains=virt.test");
	OV("virtual_mailbox_base=%s/vmail", dir);
	OV("virtual_mailbox_maps=inline:{ info@virt.test=virt.test/info/ }");
	OV("virtual_alias_maps=inline:{ sales@virt.test=info@virt.test }");
	OV("alias_maps=inline:{ postmaster=alice, team=bob }");
	OV("account_database=%s/accounts.lmdb", dir);
	OV("queue_directory=%s", dir);
	OV("allow_mail_to_commands=alias");
	OV("allow_mail_to_files=alias");
	OV("forward_path=$home/.forward");
	OV("virtual_uid_maps=static:2000");
	OV("virtual_gid_maps=static:2000");
#undef OV
	CHECK(params_load(NULL, &ov, NULL, NULL, &e) == 0);
	strv_deinit(&ov);
	(void)log_to_file("/dev/null");
	CHECK(local_resolver_init(&resolver, &e) == 0);
	resolver.getpw = fake_getpw;
	resolver.as_root = false;
	static const char text[] = "Delivered-To: bob@example.test\n"
				   "Subject: x\n\nbody\n";
	local_msg_set(&msg, text, sizeof(text) - 1);
	resolver.msg = &msg;
	maildirs[0] = xasprintf("%s/home/alice/Maildir/", dir);
	maildirs[1] = xasprintf("%s/home/bob/Maildir/", dir);
	maildirs[2] = xasprintf("%s/vmail/virt.test/info/", dir);
}

static void write_forward(const char *user, const uint8_t *p, size_t n)
{
	char *path = xasprintf("%s/home/%s/.forward", dir, user);
	FILE *f = fopen(path, "w");
	CHECK(f);
	CHECK(n == 0 || fwrite(p, 1, n, f) == n);
	CHECK(fclose(f) == 0);
	free(path);
}

static void check_target(const struct local_target *t)
{
	CHECK(t->addr && t->addr[0]);
	CHECK(queue_addr_safe(t->addr, strlen(t->addr)));
	switch (t->kind) {
	case LOCAL_T_MAILDIR: {
		int k = 0;
		while (k < 3 && strcmp(t->path, maildirs[k]) != 0)
			k++;
		CHECK(k < 3);
		CHECK(t->uid == (k < 2 ? 1000u + (unsigned)k : 2000u));
		break;
	}
	case LOCAL_T_FORWARD:
		break;
	default:
		abort(); /* commands and files: aliases only */
	}
	if (t->status != LOCAL_PENDING) {
		CHECK(t->status == LOCAL_DEFER || t->status == LOCAL_BOUNCE);
		CHECK(t->dsn[0] == (t->status == LOCAL_DEFER ? '4' : '5'));
		CHECK(t->reason);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t alen = nl ? (size_t)(nl - data) : size;
	const uint8_t *fw = nl ? nl + 1 : data + size;
	size_t fwlen = (size_t)(data + size - fw);
	if (memchr(data, 0, alen))
		return 0; /* the address arrives as a C string */
	char *addr = xstrndup((const char *)data, alen);
	write_forward("alice", fw, fwlen);
	write_forward("bob", fw, fwlen);

	struct local_expansion x;
	local_expansion_init(&x);
	local_resolve(&resolver, addr, &x);
	CHECK(x.n <= DELIVER_FORWARD_MAX);
	if (x.status == LOCAL_PENDING) {
		CHECK(x.n >= 1);
	} else {
		CHECK(x.status == LOCAL_DEFER || x.status == LOCAL_BOUNCE);
		CHECK(x.dsn[0] == (x.status == LOCAL_DEFER ? '4' : '5'));
	}
	for (size_t i = 0; i < x.n; i++)
		check_target(&x.v[i]);
	local_expansion_deinit(&x);
	free(addr);
	return 0;
}
