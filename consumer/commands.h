/*
 * commands.h — the live-pipeline subcommands (issue 3). Each takes argv with
 * argv[0] = its own name and returns the process exit status.
 *
 *   run        the processor: Kafka in, Redis state, Kafka out (consumer/processor.c)
 *   devbroker  a standalone mock Kafka cluster with the default topics (consumer/devbroker.c)
 *   produce    an event log into the input topic, keyed by citizen (consumer/produce.c)
 *   consume    the output topics into a replay-style output file (consumer/consume.c)
 */
#ifndef CD_CONSUMER_COMMANDS_H
#define CD_CONSUMER_COMMANDS_H

int cd_run_main(int argc, char **argv);
int cd_devbroker_main(int argc, char **argv);
int cd_produce_main(int argc, char **argv);
int cd_consume_main(int argc, char **argv);

#endif
