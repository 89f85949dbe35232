/*
 * fuzz_event_json.c — one JSON line through the JSON event decoder
 * (proto/pbjson.c) and validation (cd_codec_decode_event, CD_LOG_JSON: what
 * replay and produce call for a JSON log), then the round trips of
 * event_check.h.
 */
#include "tests/fuzz/event_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_event_one(data, size, CD_LOG_JSON);
	return 0;
}
