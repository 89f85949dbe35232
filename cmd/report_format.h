/*
 * report_format.h — a finished compliance report (report_tally.h) written as
 * CSV, JSON or one self-contained HTML page. The columns and fields are
 * documented in docs/report.md; a change there is a change here.
 *
 * The HTML page needs nothing but itself: inline CSS, inline SVG charts, no
 * script, no network. The figures a test (or a program) may want to read sit
 * in the DOM with stable ids and data attributes (docs/report.md, "HTML").
 */
#ifndef CD_CMD_REPORT_FORMAT_H
#define CD_CMD_REPORT_FORMAT_H

#include <stdio.h>

#include "cmd/report_tally.h"

typedef enum cd_report_format { CD_REPORT_CSV = 0, CD_REPORT_JSON, CD_REPORT_HTML } cd_report_format;

/* What the report was made from, for its header (all borrowed). */
typedef struct cd_report_meta {
	const char *source;          /* "input", "outputs" or "brokers" */
	const char *source_name;     /* the file, or the bootstrap servers */
	const cd_report_filter *filter;
	const char *title;           /* HTML: the page's title; NULL: a default */
} cd_report_meta;

/* Writes r to f. 0, or -1 when f reports an error (errno says why). */
int cd_report_write(FILE *f, cd_report_format fmt, const cd_report *r, const cd_report_meta *m);

#endif
