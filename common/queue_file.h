/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_COMMON_QUEUE_FILE_H
#define POSTHORN_COMMON_QUEUE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/queue_id.h"

/*
 * The spool writer for producers (smtpd, pickup): a new message file
 * queue_directory/incoming/<queue id>, mode 0600, filled through a
 * buffer, then either finished (closed; qmgr makes it durable when it
 * commits the message) or aborted (unlinked).
 *
 * Stored format: the message exactly as it will be delivered, headers
 * (with the producer's Received: on top) then body, lines ending in a bare
 * LF. Why LF and not CRLF: LF is the maildir convention, so local copies a
 * queue file into a maildir without rewriting it (the common path on a
 * mailbox host); it is what every Unix tool expects; it saves a byte per
 * line; and every CRLF consumer (smtp, pop3d, imapd) must walk the lines
 * anyway (dot-stuffing, counting), so it adds the CR where it walks.
 * A message body that is not line-oriented (BINARYMIME) would have to be
 * stored byte-exact; that is the body type recorded in the envelope.
 * The producer converts CRLF to LF; this module writes bytes as given.
 *
 * Typical use:
 *   queue_file_create(&qf, params->queue_directory, &e);
 *   ... queue_file_write(qf, p, n, &e) ...
 *   queue_file_finish(qf, &e);       then qmgr_commit(env with
 *   queue_file_id(qf), size queue_file_size(qf)); on any failure
 *   queue_file_abort(&qf); on success queue_file_free(&qf).
 */
struct queue_file;

/* Creates incoming/<new id> (O_EXCL; a fresh id is tried if one exists).
 * 0, or -1 with e set. May block on local disk I/O. */
int queue_file_create(struct queue_file **out, const char *queue_dir,
                      struct err *e);
/* The queue id (also the file name). */
const char *queue_file_id(const struct queue_file *qf);
/* Bytes written so far (buffered ones included). */
uint64_t queue_file_size(const struct queue_file *qf);
/* Appends n bytes. 0, or -1 with e set (the file is then unusable:
 * abort it). */
int queue_file_write(struct queue_file *qf, const void *p, size_t n,
                     struct err *e);
/* Writes what is buffered and closes the file (no fsync: qmgr syncs the
 * whole batch). 0, or -1 with e set (then abort). */
int queue_file_finish(struct queue_file *qf, struct err *e);
/* Closes (if open) and unlinks incoming/<id>, frees *qfp and sets it to
 * NULL. Accepts NULL. Use after any failure, including a failed commit
 * (if qmgr already moved the file, the unlink finds nothing). */
void queue_file_abort(struct queue_file **qfp);
/* Frees *qfp after a successful commit, leaving the file alone (it is
 * qmgr's now). An unfinished file is aborted instead. Accepts NULL. */
void queue_file_free(struct queue_file **qfp);

#endif
