/*
 * commands.h — `contactd run`, the live processor: Kafka in, Redis state,
 * Kafka out (consumer/processor.c). The other commands live in cmd/
 * (cmd/commands.h); cmd/main.c's table calls this one like them.
 */
#ifndef CD_CONSUMER_COMMANDS_H
#define CD_CONSUMER_COMMANDS_H

/* argv[0] is "run". Returns the process exit status. */
int cd_run_main(int argc, char **argv);

#endif
