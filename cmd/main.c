/*
 * main.c — the contactd command line: one program, a subcommand per job.
 *
 *   contactd replay …        replay an event log (cmd/replay.c)
 *   contactd rules check …   validate a ruleset directory (cmd/rules.c)
 *   contactd rules list …    what applies where
 *   contactd synth …         write a synthetic population's event log (cmd/synth.c)
 *   contactd run …           the live processor: Kafka in, Redis state, Kafka out (consumer/run.c)
 *   contactd devbroker …     a standalone mock Kafka cluster (cmd/devbroker.c)
 *   contactd produce …       an event log into the input topic (cmd/produce.c)
 *   contactd consume …       the output topics into a file (cmd/consume.c)
 */
#include <stdio.h>
#include <string.h>

#include "cmd/replay.h"
#include "cmd/rules.h"
#include "cmd/synth.h"
#include "consumer/commands.h"

#define CONTACTD_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd <command> [options]\n\n"
		   "commands:\n"
		   "  run           the live processor: Kafka in, Redis state, Kafka out\n"
		   "  devbroker     start a standalone mock Kafka cluster with the default topics\n"
		   "  produce       produce an event log into the input topic, keyed by citizen\n"
		   "  consume       consume the output topics into a file (replay's output format)\n"
		   "  replay        replay an event log through the rules; outputs on stdout\n"
		   "  rules check   validate a ruleset directory (default ./rules)\n"
		   "  rules list    show which rules apply to which municipality, benefit and dates\n"
		   "  synth         write a synthetic population's event log (demo, benchmarks)\n"
		   "  version       print the version\n\n"
		   "'contactd <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cd_run_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "devbroker"))
		return cd_devbroker_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "produce"))
		return cd_produce_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "consume"))
		return cd_consume_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "replay"))
		return cd_replay_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rules"))
		return cd_rules_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "synth"))
		return cd_synth_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("contactd %s\n", CONTACTD_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "contactd: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
