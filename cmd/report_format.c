/*
 * report_format.c — a compliance report as CSV, JSON or HTML (report_format.h,
 * docs/report.md).
 *
 * Strings come from outputs, which a file may hold anything in: every string
 * is written escaped for its format, and bytes that are not UTF-8 become
 * U+FFFD, so a hostile output file cannot break the page or the JSON.
 */
#include "cmd/report_format.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "state/event.h"

enum { ESC_JSON, ESC_HTML, ESC_CSV };

/* The length of the UTF-8 sequence at s (1 … 4), or 0 when s does not start one. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))
			return 0;        /* overlong, surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

static void put_esc(FILE *f, const char *str, int mode)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	while (*s) {
		size_t n = utf8_len(s);
		unsigned char c = *s;
		if (n == 0) {
			fputs(mode == ESC_JSON ? "\\ufffd" : "\xef\xbf\xbd", f);
			s++;
			continue;
		}
		if (n > 1) {
			fwrite(s, 1, n, f);
			s += n;
			continue;
		}
		s++;
		if (mode == ESC_JSON) {
			if (c == '"' || c == '\\')
				fprintf(f, "\\%c", c);
			else if (c < 0x20 || c == 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		} else if (mode == ESC_HTML) {
			switch (c) {
			case '&': fputs("&amp;", f); break;
			case '<': fputs("&lt;", f); break;
			case '>': fputs("&gt;", f); break;
			case '"': fputs("&quot;", f); break;
			case '\'': fputs("&#39;", f); break;
			default: fputc(c < 0x20 || c == 0x7f ? ' ' : c, f); break;
			}
		} else {                 /* CSV: inside quotes, a quote is doubled */
			if (c == '"')
				fputs("\"\"", f);
			else
				fputc(c < 0x20 || c == 0x7f ? ' ' : c, f);
		}
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	put_esc(f, s, ESC_JSON);
	fputc('"', f);
}

static void html(FILE *f, const char *s)
{
	put_esc(f, s, ESC_HTML);
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_str(FILE *f, const char *s)
{
	if (s && strpbrk(s, ",\"\r\n")) {
		fputc('"', f);
		put_esc(f, s, ESC_CSV);
		fputc('"', f);
	} else {
		put_esc(f, s, ESC_CSV);
	}
}

static const char *benefit_name(int b)
{
	return b ? cd_benefit_name(b) : "";
}

static const char *cohort_status(int s)
{
	switch (s) {
	case CD_AGG_WARNING: return "WARNING";
	case CD_AGG_MET: return "MET";
	case CD_AGG_BREACHED: return "BREACHED";
	default: return "RETRACTED";
	}
}

static const char *agg_kind(int k)
{
	return k == CD_AGG_SHARE ? "SHARE" : k == CD_AGG_AVERAGE ? "AVERAGE" : "";
}

static void cohort_key(const cd_report_cohort *c, char *buf, size_t len)
{
	cd_codec_aggregate_key(c->key_kind, c->key, buf, len);
}

/* "0.7500", or "" when nothing was decided. */
static const char *share_str(const cd_report_counts *c, char *buf, size_t len)
{
	double s = cd_report_share(c);
	if (s < 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%.4f", s);
	return buf;
}

/* Conversations held per decided obligation, "1.50", or "". */
static const char *per_str(const cd_report_counts *c, char *buf, size_t len)
{
	uint64_t d = cd_report_decided(c);
	if (!d)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%.2f", (double)c->held / (double)d);
	return buf;
}

/* ---- CSV --------------------------------------------------------------------------------- */

#define CSV_HEADER "kind,municipality,benefit,month,rule,due,met_on_time,breached,lapsed,exempted,cancelled,open," \
		   "decided,share_on_time,retracted,conversations,conversations_per_obligation,late_changes," \
		   "aggregate_id,key,period_start,period_end,status,members,met,required,held\n"

static void csv_counts(FILE *f, const cd_report_counts *c)
{
	char s[32], p[32];
	fprintf(f, "%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%s,%llu,%llu,%s,%llu", (unsigned long long)c->due,
		(unsigned long long)c->met, (unsigned long long)c->breached, (unsigned long long)c->lapsed,
		(unsigned long long)c->exempted, (unsigned long long)c->cancelled, (unsigned long long)c->open,
		(unsigned long long)cd_report_decided(c), share_str(c, s, sizeof(s)), (unsigned long long)c->retracted,
		(unsigned long long)c->held, per_str(c, p, sizeof(p)), (unsigned long long)c->late_changes);
}

static void write_csv(FILE *f, const cd_report *r)
{
	fputs(CSV_HEADER, f);
	fputs("total,,,,,", f);
	csv_counts(f, &r->total);
	fputs(",,,,,,,,,\n", f);
	for (size_t i = 0; i < r->n_rows; i++) {
		const cd_report_row *x = &r->rows[i];
		fputs("obligations,", f);
		csv_str(f, x->muni);
		fprintf(f, ",%s,%04d-%02d,,", benefit_name(x->benefit), x->year, x->month);
		csv_counts(f, &x->n);
		fputs(",,,,,,,,,\n", f);
	}
	for (size_t i = 0; i < r->n_rules; i++) {
		fputs("rule,,,,", f);
		csv_str(f, r->rules[i].rule);
		fputc(',', f);
		csv_counts(f, &r->rules[i].n);
		fputs(",,,,,,,,,\n", f);
	}
	for (size_t i = 0; i < r->n_cohorts; i++) {
		const cd_report_cohort *c = &r->cohorts[i];
		char key[64], ps[CD_DATE_STRLEN], pe[CD_DATE_STRLEN];
		int y, m, d;
		cohort_key(c, key, sizeof(key));
		cd_date_to_ymd(c->period_end, &y, &m, &d);
		fputs("aggregate,", f);
		if (c->key_kind == CD_AGG_KEY_MUNICIPALITY)
			csv_str(f, c->key);
		fprintf(f, ",,%04d-%02d,,,,,%d,%d,,,,,,,,,", y, m, c->lapsed, c->exempted);
		csv_str(f, c->aggregate_id);
		fputc(',', f);
		csv_str(f, key);
		fprintf(f, ",%s,%s,%s,%d,%d,%d,%d\n", cd_date_format(c->period_start, ps), cd_date_format(c->period_end, pe),
			cohort_status(c->status), c->members, c->met, c->required, c->held);
	}
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void json_counts(FILE *f, const cd_report_counts *c)
{
	double s = cd_report_share(c);
	uint64_t d = cd_report_decided(c);
	fprintf(f, "\"due\":%llu,\"met_on_time\":%llu,\"breached\":%llu,\"lapsed\":%llu,\"exempted\":%llu,"
		   "\"cancelled\":%llu,\"open\":%llu,\"decided\":%llu,",
		(unsigned long long)c->due, (unsigned long long)c->met, (unsigned long long)c->breached,
		(unsigned long long)c->lapsed, (unsigned long long)c->exempted, (unsigned long long)c->cancelled,
		(unsigned long long)c->open, (unsigned long long)d);
	if (s < 0)
		fputs("\"share_on_time\":null,", f);
	else
		fprintf(f, "\"share_on_time\":%.4f,", s);
	fprintf(f, "\"retracted\":%llu,\"conversations\":%llu,", (unsigned long long)c->retracted,
		(unsigned long long)c->held);
	if (!d)
		fputs("\"conversations_per_obligation\":null", f);
	else
		fprintf(f, "\"conversations_per_obligation\":%.2f", (double)c->held / (double)d);
	fprintf(f, ",\"late_changes\":%llu", (unsigned long long)c->late_changes);
}

static void json_filters(FILE *f, const cd_report_filter *flt)
{
	char d[CD_DATE_STRLEN];
	bool first = true;

	fputs("{\"municipality\":[", f);
	for (size_t i = 0; i < flt->n_munis; i++) {
		if (i)
			fputc(',', f);
		json_str(f, flt->munis[i]);
	}
	fputs("],\"benefit\":[", f);
	for (int b = 1; b <= CD_BENEFIT_MAX; b++)
		if (flt->benefits & (1u << b)) {
			if (!first)
				fputc(',', f);
			first = false;
			json_str(f, cd_benefit_name(b));
		}
	fputs("],\"ruleset\":", f);
	if (flt->ruleset)
		json_str(f, flt->ruleset);
	else
		fputs("null", f);
	fputs(",\"from\":", f);
	if (flt->from != CD_DATE_NONE)
		json_str(f, cd_date_format(flt->from, d));
	else
		fputs("null", f);
	fputs(",\"to\":", f);
	if (flt->to != CD_DATE_NONE)
		json_str(f, cd_date_format(flt->to, d));
	else
		fputs("null", f);
	fputc('}', f);
}

static void write_json(FILE *f, const cd_report *r, const cd_report_meta *m)
{
	char d[CD_DATE_STRLEN], key[64];

	fputs("{\"report\":\"contactd compliance\",\"version\":1,\"source\":{\"kind\":", f);
	json_str(f, m->source);
	fputs(",\"name\":", f);
	json_str(f, m->source_name);
	fputs("},\n\"filters\":", f);
	json_filters(f, m->filter);
	fprintf(f, ",\n\"outputs\":%llu,\"instances\":%llu,\"undated\":%llu,\"settled\":%llu,\"late_changes\":%llu,\n\"total\":{",
		(unsigned long long)r->outputs, (unsigned long long)r->instances, (unsigned long long)r->undated,
		(unsigned long long)r->settled, (unsigned long long)r->late_changes);
	json_counts(f, &r->total);
	fputs("},\n\"rows\":[", f);
	for (size_t i = 0; i < r->n_rows; i++) {
		const cd_report_row *x = &r->rows[i];
		fputs(i ? ",\n{\"municipality\":" : "\n{\"municipality\":", f);
		json_str(f, x->muni);
		fprintf(f, ",\"benefit\":\"%s\",\"month\":\"%04d-%02d\",", benefit_name(x->benefit), x->year, x->month);
		json_counts(f, &x->n);
		fputc('}', f);
	}
	fputs("],\n\"rules\":[", f);
	for (size_t i = 0; i < r->n_rules; i++) {
		fputs(i ? ",\n{\"rule\":" : "\n{\"rule\":", f);
		json_str(f, r->rules[i].rule);
		fputc(',', f);
		json_counts(f, &r->rules[i].n);
		fputc('}', f);
	}
	fputs("],\n\"aggregates\":[", f);
	for (size_t i = 0; i < r->n_cohorts; i++) {
		const cd_report_cohort *c = &r->cohorts[i];
		fputs(i ? ",\n{\"aggregate_id\":" : "\n{\"aggregate_id\":", f);
		json_str(f, c->aggregate_id);
		cohort_key(c, key, sizeof(key));
		fputs(",\"key\":", f);
		json_str(f, key);
		fprintf(f, ",\"period_start\":\"%s\"", cd_date_format(c->period_start, d));
		fprintf(f, ",\"period_end\":\"%s\",\"kind\":\"%s\",\"status\":\"%s\",\"members\":%d,\"met\":%d,"
			   "\"lapsed\":%d,\"exempted\":%d,\"required\":%d,\"held\":%d}",
			cd_date_format(c->period_end, d), agg_kind(c->kind), cohort_status(c->status), c->members, c->met,
			c->lapsed, c->exempted, c->required, c->held);
	}
	fputs("],\n\"examples\":[", f);
	for (size_t i = 0; i < r->n_examples; i++) {
		const cd_report_example *e = &r->examples[i];
		fputs(i ? ",\n{\"municipality\":" : "\n{\"municipality\":", f);
		json_str(f, e->muni);
		fprintf(f, ",\"benefit\":\"%s\",\"obligation_id\":", benefit_name(e->benefit));
		json_str(f, e->obligation_id);
		fputs(",\"rule\":", f);
		json_str(f, e->rule);
		fputs(",\"due\":", f);
		if (e->due != CD_DATE_NONE)
			json_str(f, cd_date_format(e->due, d));
		else
			fputs("null", f);
		fputs(",\"explanation\":", f);
		json_str(f, e->explanation);
		fputc('}', f);
	}
	fputs("]}\n", f);
}

/* ---- HTML -------------------------------------------------------------------------------- */

typedef struct month_tot {
	int year, month;
	cd_report_counts n;
} month_tot;

typedef struct muni_tot {
	const char *muni;
	cd_report_counts n;
} muni_tot;

static void add_counts(cd_report_counts *a, const cd_report_counts *b)
{
	a->due += b->due;
	a->met += b->met;
	a->breached += b->breached;
	a->lapsed += b->lapsed;
	a->exempted += b->exempted;
	a->cancelled += b->cancelled;
	a->open += b->open;
	a->retracted += b->retracted;
	a->held += b->held;
	a->late_changes += b->late_changes;
}

/* "1 234 567" with thin spaces, for people; data-value attributes keep the plain number. */
static const char *num(uint64_t v, char *buf, size_t len)
{
	char plain[32];
	size_t n, o = 0;
	snprintf(plain, sizeof(plain), "%llu", (unsigned long long)v);
	n = strlen(plain);
	for (size_t i = 0; i < n && o + 4 < len; i++) {
		if (i && (n - i) % 3 == 0) {
			memcpy(buf + o, "\xe2\x80\x89", 3);   /* U+2009 THIN SPACE */
			o += 3;
		}
		buf[o++] = plain[i];
	}
	buf[o] = '\0';
	return buf;
}

static const char *pct(double s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "–");
	else
		snprintf(buf, len, "%.1f %%", s * 100.0);
	return buf;
}

/* The colour of a share: at or above the 75 % line green, under it amber, under half red. */
static const char *share_colour(double s)
{
	return s < 0 ? "#9e9e9e" : s >= 0.75 ? "#2e7d32" : s >= 0.5 ? "#ef8f00" : "#c62828";
}

static const char CSS[] =
	"*{box-sizing:border-box}"
	"body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}"
	"header{background:#1f3a5f;color:#fff;padding:22px 36px}"
	"header h1{margin:0 0 6px;font-size:26px}header p{margin:0;opacity:.85;font-size:14px}"
	"main{padding:20px 36px 40px;max-width:1240px}"
	"section{background:#fff;border-radius:8px;padding:16px 20px;margin:0 0 18px;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
	"h2{font-size:18px;margin:0 0 10px}"
	".tiles{display:flex;flex-wrap:wrap;gap:12px;background:none;box-shadow:none;padding:0}"
	".tile{flex:1 1 150px;background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
	".tile .v{font-size:30px;font-weight:bold}.tile .l{font-size:13px;color:#5b6576}"
	".tile.share{flex:2 1 260px}.tile.share .v{font-size:38px}"
	".two{display:flex;gap:18px;flex-wrap:wrap}.two section{flex:1 1 520px}"
	"table{border-collapse:collapse;width:100%;font-size:13px}"
	"th,td{padding:5px 8px;border-bottom:1px solid #e3e6ea;text-align:right}"
	"th{background:#eef1f5;font-weight:600}td.t,th.t{text-align:left}"
	"ol.ex{padding-left:22px;margin:0}ol.ex li{margin:0 0 10px}"
	".exh{font-weight:600;font-size:14px}.ext{font-size:13px;color:#39424f;margin-top:2px}"
	".note{font-size:12px;color:#5b6576}.legend span{display:inline-block;width:12px;height:12px;"
	"margin:0 4px 0 12px;vertical-align:-1px}"
	"svg{max-width:100%;height:auto}svg text{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif}";

static void html_counts_cells(FILE *f, const cd_report_counts *c)
{
	char b[48];
	double s = cd_report_share(c);
	static const char *const names[] = { "due", "met_on_time", "breached", "lapsed", "exempted", "cancelled", "open" };
	uint64_t v[] = { c->due, c->met, c->breached, c->lapsed, c->exempted, c->cancelled, c->open };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		fprintf(f, "<td data-field=\"%s\" data-value=\"%llu\">%s</td>", names[i], (unsigned long long)v[i],
			num(v[i], b, sizeof(b)));
	if (s < 0)
		fputs("<td data-field=\"share_on_time\" data-value=\"\">–</td>", f);
	else
		fprintf(f, "<td data-field=\"share_on_time\" data-value=\"%.4f\" style=\"color:%s\">%s</td>", s,
			share_colour(s), pct(s, b, sizeof(b)));
	per_str(c, b, sizeof(b));
	fprintf(f, "<td data-field=\"conversations_per_obligation\" data-value=\"%s\">%s</td>", b, *b ? b : "–");
	fprintf(f, "<td data-field=\"late_changes\" data-value=\"%llu\">%s</td>", (unsigned long long)c->late_changes,
		num(c->late_changes, b, sizeof(b)));
}

#define COUNTS_HEAD "<th>due</th><th>met on time</th><th>breached</th><th>lapsed</th><th>exempted</th>" \
		    "<th>cancelled</th><th>open</th><th>share on time</th><th>conversations per obligation</th>" \
		    "<th>late changes</th>"

static void tile(FILE *f, const char *id, const char *field, uint64_t v, const char *label)
{
	char b[48];
	fprintf(f, "<div class=\"tile\" id=\"%s\"><div class=\"v\" data-field=\"%s\" data-value=\"%llu\">%s</div>"
		   "<div class=\"l\">%s</div></div>\n",
		id, field, (unsigned long long)v, num(v, b, sizeof(b)), label);
}

/* Share on time per month: bars, and the 75 % line. */
static void chart_months(FILE *f, const month_tot *mt, size_t n)
{
	const int W = 1140, H = 330, L = 56, R = 16, T = 18, B = 64;
	double pw = W - L - R, ph = H - T - B, step = n ? pw / (double)n : pw, bw = step * 0.72 < 64 ? step * 0.72 : 64;
	size_t every = n > 36 ? (n + 35) / 36 : 1;
	char b[48];

	fprintf(f, "<svg id=\"chart-months\" role=\"img\" aria-label=\"share on time per month\" width=\"%d\" "
		   "height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n", W, H, W, H);
	for (int g = 0; g <= 100; g += 25) {
		double y = T + ph * (1.0 - g / 100.0);
		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>"
			   "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\" fill=\"#5b6576\">%d %%</text>\n",
			L, W - R, y, y, L - 6, y + 4, g);
	}
	for (size_t i = 0; i < n; i++) {
		double s = cd_report_share(&mt[i].n), x = L + step * (double)i + (step - bw) / 2;
		char label[16];
		snprintf(label, sizeof(label), "%04d-%02d", mt[i].year, mt[i].month);
		if (s >= 0) {
			/* a month with obligations still open is not finished: its share may still fall, so it is drawn pale */
			double h = ph * s;
			char open[64] = "";
			if (mt[i].n.open)
				snprintf(open, sizeof(open), "; %llu still open", (unsigned long long)mt[i].n.open);
			fprintf(f, "<rect class=\"bar\" data-month=\"%s\" data-share=\"%.4f\" data-open=\"%llu\" "
				   "x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s><title>%s: %s on time "
				   "(%llu of %llu decided%s)</title></rect>\n",
				label, s, (unsigned long long)mt[i].n.open, x, T + ph - h, bw, h < 0.5 ? 0.5 : h,
				share_colour(s), mt[i].n.open ? " fill-opacity=\"0.4\"" : "", label, pct(s, b, sizeof(b)),
				(unsigned long long)mt[i].n.met, (unsigned long long)cd_report_decided(&mt[i].n), open);
		} else {
			fprintf(f, "<rect data-month=\"%s\" data-share=\"\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
				   "height=\"2\" fill=\"#bdbdbd\"><title>%s: nothing decided</title></rect>\n",
				label, x, T + ph - 2, bw, label);
		}
		if (i % every == 0)
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#39424f\" text-anchor=\"end\" "
				   "transform=\"rotate(-45 %.1f %.1f)\">%s</text>\n",
				x + bw / 2, (double)(T + ph + 14), x + bw / 2, (double)(T + ph + 14), label);
	}
	{
		double y = T + ph * 0.25;
		fprintf(f, "<line id=\"line-75\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#1f3a5f\" "
			   "stroke-width=\"2\" stroke-dasharray=\"7 5\"/>"
			   "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" font-weight=\"bold\" text-anchor=\"end\" "
			   "fill=\"#1f3a5f\">75 %%</text>\n",
			L, W - R, y, y, W - R - 2, y - 5);
	}
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#39424f\"/>\n", L, W - R,
		(double)(T + ph), (double)(T + ph));
	if (!n)
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"16\" text-anchor=\"middle\" fill=\"#5b6576\">no "
			   "obligation fell due</text>\n", W / 2, H / 2);
	fputs("</svg>\n", f);
}

static int by_breaches(const void *a, const void *b)
{
	const cd_report_rule *x = *(const cd_report_rule *const *)a, *y = *(const cd_report_rule *const *)b;
	if (x->n.breached != y->n.breached)
		return x->n.breached < y->n.breached ? 1 : -1;
	if (x->n.lapsed != y->n.lapsed)
		return x->n.lapsed < y->n.lapsed ? 1 : -1;
	return strcmp(x->rule, y->rule);
}

#define TOP_RULES 12
#define TOP_MUNIS 10

/* Breaches by rule: horizontal bars, breached and lapsed stacked. */
static void chart_rules(FILE *f, const cd_report *r)
{
	const cd_report_rule *top[TOP_RULES];
	const cd_report_rule **all = r->n_rules ? malloc(r->n_rules * sizeof(*all)) : NULL;
	size_t n = 0, k = 0;
	uint64_t max = 1;
	const int W = 560, L = 236, R = 60, RH = 26, T = 6;
	char b[48];

	for (size_t i = 0; all && i < r->n_rules; i++)
		if (r->rules[i].n.breached || r->rules[i].n.lapsed)
			all[k++] = &r->rules[i];
	if (k)
		qsort(all, k, sizeof(*all), by_breaches);
	for (size_t i = 0; i < k && n < TOP_RULES; i++)
		top[n++] = all[i];
	free(all);
	for (size_t i = 0; i < n; i++)
		if (top[i]->n.breached + top[i]->n.lapsed > max)
			max = top[i]->n.breached + top[i]->n.lapsed;
	fprintf(f, "<svg id=\"chart-rules\" role=\"img\" aria-label=\"breaches by rule\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		W, T + RH * (int)(n ? n : 1) + 8, W, T + RH * (int)(n ? n : 1) + 8);
	if (!n)
		fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"14\" fill=\"#2e7d32\">no breaches</text>\n", W / 2 - 40);
	for (size_t i = 0; i < n; i++) {
		double y = T + RH * (double)i, pw = W - L - R;
		double wb = pw * (double)top[i]->n.breached / (double)max, wl = pw * (double)top[i]->n.lapsed / (double)max;
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\" fill=\"#1d2430\">", L - 8, y + 16);
		html(f, top[i]->rule);
		fputs("</text>", f);
		fprintf(f, "<rect class=\"bar\" data-rule=\"");
		html(f, top[i]->rule);
		fprintf(f, "\" data-breached=\"%llu\" data-lapsed=\"%llu\" x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"18\" "
			   "fill=\"#c62828\"><title>%llu breached</title></rect>",
			(unsigned long long)top[i]->n.breached, (unsigned long long)top[i]->n.lapsed, L, y + 3, wb,
			(unsigned long long)top[i]->n.breached);
		if (wl > 0)
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"#ef8f00\"><title>%llu "
				   "lapsed</title></rect>",
				L + wb, y + 3, wl, (unsigned long long)top[i]->n.lapsed);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#39424f\">%s</text>\n", L + wb + wl + 6,
			y + 16, num(top[i]->n.breached + top[i]->n.lapsed, b, sizeof(b)));
	}
	fputs("</svg>\n<div class=\"note legend\"><span style=\"background:#c62828\"></span>breached (owed to the "
	      "citizen)<span style=\"background:#ef8f00\"></span>lapsed (a share member not met: counts against the "
	      "75 % share, not a breach)</div>\n", f);
}

static int by_share(const void *a, const void *b)
{
	const muni_tot *x = a, *y = b;
	double sx = cd_report_share(&x->n), sy = cd_report_share(&y->n);
	if (sx != sy)
		return sx < sy ? -1 : 1;
	if (cd_report_decided(&x->n) != cd_report_decided(&y->n))
		return cd_report_decided(&x->n) < cd_report_decided(&y->n) ? 1 : -1;
	return strcmp(x->muni, y->muni);
}

/* The municipalities furthest behind: the lowest shares on time, with the 75 % line. */
static void chart_munis(FILE *f, const muni_tot *mu, size_t n_mu)
{
	muni_tot *v = n_mu ? malloc(n_mu * sizeof(*v)) : NULL;
	size_t n = 0;
	const int W = 560, L = 110, R = 130, RH = 26, T = 6;
	double pw = W - L - R;
	char b[48], c[48];

	for (size_t i = 0; v && i < n_mu; i++)
		if (cd_report_decided(&mu[i].n))
			v[n++] = mu[i];
	if (n)
		qsort(v, n, sizeof(*v), by_share);
	if (n > TOP_MUNIS)
		n = TOP_MUNIS;
	fprintf(f, "<svg id=\"chart-munis\" role=\"img\" aria-label=\"municipalities furthest behind\" width=\"%d\" "
		   "height=\"%d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		W, T + RH * (int)(n ? n : 1) + 8, W, T + RH * (int)(n ? n : 1) + 8);
	if (!n)
		fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"14\" fill=\"#5b6576\">nothing decided</text>\n", W / 2 - 50);
	for (size_t i = 0; i < n; i++) {
		double s = cd_report_share(&v[i].n), y = T + RH * (double)i;
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">kommune ", L - 8, y + 16);
		html(f, *v[i].muni ? v[i].muni : "–");
		fprintf(f, "</text><rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"#eef1f5\"/>", L, y + 3, pw);
		fputs("<rect class=\"bar\" data-municipality=\"", f);
		html(f, v[i].muni);
		fprintf(f, "\" data-share=\"%.4f\" x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>", s, L,
			y + 3, pw * s, share_colour(s));
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#39424f\">%s of %s</text>\n",
			(double)(W - R + 6), y + 16, pct(s, b, sizeof(b)), num(cd_report_decided(&v[i].n), c, sizeof(c)));
	}
	if (n)
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#1f3a5f\" stroke-width=\"2\" "
			   "stroke-dasharray=\"5 4\"/>\n",
			L + pw * 0.75, L + pw * 0.75, T, T + RH * (int)n);
	fputs("</svg>\n", f);
	free(v);
}

static void html_filters(FILE *f, const cd_report_filter *flt)
{
	char d[CD_DATE_STRLEN];
	bool any = false;

	if (flt->n_munis) {
		fputs(" · municipality ", f);
		for (size_t i = 0; i < flt->n_munis; i++) {
			if (i)
				fputs(", ", f);
			html(f, flt->munis[i]);
		}
		any = true;
	}
	if (flt->benefits) {
		fputs(" · benefit", f);
		for (int b = 1; b <= CD_BENEFIT_MAX; b++)
			if (flt->benefits & (1u << b))
				fprintf(f, " %s", cd_benefit_name(b));
		any = true;
	}
	if (flt->ruleset) {
		fputs(" · rules ", f);
		html(f, flt->ruleset);
		fputs("…", f);
		any = true;
	}
	if (flt->from != CD_DATE_NONE) {
		fprintf(f, " · due from %s", cd_date_format(flt->from, d));
		any = true;
	}
	if (flt->to != CD_DATE_NONE) {
		fprintf(f, " · due to %s", cd_date_format(flt->to, d));
		any = true;
	}
	if (!any)
		fputs(" · every municipality, benefit and rule", f);
}

static int write_html(FILE *f, const cd_report *r, const cd_report_meta *m)
{
	month_tot *mt = NULL;
	muni_tot *mu = NULL;
	cd_report_counts ben[CD_BENEFIT_MAX + 1];
	size_t n_mt = 0, n_mu = 0;
	double s = cd_report_share(&r->total);
	char b[64], d[CD_DATE_STRLEN], key[64];
	const char *title = m->title ? m->title : "Contact-course compliance";

	memset(ben, 0, sizeof(ben));
	if (r->n_rows && (!(mt = calloc(r->n_rows, sizeof(*mt))) || !(mu = calloc(r->n_rows, sizeof(*mu))))) {
		free(mt);
		return -1;
	}
	/* rows come by municipality, benefit, month: municipalities are consecutive, months are not */
	for (size_t i = 0; i < r->n_rows; i++) {
		const cd_report_row *x = &r->rows[i];
		size_t j, lo = 0, hi = n_mt;
		int key_m = x->year * 12 + x->month;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (mt[mid].year * 12 + mt[mid].month < key_m)
				lo = mid + 1;
			else
				hi = mid;
		}
		j = lo;
		if (j == n_mt || mt[j].year * 12 + mt[j].month != key_m) {
			memmove(&mt[j + 1], &mt[j], (n_mt - j) * sizeof(*mt));
			memset(&mt[j], 0, sizeof(*mt));
			mt[j].year = x->year;
			mt[j].month = x->month;
			n_mt++;
		}
		add_counts(&mt[j].n, &x->n);
		if (!n_mu || strcmp(mu[n_mu - 1].muni, x->muni)) {
			mu[n_mu].muni = x->muni;
			n_mu++;
		}
		add_counts(&mu[n_mu - 1].n, &x->n);
		if (x->benefit >= 0 && x->benefit <= CD_BENEFIT_MAX)
			add_counts(&ben[x->benefit], &x->n);
	}

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
	html(f, title);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<header><h1>", CSS);
	html(f, title);
	fputs("</h1><p>Rettidighed per kommune, ydelse og måned · from ", f);
	html(f, m->source);
	fputs(" ", f);
	html(f, m->source_name);
	html_filters(f, m->filter);
	fprintf(f, "</p></header>\n<main>\n<section class=\"tiles\" id=\"totals\" data-outputs=\"%llu\" "
		   "data-instances=\"%llu\">\n",
		(unsigned long long)r->outputs, (unsigned long long)r->instances);
	fprintf(f, "<div class=\"tile share\" id=\"tile-share\"><div class=\"v\" data-field=\"share_on_time\" "
		   "data-value=\"%s\" style=\"color:%s\">%s</div><div class=\"l\">share on time (rettidighed), "
		   "target 75 %%</div></div>\n",
		s < 0 ? "" : (snprintf(d, sizeof(d), "%.4f", s), d), share_colour(s), pct(s, b, sizeof(b)));
	tile(f, "tile-due", "due", r->total.due, "obligations due");
	tile(f, "tile-met", "met_on_time", r->total.met, "met on time");
	tile(f, "tile-breached", "breached", r->total.breached, "breached");
	tile(f, "tile-lapsed", "lapsed", r->total.lapsed, "lapsed (share members)");
	tile(f, "tile-exempted", "exempted", r->total.exempted, "exempted");
	fputs("</section>\n", f);

	fputs("<section><h2>Share on time per month</h2>\n<p class=\"note\">Obligations by the month their window "
	      "closed (the due date). Share on time = met on time ÷ (met on time + breached + lapsed); exempted, "
	      "cancelled and still open obligations are left out. The dashed line is the 75 % share of the 2026 "
	      "reform. A pale bar is a month with obligations still open when the outputs end: its share is not final.</p>\n", f);
	chart_months(f, mt, n_mt);
	fputs("</section>\n<div class=\"two\">\n<section><h2>Breaches by rule</h2>\n", f);
	chart_rules(f, r);
	fputs("</section>\n<section><h2>Municipalities furthest behind</h2>\n", f);
	chart_munis(f, mu, n_mu);
	fputs("<p class=\"note\">The lowest shares on time among municipalities with a decided obligation.</p>"
	      "</section>\n</div>\n", f);

	fputs("<section id=\"examples\"><h2>Explained example breaches</h2>\n", f);
	if (!r->n_examples)
		fputs("<p>No breach stands.</p>\n", f);
	else
		fputs("<ol class=\"ex\">\n", f);
	for (size_t i = 0; i < r->n_examples; i++) {
		const cd_report_example *e = &r->examples[i];
		fputs("<li class=\"example\" data-rule=\"", f);
		html(f, e->rule);
		fputs("\"><div class=\"exh\">", f);
		html(f, e->obligation_id);
		fputs(" · kommune ", f);
		html(f, *e->muni ? e->muni : "–");
		fprintf(f, " · %s", benefit_name(e->benefit));
		if (e->due != CD_DATE_NONE)
			fprintf(f, " · due %s", cd_date_format(e->due, d));
		fputs("</div><div class=\"ext\">", f);
		html(f, e->explanation);
		fputs("</div></li>\n", f);
	}
	if (r->n_examples)
		fputs("</ol>\n", f);
	fputs("</section>\n", f);

	if (r->n_cohorts) {
		fputs("<section id=\"aggregates\"><h2>Aggregates (shares and averages, rules.md §4.1)</h2>\n<table>"
		      "<tr><th class=\"t\">aggregate</th><th class=\"t\">key</th><th class=\"t\">period</th>"
		      "<th class=\"t\">status</th><th>members</th><th>met</th><th>lapsed</th><th>exempted</th>"
		      "<th>required</th><th>held</th></tr>\n", f);
		for (size_t i = 0; i < r->n_cohorts; i++) {
			const cd_report_cohort *c = &r->cohorts[i];
			const char *col = c->status == CD_AGG_BREACHED ? "#c62828" : c->status == CD_AGG_MET ? "#2e7d32"
												     : "#5b6576";
			cohort_key(c, key, sizeof(key));
			fputs("<tr class=\"cohort\" data-aggregate=\"", f);
			html(f, c->aggregate_id);
			fputs("\" data-key=\"", f);
			html(f, key);
			fprintf(f, "\" data-period=\"%s\"><td class=\"t\">", cd_date_format(c->period_start, d));
			html(f, c->aggregate_id);
			fputs("</td><td class=\"t\">", f);
			html(f, key);
			fprintf(f, "</td><td class=\"t\">%s … ", cd_date_format(c->period_start, d));
			fprintf(f, "%s</td><td class=\"t\" data-field=\"status\" style=\"color:%s;font-weight:600\">%s</td>",
				cd_date_format(c->period_end, d), col, cohort_status(c->status));
			fprintf(f, "<td data-field=\"members\">%d</td><td data-field=\"met\">%d</td>"
				   "<td data-field=\"lapsed\">%d</td><td data-field=\"exempted\">%d</td>"
				   "<td data-field=\"required\">%d</td><td data-field=\"held\">%d</td></tr>\n",
				c->members, c->met, c->lapsed, c->exempted, c->required, c->held);
		}
		fputs("</table>\n<p class=\"note\">The latest standing of each cohort. SHARE: required and held are "
		      "members; AVERAGE: hundredths of a conversation per member.</p></section>\n", f);
	}

	fputs("<section id=\"months\"><h2>Per month</h2>\n<table><tr><th class=\"t\">month</th>" COUNTS_HEAD
	      "</tr>\n", f);
	for (size_t i = 0; i < n_mt; i++) {
		fprintf(f, "<tr class=\"month\" data-month=\"%04d-%02d\"><td class=\"t\">%04d-%02d</td>", mt[i].year,
			mt[i].month, mt[i].year, mt[i].month);
		html_counts_cells(f, &mt[i].n);
		fputs("</tr>\n", f);
	}
	fputs("<tr class=\"total\" data-month=\"total\"><th class=\"t\">total</th>", f);
	html_counts_cells(f, &r->total);
	fputs("</tr>\n</table></section>\n", f);

	fputs("<section id=\"municipalities\"><h2>Per municipality</h2>\n<table><tr><th class=\"t\">municipality"
	      "</th>" COUNTS_HEAD "</tr>\n", f);
	for (size_t i = 0; i < n_mu; i++) {
		fputs("<tr class=\"municipality\" data-municipality=\"", f);
		html(f, mu[i].muni);
		fputs("\"><td class=\"t\">", f);
		html(f, *mu[i].muni ? mu[i].muni : "–");
		fputs("</td>", f);
		html_counts_cells(f, &mu[i].n);
		fputs("</tr>\n", f);
	}
	fputs("</table></section>\n", f);

	fputs("<section id=\"benefits\"><h2>Per benefit</h2>\n<table><tr><th class=\"t\">benefit</th>" COUNTS_HEAD
	      "</tr>\n", f);
	for (int i = 0; i <= CD_BENEFIT_MAX; i++) {
		if (!ben[i].due)
			continue;
		fprintf(f, "<tr class=\"benefit\" data-benefit=\"%s\"><td class=\"t\">%s</td>", cd_benefit_name(i),
			cd_benefit_name(i));
		html_counts_cells(f, &ben[i]);
		fputs("</tr>\n", f);
	}
	fputs("</table></section>\n", f);

	fputs("<section id=\"rules\"><h2>Per rule</h2>\n<table><tr><th class=\"t\">rule</th>" COUNTS_HEAD "</tr>\n",
	      f);
	for (size_t i = 0; i < r->n_rules; i++) {
		fputs("<tr class=\"rule\" data-rule=\"", f);
		html(f, r->rules[i].rule);
		fputs("\"><td class=\"t\">", f);
		html(f, r->rules[i].rule);
		fputs("</td>", f);
		html_counts_cells(f, &r->rules[i].n);
		fputs("</tr>\n", f);
	}
	fputs("</table></section>\n", f);

	fprintf(f, "<p class=\"note\">%llu outputs read, %llu obligation instances",
		(unsigned long long)r->outputs, (unsigned long long)r->instances);
	if (r->undated)
		fprintf(f, " (%llu had no due date at the end, paused or cancelled while paused, and are in no month)", (unsigned long long)r->undated);
	if (r->settled)
		fprintf(f, "; %llu were settled before the end (due beyond the settle horizon: counted by their outcome "
			   "then), and %llu outputs came for settled ones (late changes)", (unsigned long long)r->settled,
			(unsigned long long)r->late_changes);
	fputs(". Each instance counts once, by its final outcome. Made by contactd report; the CSV and JSON forms "
	      "hold every municipality × benefit × month (docs/report.md).</p>\n</main>\n</body></html>\n", f);
	free(mt);
	free(mu);
	return 0;
}

int cd_report_write(FILE *f, cd_report_format fmt, const cd_report *r, const cd_report_meta *m)
{
	switch (fmt) {
	case CD_REPORT_CSV:
		write_csv(f, r);
		break;
	case CD_REPORT_JSON:
		write_json(f, r, m);
		break;
	case CD_REPORT_HTML:
		if (write_html(f, r, m) < 0)
			return -1;
		break;
	}
	return fflush(f) != 0 || ferror(f) ? -1 : 0;
}
