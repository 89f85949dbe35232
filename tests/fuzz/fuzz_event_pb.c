/*
 * fuzz_event_pb.c — a Kafka message's bytes through the binary event decoder
 * and validation (cd_codec_decode_event, CD_LOG_PB: what the processor calls
 * for every input), then the round trips of event_check.h.
 */
#include "tests/fuzz/event_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_event_one(data, size, CD_LOG_PB);
	return 0;
}
