/*
 * replay.h — `contactd replay`: replays an event log through the engine on the
 * event clock with the in-memory store and writes every output (see replay.c).
 */
#ifndef CD_CMD_REPLAY_H
#define CD_CMD_REPLAY_H

/* Runs the command; argv[0] is "replay". Returns the process exit status. */
int cd_replay_main(int argc, char **argv);

#endif
