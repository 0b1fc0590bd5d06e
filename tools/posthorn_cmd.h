/* SPDX-License-Identifier: MIT */
#ifndef POSTHORN_TOOLS_POSTHORN_CMD_H
#define POSTHORN_TOOLS_POSTHORN_CMD_H

/*
 * The subcommands of `posthorn`, one function each, called by the
 * dispatcher in posthorn.c after it has parsed the global options.
 * argv[0] is the subcommand name; the return value is the exit status
 * (0 ok, 1 failure, 2 bad usage). The lead merges the other commands'
 * prototypes into this header.
 */
struct posthorn_ctx {
	const char *config_dir; /* -c DIR, $POSTHORN_CONFIG or the default */
	int verbose;
};

/* posthorn config [-d|-n] [-x] [name ...] | name=value ... | -X name ... */
int cmd_config(struct posthorn_ctx *ctx, int argc, char **argv);
/* posthorn check: every problem in main.cf, master.cf and the spool. */
int cmd_check(struct posthorn_ctx *ctx, int argc, char **argv);

#endif
