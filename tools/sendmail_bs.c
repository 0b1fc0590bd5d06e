/* SPDX-License-Identifier: MIT */
/*
 * sendmail_bs.c - `sendmail -bs`: SMTP on standard input and output
 *
 * Programs that speak SMTP to a local mailer (some MUAs, cron helpers)
 * run `sendmail -bs`. This is a small RFC 5321 server for that one
 * trusted local user: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, with
 * dot-unstuffing; each message goes to pickup like any other local
 * submission, so the reply to the final dot is sent only after qmgr has
 * made it durable. No relay checks: the user could run plain sendmail.
 */
#include <stdlib.h>
#include <string.h>

#include "common/params.h"
#include "common/queue_id.h"
#include "common/str.h"
#include "tools/sendmail.h"

#define LINE_MAX_BS 4096

struct bs {
	FILE *in, *out;
	const struct sendmail_opts *o;
	char *sender; /* NULL: no MAIL yet */
	struct strv rcpts;
};

static void say(struct bs *b, const char *text)
{
	fprintf(b->out, "%s\r\n", text);
	fflush(b->out);
}

static void reset(struct bs *b)
{
	free(b->sender);
	b->sender = NULL;
	strv_deinit(&b->rcpts);
	strv_init(&b->rcpts);
}

/* The address inside <...> after "FROM:" / "TO:"; parameters ignored. */
static char *path_arg(const char *arg)
{
	while (*arg == ' ')
		arg++;
	const char *lt = strchr(arg, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!lt || !gt)
		return NULL;
	return strndup(lt + 1, (size_t)(gt - lt - 1));
}

/* Reads DATA until the lone dot, unstuffing; LF line ends. */
static int read_data(struct bs *b, struct buf *msg, bool *too_big)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	*too_big = false;
	while ((n = getline(&line, &cap, b->in)) > 0) {
		size_t len = (size_t)n;
		if (line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len == 1 && line[0] == '.') {
			free(line);
			return 0;
		}
		const char *p = line;
		if (len > 0 && line[0] == '.') {
			p++;
			len--;
		}
		if (msg->len + len + 1 > b->o->max_size)
			*too_big = true;
		if (!*too_big) {
			(void)buf_append(msg, p, len);
			(void)buf_append_char(msg, '\n');
		}
	}
	free(line);
	return -1;
}

static void do_data(struct bs *b)
{
	struct buf raw, msg;
	struct strv none;
	struct err e;
	bool too_big;
	char qid[QUEUE_ID_SIZE], reply[512];
	if (!b->sender || b->rcpts.n == 0) {
		say(b, b->sender ? "554 5.5.1 Error: no valid recipients"
		                 : "503 5.5.1 Error: need RCPT command");
		return;
	}
	say(b, "354 End data with <CR><LF>.<CR><LF>");
	buf_init(&raw, 0);
	buf_init(&msg, 0);
	strv_init(&none);
	if (read_data(b, &raw, &too_big) < 0) {
		buf_deinit(&raw);
		buf_deinit(&msg);
		exit(75);
	}
	struct sendmail_opts o = *b->o;
	o.extract = false;
	o.from_addr = b->sender[0] ? b->sender : o.from_addr;
	if (too_big) {
		say(b, "552 5.3.4 Error: message file too big");
	} else if (sendmail_rewrite(raw.data ? raw.data : "", raw.len, &o, &msg,
	                            &none, &e) < 0) {
		snprintf(reply, sizeof(reply), "552 5.3.4 Error: %.400s",
		         e.msg);
		say(b, reply);
	} else {
		int rc = sendmail_submit(msg.data, msg.len, b->sender,
		                         &b->rcpts, NULL, qid, &e);
		if (rc == 0)
			snprintf(reply, sizeof(reply),
			         "250 2.0.0 Ok: queued as %s", qid);
		else
			snprintf(reply, sizeof(reply), "%s Error: %.400s",
			         rc == -2 ? "554 5.3.0" : "451 4.3.0", e.msg);
		say(b, reply);
	}
	buf_deinit(&raw);
	buf_deinit(&msg);
	strv_deinit(&none);
	reset(b);
}

static bool command(const char *line, const char *verb)
{
	return str_prefix_nocase(line, strlen(line), verb);
}

int sendmail_smtp(FILE *in, FILE *out, const struct sendmail_opts *o)
{
	struct bs b = {.in = in, .out = out, .o = o};
	char *line = NULL, reply[512];
	size_t cap = 0;
	ssize_t n;
	strv_init(&b.rcpts);
	snprintf(reply, sizeof(reply), "220 %s ESMTP %s", params->myhostname,
	         params->mail_name);
	say(&b, reply);
	while ((n = getline(&line, &cap, in)) > 0) {
		if (n > LINE_MAX_BS) {
			say(&b, "500 5.5.0 Error: line too long");
			continue;
		}
		line[strcspn(line, "\r\n")] = 0;
		if (command(line, "EHLO")) {
			snprintf(reply, sizeof(reply),
			         "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n"
			         "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES",
			         params->myhostname,
			         (unsigned long long)o->max_size);
			say(&b, reply);
		} else if (command(line, "HELO")) {
			snprintf(reply, sizeof(reply), "250 %s",
			         params->myhostname);
			say(&b, reply);
		} else if (command(line, "MAIL FROM:")) {
			char *a = path_arg(line + 10);
			if (b.sender)
				say(&b, "503 5.5.1 Error: nested MAIL command");
			else if (!a)
				say(&b, "501 5.1.7 Bad sender address syntax");
			else {
				b.sender = a;
				a = NULL;
				say(&b, "250 2.1.0 Ok");
			}
			free(a);
		} else if (command(line, "RCPT TO:")) {
			char *a = path_arg(line + 8);
			if (!b.sender)
				say(&b, "503 5.5.1 Error: need MAIL command");
			else if (!a || !a[0])
				say(&b,
				    "501 5.1.3 Bad recipient address syntax");
			else {
				strv_push(&b.rcpts, a);
				say(&b, "250 2.1.5 Ok");
			}
			free(a);
		} else if (command(line, "DATA")) {
			do_data(&b);
		} else if (command(line, "RSET")) {
			reset(&b);
			say(&b, "250 2.0.0 Ok");
		} else if (command(line, "NOOP")) {
			say(&b, "250 2.0.0 Ok");
		} else if (command(line, "QUIT")) {
			say(&b, "221 2.0.0 Bye");
			break;
		} else {
			say(&b, "502 5.5.2 Error: command not recognized");
		}
	}
	free(line);
	reset(&b);
	strv_deinit(&b.rcpts);
	return 0;
}
