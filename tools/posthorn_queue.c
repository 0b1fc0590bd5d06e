/* SPDX-License-Identifier: MIT */
/*
 * posthorn_queue.c - `posthorn queue list | show ID`, and mailq
 *
 * Lists the queue (common/queue_list.h) by reading the index read-only
 * (qmgr is its only writer); a user who may not read the index (a real
 * installation keeps it mail_owner's) gets the same listing from the
 * showq service (qmgr's second mode), as Postfix's mailq does.
 * Changing the queue (flush, delete, hold, release, requeue) is a request
 * to qmgr over private/qmgr (proto_qmgr.h), since qmgr is the index's
 * only writer: one request per message id, or ALL.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/params.h"
#include "common/proto_qmgr.h"
#include "common/net.h"
#include "common/queue_index.h"
#include "common/queue_list.h"
#include "common/xalloc.h"
#include "tools/posthorn_cmd.h"

/* Copies what showq sends (the same listing, made by a process that may
 * read the index) to out. 0, or -1 with an error printed. */
static int list_via_showq(FILE *out)
{
	struct err e;
	char *path = xasprintf("%s/%s", params->queue_directory,
	                       QUEUE_LIST_SOCKET);
	int fd = net_connect_unix(path, &e);
	free(path);
	if (fd < 0) {
		log_error("%s (is the mail system running, with a showq "
		          "service in master.cf?)",
		          e.msg);
		return -1;
	}
	int timeout_ms = (int)(params->ipc_timeout * 1000);
	char buf[65536];
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);
		if (r <= 0) {
			log_error("showq: %s",
			          r == 0 ? "timed out" : strerror(errno));
			close(fd);
			return -1;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("showq: read: %s", strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
			break;
	}
	close(fd);
	return 0;
}

int posthorn_queue_list(FILE *out)
{
	struct err e;
	int denied;
	if (queue_list_print(out, params->queue_directory, &denied, &e) == 0)
		return 0;
	if (denied)
		return list_via_showq(out);
	log_error("%s", e.msg);
	return -1;
}

static const char *iso_time(char *out, size_t size, time_t t)
{
	struct tm tm;
	if (strftime(out, size, "%Y-%m-%d %H:%M:%S %z", localtime_r(&t, &tm)) ==
	    0)
		out[0] = 0;
	return out;
}

static void show_envelope(const struct queue_envelope *m)
{
	char when[64];
	const struct {
		const char *label, *value;
	} opt[] = {
	        {"helo", m->helo},
	        {"protocol", m->protocol},
	        {"sasl_username", m->sasl_user},
	        {"envid", m->envid},
	        {"ret",
	         m->ret != QUEUE_RET_DEFAULT ? queue_ret_name(m->ret) : NULL},
	};
	printf("queue_id: %s\narrival: %s\nsize: %" PRIu64 "\nsender: <%s>\n",
	       m->queue_id,
	       iso_time(when, sizeof(when), (time_t)(m->arrival_us / 1000000)),
	       m->size, m->sender);
	if (m->client_name || m->client_addr)
		printf("client: %s[%s]\n", m->client_name ? m->client_name : "",
		       m->client_addr ? m->client_addr : "");
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (opt[i].value)
			printf("%s: %s\n", opt[i].label, opt[i].value);
	printf("body: %s%s%s%s\n", queue_body_name(m->body),
	       m->smtputf8 ? " smtputf8" : "", m->hold ? " hold" : "",
	       m->bounce ? " bounce" : "");
	printf("next_attempt: %s\n",
	       iso_time(when, sizeof(when), (time_t)m->next_attempt));
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpts[i];
		printf("recipient: <%s> status=%s attempts=%" PRIu32,
		       r->address, queue_rcpt_status_name(r->status),
		       r->attempts);
		if (r->notify)
			printf(" notify=%u", r->notify);
		if (r->orcpt)
			printf(" orcpt=%s", r->orcpt);
		if (r->dsn)
			printf(" dsn=%s", r->dsn);
		if (r->reason)
			printf(" reason=\"%s\"", r->reason);
		printf("\n");
	}
}

static int show(const char *id)
{
	struct db_env *env;
	struct db_txn *txn;
	struct err e;
	struct queue_envelope m;
	if (!queue_id_valid(id, strlen(id))) {
		log_error("%s: not a queue id", id);
		return 1;
	}
	int rc = queue_index_open(&env, params->queue_directory, true, &e);
	if (rc <= 0) {
		if (rc == 0)
			log_error("%s: no such message", id);
		else
			log_error("%s", e.msg);
		return 1;
	}
	struct arena *a = arena_new();
	rc = db_read_begin(env, &txn, &e) < 0
	             ? -1
	             : queue_index_get(txn, id, a, true, &m, &e);
	if (rc == 1)
		show_envelope(&m);
	db_txn_end(&txn);
	db_close(&env);
	arena_free(&a);
	if (rc <= 0) {
		if (rc == 0)
			log_error("%s: no such message", id);
		else
			log_error("%s", e.msg);
		return 1;
	}
	char *path = xasprintf("%s/queue/%s", params->queue_directory, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("open %s: %s", path, strerror(errno));
		free(path);
		return 1;
	}
	free(path);
	printf("\n");
	fflush(stdout);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	close(fd);
	return 0;
}

/* What each verb did, for the summary line. */
static const struct {
	const char *verb, *done;
} admin_verbs[] = {
        {QMGR_REQ_FLUSH, "Flushed"},     {QMGR_REQ_DELETE, "Deleted"},
        {QMGR_REQ_HOLD, "Placed on hold"}, {QMGR_REQ_RELEASE, "Released"},
        {QMGR_REQ_REQUEUE, "Requeued"},
};

/* Sends one request; adds the messages changed to *count. 0, or 1 with
 * a message printed. */
static int admin_call(struct ipc_client *c, const char *verb, const char *id,
                      uint64_t *count)
{
	struct ipc_msg req, reply;
	struct err e;
	uint64_t n = 0;
	int rc = 1;
	ipc_msg_init(&req);
	ipc_msg_init(&reply);
	ipc_msg_begin(&req, verb);
	if (id)
		(void)ipc_put_str(&req, QMGR_ATTR_QUEUE_ID, id);
	if (ipc_call(c, &req, &reply, &e) < 0)
		log_error("%s", e.msg);
	else if (!ipc_status_ok(&reply))
		log_error("%s%s%s", id ? id : "", id ? ": " : "",
		          ipc_reason(&reply)[0] ? ipc_reason(&reply)
		                                : ipc_status(&reply));
	else if (ipc_get_u64(&reply, QMGR_ATTR_COUNT, 0, UINT64_MAX, &n) != 1)
		log_error("qmgr's reply has no count");
	else
		rc = 0;
	*count += n;
	ipc_msg_deinit(&req);
	ipc_msg_deinit(&reply);
	return rc;
}

static int admin(const char *verb, const char *done, int nids, char **ids)
{
	struct ipc_client c;
	struct err e;
	uint64_t count = 0;
	int rc = 0;
	char *path = xasprintf("%s/%s", params->queue_directory, QMGR_SOCKET);
	if (ipc_client_connect(&c, path, QMGR_PROTO, QMGR_PROTO_VERSION,
	                       (int)(params->ipc_timeout * 1000), &e) < 0) {
		log_error("%s (is the mail system running?)", e.msg);
		free(path);
		return 1;
	}
	free(path);
	if (nids == 0)
		rc = admin_call(&c, verb, NULL, &count);
	for (int i = 0; i < nids; i++)
		rc |= admin_call(&c, verb, ids[i], &count);
	ipc_client_close(&c);
	printf("%s: %" PRIu64 " message%s\n", done, count,
	       count == 1 ? "" : "s");
	return rc;
}

int cmd_queue(struct posthorn_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return posthorn_queue_list(stdout) == 0 ? 0 : 1;
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return show(argv[2]);
	for (size_t i = 0; argc >= 2 && i < sizeof(admin_verbs) /
	                                        sizeof(admin_verbs[0]);
	     i++) {
		if (strcmp(argv[1], admin_verbs[i].verb) != 0)
			continue;
		bool flush = strcmp(argv[1], QMGR_REQ_FLUSH) == 0;
		if (flush ? argc != 2 : argc < 3)
			break;
		return admin(admin_verbs[i].verb, admin_verbs[i].done,
		             argc - 2, argv + 2);
	}
	fprintf(stderr, "usage: posthorn queue list | show ID | flush |\n"
	                "       delete ID...|ALL | hold ID...|ALL |\n"
	                "       release ID...|ALL | requeue ID...|ALL\n");
	return 2;
}
