/*
 * main.c — the contactd command line: one program, a command per job.
 *
 * `commands[]` below is the one list of commands: `contactd <name> …` runs the
 * first row whose name starts with that word, and `contactd help` prints the
 * rows in order. A new command is a file in cmd/ (declared in cmd/commands.h)
 * and a row here. Each command parses its own options (cmd/opts.h) and
 * describes them with `contactd <command> --help`.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"
#include "consumer/commands.h"
#include "util/version.h"

typedef struct command {
	const char *name;    /* the word that selects it; a second word only shows in the list */
	int (*fn)(int argc, char **argv);
	const char *summary; /* one line for `contactd help`; NULL: not listed */
} command;

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const command commands[] = {
	{ "run", cd_run_main, "the live processor: Kafka in, Redis state, Kafka out" },
	{ "devbroker", cmd_devbroker, "start a standalone mock Kafka cluster with the default topics" },
	{ "produce", cmd_produce, "produce an event log into the input topic, keyed by citizen" },
	{ "consume", cmd_consume, "consume the output topics into a file (replay's output format)" },
	{ "aggregates", cmd_aggregates, "the aggregate stage's cohorts as they stand in Redis: counts, share, still needed" },
	{ "replay", cmd_replay, "replay an event log through the rules; outputs on stdout" },
	{ "whatif", cmd_whatif, "one event log under two rule configurations: breaches, lapses and citizens that differ" },
	{ "report", cmd_report, "compliance per municipality, benefit and month: CSV, JSON or an HTML page" },
	{ "explain", cmd_explain, "why one citizen's obligations stand as they do (from a log or from Redis)" },
	{ "rules check", cmd_rules, "validate a ruleset directory (default ./rules)" },
	{ "rules list", cmd_rules, "show which rules apply to which municipality, benefit and dates" },
	{ "pseudonym", cmd_pseudonym, "the pseudonym that names a citizen in logs and Redis keys" },
	{ "synth", cmd_synth, "write a synthetic population's event log (demo, benchmarks)" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, NULL },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (commands[i].summary)
			fprintf(f, "  %-14s%s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'contactd <command> --help' describes a command's options.\n");
}

static int cmd_version(int argc, char **argv)
{
	printf("contactd %s\n", CD_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	usage(stdout);
	return 0;
}

/* The row selected by `word`: the first whose name is the word, or starts with it and a space. */
static const command *find(const char *word)
{
	size_t len = strlen(word);

	if (!len || strchr(word, ' '))
		return NULL;
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strncmp(commands[i].name, word, len) && (!commands[i].name[len] || commands[i].name[len] == ' '))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *word;
	const command *c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	word = argv[1];
	if (!strcmp(word, "--version"))
		word = "version";
	else if (!strcmp(word, "--help") || !strcmp(word, "-h"))
		word = "help";
	if (!(c = find(word))) {
		fprintf(stderr, "contactd: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	return c->fn(argc - 1, argv + 1);
}
