/*
 * decode.c — the input half of replay alone: frame (eventlog), decode and
 * validate (codec) every record of an event log, and nothing else.
 *
 *   build/release/bench/decode FILE
 *
 * Prints one line, "decode: N records in S s = R records/s (F)", where F is
 * the detected format. ops/bench.sh compares it with the full replay to say
 * how the time splits between the codec and the engine with its store.
 * Exit status 1 when the file cannot be read or a record does not decode.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/codec.h"
#include "proto/eventlog.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	FILE *f;
	cd_log_reader *rd;
	cd_err err = { "", 0 };
	unsigned long long records = 0, bad = 0;
	double t0, secs;
	int status = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	rd = cd_log_reader_new(f, argv[1], CD_LOG_AUTO, (size_t)1 << 20);
	if (!rd) {
		fclose(f);
		return 1;
	}
	t0 = now();
	for (;;) {
		const uint8_t *data;
		size_t len;
		Contact__V1__CitizenEvent *msg = NULL;
		cd_event ev;
		cd_codec_stage stage;
		cd_log_status st = cd_log_reader_next(rd, &data, &len, &err);

		if (st == CD_LOG_EOF)
			break;
		if (st == CD_LOG_LOST) {
			fprintf(stderr, "%s: %s\n", argv[1], err.msg);
			status = 1;
			break;
		}
		records++;
		if (st != CD_LOG_RECORD ||
		    cd_codec_decode_event(data, len, cd_log_reader_format(rd), &msg, &ev, &stage, &err) < 0)
			bad++;
		if (msg)
			protobuf_c_message_free_unpacked(&msg->base, NULL);
	}
	secs = now() - t0;
	printf("decode: %llu records in %.2f s = %.0f records/s (%s)\n", records, secs,
	       secs > 0 ? (double)records / secs : 0.0, cd_log_reader_format(rd) == CD_LOG_JSON ? "json" : "pb");
	if (bad) {
		fprintf(stderr, "%s: %llu records did not decode\n", argv[1], bad);
		status = 1;
	}
	cd_log_reader_free(rd);
	fclose(f);
	return status;
}
