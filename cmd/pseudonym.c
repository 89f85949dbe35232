/*
 * pseudonym.c — `contactd pseudonym`: the pseudonym of citizen ids under a
 * citizen key, for an operator who has an id and must find its log lines or
 * its Redis key (contactd:{pN}:c:<pseudonym>). Ids come as arguments, or one
 * per line on stdin; one pseudonym per line on stdout, in order. The key is
 * read as `explain --redis` reads it (cmd/opts.h, cd_opt_citizen_key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "cmd/opts.h"
#include "state/event.h"
#include "util/log.h"
#include "util/pseudonym.h"

typedef struct opts {
	cd_config cfg;               /* citizen-key-file only */
} opts;

static const struct option longopts[] = {
	{ "citizen-key-file", required_argument, NULL, CD_OPT_CITIZEN_KEY_FILE },
	CD_OPT_LOG_LEVEL_LONGOPT,
	CD_OPT_HELP_LONGOPT,
	{ 0 },
};

static int option(void *ctx, int c, char *arg)
{
	opts *o = ctx;
	if (c == CD_OPT_CITIZEN_KEY_FILE)
		return cd_opt_redis_option(&o->cfg, c, arg);
	return -1;
}

static void usage(FILE *f)
{
	fputs("usage: contactd pseudonym [--citizen-key-file F] [CITIZEN_ID...]\n"
	      "The pseudonym (h: and 32 hex digits) that names each citizen in log lines, dead-letter texts\n"
	      "and Redis keys (contactd:{pN}:c:<pseudonym>); without ids, one id per line on stdin.\n"
	      "      --citizen-key-file F  the key run was given (default $" CD_OPT_CITIZEN_KEY_FILE_ENV
	      ", else the\n"
	      "                            development key)\n"
	      "      --log-level L         debug, info, warn or error (default info)\n",
	      f);
}

static const cd_opt_cmd cmd = { "h", longopts, option, usage, 1 };

int cmd_pseudonym(int argc, char **argv)
{
	opts o;
	cd_pseudonym_key key;
	char p[CD_PSEUDONYM_LEN + 1], line[CD_MAX_ID_LEN + 2];
	int rc, status = 1;

	cd_config_init(&o.cfg);
	rc = cd_opt_parse(&cmd, argc, argv, &o);
	if (rc != 0) {
		status = rc == 1 ? 0 : 2;
		goto out;
	}
	if (cd_opt_citizen_key(&o.cfg, &key) < 0)
		goto out;
	if (optind < argc) {
		for (int i = optind; i < argc; i++) {
			cd_pseudonym(&key, argv[i], strlen(argv[i]), p);
			puts(p);
		}
	} else {
		while (fgets(line, sizeof(line), stdin)) {
			size_t n = strcspn(line, "\n");
			if (line[n] != '\n' && !feof(stdin)) {
				cd_log(CD_LOG_ERROR, "an id on stdin is longer than the longest citizen id", NULL);
				goto out;
			}
			cd_pseudonym(&key, line, n, p);
			puts(p);
		}
	}
	status = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
out:
	explicit_bzero(&key, sizeof(key));
	cd_config_release(&o.cfg);
	return status;
}
