/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtpd_session.c - a whole SMTP session with a client that sends
 * any bytes: command splitting and verb lookup, the state table, every
 * command handler (HELO/EHLO, MAIL/RCPT with their parameters and the
 * recipient checks, DATA and BDAT, VRFY, RSET, HELP ...) and AUTH with
 * its continuation lines (PLAIN and LOGIN through Cyrus SASL against a
 * real account map)
 *
 * Byte 0: bit 0 puts the client in mynetworks; the rest is what the
 * client sends, then it closes its side. smtpd_session_run() serves it
 * in this process over a socketpair while a thread writes the input and
 * collects the replies. No qmgr listens, so a finished message is
 * refused (451) and its queue file must be removed. Checks: the session
 * ends; every reply line is "ddd" + space or "-" + text + CRLF with a
 * code in 200..599 and no other control byte, a multi-line reply keeps
 * one code, and the last line of each reply ends with a space; nothing
 * follows a 221 or 421; incoming/ is empty afterwards.
 */
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/account.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/params.h"
#include "common/service.h"
#include "common/str.h"
#include "common/xalloc.h"
#include "smtpd/smtpd_cmd.h"
#include "smtpd/smtpd_rcpt.h"
#include "smtpd/smtpd_session.h"
#include "../unit/unit_tmpdir.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUTPUT_MAX (8u << 20)

static char dir[64];
static struct account_db *accounts;

static void cleanup(void)
{
	smtpd_auth_deinit();
	smtpd_rcpt_deinit();
	account_close(&accounts);
	unit_tmpdir_remove(dir);
}

static void setup(void)
{
	struct err e;
	struct strv ov;
	CHECK(unit_tmpdir_make(dir, sizeof(dir), "fuzz_smtpd") == 0);
	atexit(cleanup);
	char *p = xasprintf("%s/incoming", dir);
	CHECK(mkdir(p, 0700) == 0);
	free(p);
	strv_init(&ov);
	char *q = xasprintf("queue_directory=%s", dir);
	strv_push(&ov, q);
	free(q);
	q = xasprintf("account_database=%s/accounts.lmdb", dir);
	strv_push(&ov, q);
	free(q);
	static const char *const set[] = {
		"myhostname=mx.example.test",
		"mydomain=example.test",
		"mydestination=example.test, localhost",
		"mynetworks=127.0.0.0/8",
		"virtual_mailbox_domains=virt.example",
		"local_recipient_maps=inline:{ alice=1, bob=1, postmaster=1 }",
		"alias_maps=",
		"message_size_limit=20000",
		"smtpd_recipient_limit=5",
		"smtpd_error_sleep_time=0",
		"smtpd_auth_failure_delay=0",
		"smtpd_peername_lookup=no",
		"smtpd_tls_security_level=none",
		"smtpd_tls_auth_only=no",
		"smtpd_sasl_auth_enable=yes",
		"smtpd_timeout=5s",
		"smtpd_data_timeout=5s",
		"smtpd_commit_timeout=1s",
	};
	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		strv_push(&ov, set[i]);
	CHECK(params_load(NULL, &ov, NULL, NULL, &e) == 0);
	strv_deinit(&ov);
	if (!getenv("FUZZ_SHOW_REPLIES"))
		(void)log_to_file("/dev/null");
	struct account_secret sec = {"secret", 6, 0};
	CHECK(account_open(&accounts, params->account_database, ACCOUNT_CREATE,
			   &e) == 0);
	CHECK(account_add(accounts, "alice@virt.example", &sec, &e) == 1);
	smtpd_rcpt_init(accounts);
	smtpd_auth_init(accounts);
}

/* The client: writes the input, then closes its sending side, and reads
 * every reply until the server closes. */
struct client {
	int fd;
	const uint8_t *in;
	size_t len;
	struct buf out;
	bool truncated;
};

static void *client_run(void *arg)
{
	struct client *c = arg;
	size_t sent = 0;
	bool wr_open = true;
	char tmp[16384];
	if (c->len == 0) {
		(void)shutdown(c->fd, SHUT_WR);
		wr_open = false;
	}
	for (;;) {
		struct pollfd p = {.fd = c->fd,
				   .events = POLLIN | (wr_open ? POLLOUT : 0)};
		if (poll(&p, 1, -1) < 0)
			continue;
		if (p.revents & POLLOUT && wr_open) {
			ssize_t n = send(c->fd, c->in + sent, c->len - sent,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			if (n < 0 || sent == c->len) {
				(void)shutdown(c->fd, SHUT_WR);
				wr_open = false;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && !(p.revents & POLLIN)))
				break;
			if (n > 0 && buf_append(&c->out, tmp, (size_t)n) < 0)
				c->truncated = true;
		}
	}
	/* The server has closed: a linger must not wait for our EOF. */
	if (wr_open)
		(void)shutdown(c->fd, SHUT_WR);
	return NULL;
}

static void check_replies(const struct buf *out, bool truncated)
{
	const char *p = out->data, *end = p + out->len;
	bool open = false, closed = false;
	int code = 0;
	while (p < end) {
		CHECK(!closed);
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			CHECK(truncated);
			return;
		}
		size_t len = (size_t)(nl - p);
		CHECK(len >= 5 && p[len - 1] == '\r');
		for (int i = 0; i < 3; i++)
			CHECK(p[i] >= '0' && p[i] <= '9');
		int c = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		CHECK(c >= 200 && c <= 599);
		CHECK(p[3] == ' ' || p[3] == '-');
		CHECK(!open || c == code);
		for (size_t i = 4; i < len - 1; i++)
			CHECK((unsigned char)p[i] >= 32 && p[i] != 127);
		open = p[3] == '-';
		code = c;
		if (!open && (c == 221 || c == 421))
			closed = true;
		p = nl + 1;
	}
	CHECK(!open || truncated);
}

static void check_incoming_empty(void)
{
	char *p = xasprintf("%s/incoming", dir);
	DIR *d = opendir(p);
	CHECK(d);
	struct dirent *de;
	while ((de = readdir(d)))
		CHECK(strcmp(de->d_name, ".") == 0 ||
		      strcmp(de->d_name, "..") == 0);
	closedir(d);
	free(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int fds[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	struct client cl = {.fd = fds[1], .in = data + 1, .len = size - 1};
	buf_init(&cl.out, OUTPUT_MAX);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, client_run, &cl) == 0);

	struct service_client sc;
	memset(&sc, 0, sizeof(sc));
	sc.fd = fds[0];
	(void)snprintf(sc.peer.addr, sizeof(sc.peer.addr), "%s",
		       data[0] & 1 ? "127.0.0.1" : "192.0.2.1");
	(void)snprintf(sc.peer.port, sizeof(sc.peer.port), "40000");
	sc.peer.family = AF_INET;
	(void)snprintf(sc.local.addr, sizeof(sc.local.addr), "192.0.2.25");
	(void)snprintf(sc.local.port, sizeof(sc.local.port), "25");
	sc.local.family = AF_INET;
	sc.service = "smtp";
	sc.inet = false; /* no client name lookup */
	smtpd_session_run(&sc, NULL);
	close(fds[0]);
	CHECK(pthread_join(th, NULL) == 0);
	close(fds[1]);
	if (getenv("FUZZ_SHOW_REPLIES"))
		(void)fwrite(cl.out.data, 1, cl.out.len, stderr);
	check_replies(&cl.out, cl.truncated);
	check_incoming_empty();
	buf_deinit(&cl.out);
	return 0;
}
