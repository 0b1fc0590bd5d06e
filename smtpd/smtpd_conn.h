/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_SMTPD_SMTPD_CONN_H
#define POSTHORN_SMTPD_SMTPD_CONN_H

/*
 * State shared by all smtpd processes of an instance, for limits that
 * one-client processes cannot count alone:
 *   - sessions per client address (smtpd_client_connection_count_limit);
 *   - recent AUTH failures per client address (the growing
 *     smtpd_auth_failure_delay).
 * Kept in one small file, queue_directory/pid/smtpd.clients, mapped
 * shared by every smtpd; see smtpd_conn.c for the layout and why it
 * stays right after crashes.
 */

/* Opens (creating) the table; in init_privileged, so the file can live
 * in the root-owned pid/ directory. Failure is logged, and the limits
 * are then not enforced. */
void smtpd_conn_open(void);
/* Records that this process serves a client from addr. Returns the
 * number of live sessions from addr, this one included; 0 when the
 * table is unusable; -1 when it is full (more sessions than slots). */
int smtpd_conn_enter(const char *addr);
/* The session ended (also fine without a matching enter). */
void smtpd_conn_leave(void);
/* Counts an AUTH failure from addr; returns the client's recent
 * failures, this one included (1 when the table is unusable). */
unsigned smtpd_conn_auth_failed(const char *addr);
/* A successful AUTH clears the client's failures. */
void smtpd_conn_auth_ok(const char *addr);

#endif
