/* SPDX-License-Identifier: MIT */
/*
 * queue_list.c - the mailq listing of the queue index (queue_list.h)
 *
 * Read transactions are renewed every few hundred messages so a long
 * listing does not pin old index pages while qmgr keeps writing.
 */
#include "common/queue_list.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/queue_index.h"
#include "common/xalloc.h"

#define TXN_BATCH 256

static void print_rcpt(FILE *out, const struct queue_rcpt *r)
{
	switch (r->status) {
	case QUEUE_RCPT_PENDING:
		fprintf(out, "%47s%s\n", "", r->address);
		break;
	case QUEUE_RCPT_DEFERRED:
		fprintf(out, "%47s(%s%s%s)\n", "", r->dsn ? r->dsn : "",
		        r->dsn ? " " : "", r->reason ? r->reason : "deferred");
		fprintf(out, "%47s%s\n", "", r->address);
		break;
	default:
		break; /* done with (sent or returned): not listed, as in
		          Postfix's mailq */
	}
}

static void print_message(FILE *out, const struct queue_envelope *env)
{
	char when[32];
	time_t t = (time_t)(env->arrival_us / 1000000);
	struct tm tm;
	(void)strftime(when, sizeof(when), "%a %b %e %H:%M:%S",
	               localtime_r(&t, &tm));
	fprintf(out, "%s%c %8" PRIu64 " %-20.20s %s\n", env->queue_id,
	        env->hold ? '!' : ' ', env->size, when,
	        env->sender[0] ? env->sender : "MAILER-DAEMON");
	for (size_t i = 0; i < env->nrcpt; i++)
		print_rcpt(out, &env->rcpts[i]);
	fputc('\n', out);
}

int queue_list_print(FILE *out, const char *queue_dir, int *denied,
                     struct err *e)
{
	struct db_env *env;
	struct db_txn *txn = NULL;
	char id[QUEUE_ID_SIZE] = "";
	uint64_t bytes = 0, count = 0;
	*denied = 0;
	/* The index directory is mail_owner's 0700: tell "not allowed"
	 * apart from "broken" so mailq can ask showq instead. */
	char *dir = xasprintf("%s/%s", queue_dir, QUEUE_INDEX_NAME);
	if (access(dir, R_OK | X_OK) < 0 && errno == EACCES) {
		err_set(e, "%s: %s", dir, strerror(errno));
		*denied = 1;
		free(dir);
		return -1;
	}
	free(dir);
	int rc = queue_index_open(&env, queue_dir, true, e);
	if (rc < 0)
		return -1;
	struct arena *a = arena_new();
	while (rc == 1) {
		if (!txn && db_read_begin(env, &txn, e) < 0) {
			rc = -1;
			break;
		}
		rc = queue_index_next(txn, id, e);
		if (rc != 1)
			break;
		struct queue_envelope m;
		struct err ge;
		arena_reset(a);
		int got = queue_index_get(txn, id, a, true, &m, &ge);
		if (got < 0) {
			fprintf(out, "%s  (unreadable index entry: %s)\n\n", id,
			        ge.msg);
		} else if (got == 1) {
			if (count == 0)
				fprintf(out, "-Queue ID------  --Size-- "
				             "----Arrival Time---- "
				             "-Sender/Recipient-------\n");
			print_message(out, &m);
			bytes += m.size;
			count++;
		}
		if (count % TXN_BATCH == 0)
			db_txn_end(&txn);
	}
	db_txn_end(&txn);
	arena_free(&a);
	if (env)
		db_close(&env);
	if (rc < 0)
		return -1;
	if (count == 0)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out,
		        "-- %" PRIu64 " Kbytes in %" PRIu64 " Request%s.\n",
		        (bytes + 1023) / 1024, count, count == 1 ? "" : "s");
	return 0;
}
