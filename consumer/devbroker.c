/*
 * devbroker.c — `contactd devbroker`: a standalone mock Kafka cluster for
 * development and tests.
 *
 * librdkafka's mock cluster (kafka.h cd_mock) with the default topics of
 * events.md, each with --partitions partitions, plus any --topic. The
 * bootstrap address is printed alone on the first line of stdout (so that a
 * script can `read` it), then one log line on stderr; the cluster then serves
 * until SIGINT or SIGTERM, whose handler only sets a flag (as kcat's does).
 * Everything lives in memory and is gone when the process ends.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "consumer/cli.h"
#include "consumer/commands.h"
#include "consumer/kafka.h"
#include "util/log.h"

#define MAX_TOPICS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: contactd devbroker [options]\n"
		   "  --brokers N        brokers in the mock cluster, 1 … 9 (default 1)\n"
		   "  --partitions P     partitions per topic, 1 … 1024 (default 8)\n"
		   "  --topic T          another topic to create (repeatable); the defaults are always created:\n"
		   "                     contact.events.v1 contact.deadlines.v1 contact.breaches.v1 contact.dlq.v1\n"
		   "  --log-level LEVEL  debug, info, warn, error (default info)\n"
		   "Prints the bootstrap address alone on the first line of stdout and serves until\n"
		   "SIGINT or SIGTERM. Messages are kept in memory only.\n");
}

int cd_devbroker_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "topic", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *topics[MAX_TOPICS] = {
		"contact.events.v1", "contact.deadlines.v1", "contact.breaches.v1", "contact.dlq.v1",
	};
	size_t n_topics = 4;
	long brokers = 1, partitions = 8;
	struct sigaction sa;
	cd_mock *m = NULL;
	cd_err err = { "", 0 };
	char num[2][24], list[2048];
	int c, lv, status = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (cd_cli_parse_long(optarg, 1, 9, &brokers) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--brokers", "value", optarg, "expected",
				       "1 … 9", NULL);
				return 1;
			}
			break;
		case 'p':
			if (cd_cli_parse_long(optarg, 1, 1024, &partitions) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--partitions", "value", optarg,
				       "expected", "1 … 1024", NULL);
				return 1;
			}
			break;
		case 't':
			if (!*optarg) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--topic", "value", optarg, NULL);
				return 1;
			}
			if (n_topics == MAX_TOPICS) {
				cd_log(CD_LOG_ERROR, "too many topics", "option", "--topic", "max", "60", NULL);
				return 1;
			}
			topics[n_topics++] = optarg;
			break;
		case 'L':
			if ((lv = cd_log_level_parse(optarg)) < 0) {
				cd_log(CD_LOG_ERROR, "bad option", "option", "--log-level", "value", optarg, NULL);
				return 1;
			}
			cd_log_set_level(lv);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		cd_log(CD_LOG_ERROR, "unexpected argument", "argument", argv[optind], NULL);
		return 1;
	}

	/* Handlers first: a signal arriving while the cluster starts still stops it cleanly. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!(m = cd_mock_new((int)brokers, &err))) {
		cd_log(CD_LOG_ERROR, "cannot start the mock cluster", "error", err.msg, NULL);
		goto out;
	}
	list[0] = '\0';
	for (size_t i = 0; i < n_topics; i++) {
		size_t used = strlen(list);
		if (cd_mock_topic_create(m, topics[i], (int)partitions, &err) < 0) {
			cd_log(CD_LOG_ERROR, "cannot create topic", "topic", topics[i], "error", err.msg, NULL);
			goto out;
		}
		snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "", topics[i]);
	}
	printf("%s\n", cd_mock_bootstraps(m));
	fflush(stdout);
	snprintf(num[0], sizeof(num[0]), "%ld", brokers);
	snprintf(num[1], sizeof(num[1]), "%ld", partitions);
	cd_log(CD_LOG_INFO, "devbroker ready", "bootstrap", cd_mock_bootstraps(m), "brokers", num[0],
	       "partitions", num[1], "topics", list, NULL);

	while (!stop) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cd_log(CD_LOG_INFO, "devbroker stopping", NULL);
	status = 0;
out:
	cd_mock_free(m);
	rd_kafka_wait_destroyed(5000);
	return status;
}
