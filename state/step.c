/*
 * step.c — the per-citizen driver step (step.h).
 */
#include "state/step.h"

int cd_step_apply(cd_engine *e, cd_citizen *c, const char *id, cd_instant floor, cd_instant wall,
		  const cd_event *ev, cd_output_fn fn, void *ctx, cd_err *err)
{
	if (floor != CD_INSTANT_NONE && cd_engine_advance(e, c, id, floor, fn, ctx, err) < 0)
		return -1;
	if (wall != CD_INSTANT_NONE && cd_engine_advance(e, c, id, wall, fn, ctx, err) < 0)
		return -1;
	return cd_engine_apply(e, c, id, ev, fn, ctx, err);
}
