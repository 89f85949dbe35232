/*
 * synth.h — `contactd synth`: a realistic synthetic population as an event log
 * (for the demo, the benchmarks and load tests). Deterministic for a seed.
 */
#ifndef CD_CMD_SYNTH_H
#define CD_CMD_SYNTH_H

/* Runs the command; argv[0] is "synth". Returns the process exit status. */
int cd_synth_main(int argc, char **argv);

#endif
