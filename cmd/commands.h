/*
 * commands.h — the program's commands, one file each in cmd/ (like git's
 * builtin.h). Each takes argv with argv[0] = its own name ("replay") and
 * returns the process exit status. cmd/main.c holds the one table that names
 * them; `contactd run`, the live processor, is cd_run_main in consumer/run.c
 * (consumer/commands.h).
 */
#ifndef CD_CMD_COMMANDS_H
#define CD_CMD_COMMANDS_H

/* Replays an event log through the engine, outputs on stdout (cmd/replay.c). */
int cmd_replay(int argc, char **argv);
/* `rules check [DIR]` and `rules list [DIR]` (cmd/rules.c). */
int cmd_rules(int argc, char **argv);
/* Writes a synthetic population's event log, deterministic for a seed (cmd/synth.c). */
int cmd_synth(int argc, char **argv);
/* A standalone mock Kafka cluster with the default topics (cmd/devbroker.c). */
int cmd_devbroker(int argc, char **argv);
/* An event log into the input topic, keyed by citizen (cmd/produce.c). */
int cmd_produce(int argc, char **argv);
/* The output topics into a file in replay's output format (cmd/consume.c). */
int cmd_consume(int argc, char **argv);
/* Compliance per municipality × benefit × month, from a log, an output file or the topics (cmd/report.c). */
int cmd_report(int argc, char **argv);
/* The live aggregate stage's cohorts as they stand in Redis, read only (cmd/aggregates.c). */
int cmd_aggregates(int argc, char **argv);
/* One event log under two rule configurations, A and B, and what differs (cmd/whatif.c). */
int cmd_whatif(int argc, char **argv);
/* Why one citizen's obligations stand as they do, from a log or from Redis (cmd/explain.c). */
int cmd_explain(int argc, char **argv);
/* The pseudonym that names a citizen in logs and Redis keys (cmd/pseudonym.c). */
int cmd_pseudonym(int argc, char **argv);

#endif
