/*
 * num.h — the one parser of whole decimal numbers in text that people write:
 * command-line options, run's configuration file and environment.
 *
 * Strict: an optional '+' or '-', then decimal digits, then nothing. No
 * blanks before or after, no base prefix, no empty string; a number beyond
 * long's range is told apart from text that is not a number, so that a
 * message can say which.
 */
#ifndef CD_UTIL_NUM_H
#define CD_UTIL_NUM_H

/* 0 with the number in *out; -1 when s is not a whole number; 1 when it is beyond long. */
int cd_num_parse_long(const char *s, long *out);
/* 0 with the number in *out when it lies within [lo, hi]; -1 otherwise (*out untouched). */
int cd_num_parse_range(const char *s, long lo, long hi, long *out);

#endif
