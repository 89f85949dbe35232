/*
 * step.h — the per-citizen step every driver takes for one input, so that
 * replay and the live processor cannot drift apart: first the clock, then
 * the input.
 *
 *   1. the floor: the instant of the last all-citizen tick the driver has
 *      seen. Ticks are applied lazily: a citizen not due in between had
 *      nothing to fire, so raising it to the floor when it next has input
 *      gives what firing it at the tick would have given;
 *   2. the wall clock, when it drives time (live, --clock wall);
 *   3. the input itself (cd_engine_apply).
 *
 * Pure like the engine: outputs go to fn as the engine makes them.
 */
#ifndef CD_STATE_STEP_H
#define CD_STATE_STEP_H

#include "state/engine.h"

/*
 * Takes the step for citizen c (id) and input ev. floor and wall may be
 * CD_INSTANT_NONE (no tick seen yet; the event clock). Returns what
 * cd_engine_apply returns: 0 applied, 1 a duplicate, -1 refused (err says
 * why; c may have changed by the clock part, so the caller keeps it).
 */
int cd_step_apply(cd_engine *e, cd_citizen *c, const char *id, cd_instant floor, cd_instant wall,
		  const cd_event *ev, cd_output_fn fn, void *ctx, cd_err *err);

#endif
