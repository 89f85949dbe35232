/*
 * pbjson.c — protobuf's canonical JSON mapping, driven by descriptors.
 *
 * Design. Both directions walk the message's ProtobufCMessageDescriptor and
 * touch the C struct only through the field descriptors' offsets, so every
 * message (generated now or later) gets the same mapping and no per-message
 * code exists. protobuf-c 1.4.1 has no json_name in its field descriptors, so
 * the lowerCamelCase name is derived on the fly from the proto name (protoc's
 * rule: drop each '_' and upper-case the letter after it); input keys are
 * compared against both spellings without building strings.
 *
 * Decoding parses the text with jansson into a tree, then fills a message
 * allocated with malloc and initialised by protobuf_c_message_init. Every
 * allocation is linked into its parent before anything that can fail runs,
 * so on any error one protobuf_c_message_free_unpacked on the root frees all
 * of it (unset strings keep pointing at the descriptor's default, which
 * free_unpacked leaves alone). A field given twice (as "eventId" and
 * "event_id") or two members of one oneof are errors, never leaks. Errors
 * name the JSON path ("registration.benefit", "ids[2]") in a fixed buffer.
 *
 * Encoding writes straight into the caller's cd_buf, no tree: fields in field
 * number order, proto3 defaults omitted (members of a set oneof always
 * printed), int64s quoted, enums by name, bytes in base64, Timestamps in
 * RFC 3339. Running out of the buffer's max is sticky and reported once; on
 * any failure the buffer is put back to its length on entry.
 *
 * google.protobuf.Timestamp <-> RFC 3339: the text is parsed and written
 * here, because a Timestamp spans years 1 … 9999 (seconds and nanos) while
 * state/date's cd_instant (nanoseconds in an int64) spans about 1678 … 2262;
 * the calendar arithmetic under it is state/date's (day numbers).
 *
 * Nothing global, nothing cached: the functions are reentrant. Static
 * helpers borrow every pointer they are given for the call only; the one
 * ownership transfer is a new allocation stored into its parent's slot,
 * after which the root message owns it.
 */
#include "proto/pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "state/date.h"

#define PATH_MAX_LEN 256
#define TS_MIN_SECONDS INT64_C(-62135596800)   /* 0001-01-01T00:00:00Z */
#define TS_MAX_SECONDS INT64_C(253402300799)   /* 9999-12-31T23:59:59Z */

/* ---- shared: paths, names, field access --------------------------------- */

typedef struct path {
	char s[PATH_MAX_LEN];
	size_t len;
} path;

/* Appends byte c unless full (the path is for messages: it may truncate). */
static void path_putc(path *p, char c)
{
	if (p->len + 1 < sizeof(p->s))
		p->s[p->len++] = c;
	p->s[p->len] = '\0';
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/*
 * Appends ".name" ("name" at the root), as given or, with camel set, as the
 * json name of a proto name. Returns the length to pop back to. No printf:
 * this runs for every field of every record.
 */
static size_t path_push_key(path *p, const char *name, int camel)
{
	size_t saved = p->len;
	int up = 0;

	if (p->len)
		path_putc(p, '.');
	for (; *name; name++) {
		if (camel && *name == '_') {
			up = 1;
			continue;
		}
		path_putc(p, up ? ascii_upper(*name) : *name);
		up = 0;
	}
	return saved;
}

static size_t path_push_index(path *p, size_t i)
{
	size_t saved = p->len;
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "[%zu]", i);
	for (char *c = tmp; *c; c++)
		path_putc(p, *c);
	return saved;
}

static void path_pop(path *p, size_t saved)
{
	p->len = saved;
	p->s[saved] = '\0';
}

/* Fills err with "field '<path>': <message>" (just the message at the root). */
static int CD_PRINTF(3, 4) path_fail(const path *p, cd_err *err, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->len == 0)
		return cd_err_set(err, 0, "%s", msg);
	return cd_err_set(err, 0, "field '%s': %s", p->s, msg);
}

/* Whether key is the json name (lowerCamelCase) derived from proto name `name`. */
static int json_name_eq(const char *key, const char *name)
{
	int up = 0;

	for (; *name; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		if (*key++ != (up ? ascii_upper(*name) : *name))
			return 0;
		up = 0;
	}
	return *key == '\0';
}

/* Borrowed pointers into msg's own storage. */
static void *field_ptr(ProtobufCMessage *msg, unsigned offset)
{
	return (char *)msg + offset;
}

static const void *field_cptr(const ProtobufCMessage *msg, unsigned offset)
{
	return (const char *)msg + offset;
}

static int is_oneof(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

static int is_timestamp(const ProtobufCMessageDescriptor *desc)
{
	return strcmp(desc->name, "google.protobuf.Timestamp") == 0;
}

/* Whether the field is stored by pointer (presence = non-NULL) rather than with has_. */
static int is_pointer_type(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_STRING || t == PROTOBUF_C_TYPE_MESSAGE;
}

static size_t value_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default: /* 32-bit integers and enums */
		return sizeof(int32_t);
	}
}

/* ---- RFC 3339 <-> (seconds, nanos) --------------------------------------- */

/* Reads exactly n digits at *s; advances *s. -1 if any is not a digit. */
static int read_digits(const char **s, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *s < n)
		return -1;
	for (int i = 0; i < n; i++) {
		char c = (*s)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static int expect_char(const char **s, const char *end, char c)
{
	if (*s >= end || **s != c)
		return -1;
	(*s)++;
	return 0;
}

/* ".f{1,9}" if present; nanos scaled to 9 digits. */
static int parse_fraction(const char **s, const char *end, int32_t *nanos)
{
	int digits = 0;
	int32_t v = 0;

	*nanos = 0;
	if (*s >= end || **s != '.')
		return 0;
	(*s)++;
	while (*s < end && **s >= '0' && **s <= '9') {
		if (++digits > 9)
			return -1;
		v = v * 10 + (**s - '0');
		(*s)++;
	}
	if (digits == 0)
		return -1;
	while (digits++ < 9)
		v *= 10;
	*nanos = v;
	return 0;
}

/* "Z" or "+HH:MM" / "-HH:MM", as seconds east of UTC; must end the text. */
static int parse_offset(const char **s, const char *end, int64_t *off)
{
	int sign, h, m;

	if (*s < end && **s == 'Z') {
		(*s)++;
		*off = 0;
		return *s == end ? 0 : -1;
	}
	if (*s >= end || (**s != '+' && **s != '-'))
		return -1;
	sign = **s == '-' ? -1 : 1;
	(*s)++;
	if (read_digits(s, end, 2, &h) < 0 || expect_char(s, end, ':') < 0 ||
	    read_digits(s, end, 2, &m) < 0 || h > 23 || m > 59 || *s != end)
		return -1;
	*off = sign * (int64_t)(h * 3600 + m * 60);
	return 0;
}

/* Parses "YYYY-MM-DDTHH:MM:SS[.fffffffff](Z|±HH:MM)" into UTC seconds and nanos. */
static int parse_rfc3339(const char *s, size_t len, int64_t *secs, int32_t *nanos)
{
	const char *end = s + len;
	int y, mo, d, h, mi, se;
	int64_t off, t;

	if (read_digits(&s, end, 4, &y) < 0 || expect_char(&s, end, '-') < 0 ||
	    read_digits(&s, end, 2, &mo) < 0 || expect_char(&s, end, '-') < 0 ||
	    read_digits(&s, end, 2, &d) < 0 || expect_char(&s, end, 'T') < 0 ||
	    read_digits(&s, end, 2, &h) < 0 || expect_char(&s, end, ':') < 0 ||
	    read_digits(&s, end, 2, &mi) < 0 || expect_char(&s, end, ':') < 0 ||
	    read_digits(&s, end, 2, &se) < 0)
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > cd_days_in_month(y, mo) ||
	    h > 23 || mi > 59 || se > 59)
		return -1;
	if (parse_fraction(&s, end, nanos) < 0 || parse_offset(&s, end, &off) < 0)
		return -1;
	t = (int64_t)cd_date_from_ymd(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
	if (t < TS_MIN_SECONDS || t > TS_MAX_SECONDS)
		return -1;
	*secs = t;
	return 0;
}

/* Formats as UTC with 0, 3, 6 or 9 fractional digits into dst (>= 32 bytes). -1 out of range. */
static int format_rfc3339(int64_t secs, int32_t nanos, char *dst, size_t cap)
{
	int64_t days, rem;
	int y, mo, d, n;

	if (secs < TS_MIN_SECONDS || secs > TS_MAX_SECONDS || nanos < 0 || nanos > 999999999)
		return -1;
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	cd_date_to_ymd((cd_date)days, &y, &mo, &d);     /* years 1 … 9999: well inside a cd_date */
	n = snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d,
		     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	if (nanos == 0)
		snprintf(dst + n, cap - (size_t)n, "Z");
	else if (nanos % 1000000 == 0)
		snprintf(dst + n, cap - (size_t)n, ".%03dZ", (int)(nanos / 1000000));
	else if (nanos % 1000 == 0)
		snprintf(dst + n, cap - (size_t)n, ".%06dZ", (int)(nanos / 1000));
	else
		snprintf(dst + n, cap - (size_t)n, ".%09dZ", (int)nanos);
	return 0;
}

/* ---- base64 --------------------------------------------------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard or URL-safe alphabet; -1 for anything else. */
static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/*
 * Decodes base64 (either alphabet, padding optional but correct if present)
 * into a new malloc'd buffer *out (caller frees; NULL when the result is empty).
 */
static int b64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
	size_t pad = 0, n = 0;
	uint32_t acc = 0;
	int bits = 0;
	uint8_t *dst;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 0 && len >= 2 && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	len -= pad;
	if (len % 4 == 1)
		return -1;
	if (len == 0)
		return 0;
	dst = malloc(len / 4 * 3 + 3);
	if (!dst)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i]);
		if (v < 0) {
			free(dst);
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dst[n++] = (uint8_t)(acc >> bits);
		}
	}
	*out = dst;
	*outlen = n;
	return 0;
}

/* ---- decoding ------------------------------------------------------------- */

typedef struct dec {
	path path;
	cd_err *err;
} dec;

static int decode_object(dec *d, ProtobufCMessage *msg, json_t *obj);

/* A new message of type desc, owned by the caller (free_unpacked). NULL when out of memory. */
static ProtobufCMessage *message_new(const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = malloc(desc->sizeof_message);
	if (m)
		protobuf_c_message_init(desc, m);
	return m;
}

/* Accepts only "-?[0-9]+" (as protobuf's JSON parsers do for quoted integers). */
static int is_integer_text(const char *s)
{
	if (*s == '-')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* A JSON integer, integral real, or quoted integer, within [lo, hi]. */
static int get_signed(dec *d, json_t *v, int64_t lo, int64_t hi, const char *tname, int64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < lo || x > hi)
			return path_fail(&d->path, d->err, "value '%" JSON_INTEGER_FORMAT "' out of range for %s", x, tname);
		*out = x;
		return 0;
	}
	if (json_is_real(v)) {
		double x = json_real_value(v);
		if (!(x >= (double)lo && x <= (double)hi) || x >= 9223372036854775808.0)
			return path_fail(&d->path, d->err, "value '%.17g' out of range for %s", x, tname);
		if ((double)(int64_t)x != x)
			return path_fail(&d->path, d->err, "expected an integer");
		*out = (int64_t)x;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		long long x;
		if (!is_integer_text(s))
			return path_fail(&d->path, d->err, "invalid integer '%s'", s);
		errno = 0;
		x = strtoll(s, NULL, 10);
		if (errno == ERANGE || x < lo || x > hi)
			return path_fail(&d->path, d->err, "value '%s' out of range for %s", s, tname);
		*out = x;
		return 0;
	}
	return path_fail(&d->path, d->err, "expected an integer");
}

static int get_unsigned(dec *d, json_t *v, uint64_t hi, const char *tname, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < 0 || (uint64_t)x > hi)
			return path_fail(&d->path, d->err, "value '%" JSON_INTEGER_FORMAT "' out of range for %s", x, tname);
		*out = (uint64_t)x;
		return 0;
	}
	if (json_is_real(v)) {
		double x = json_real_value(v);
		if (!(x >= 0 && x <= (double)hi) || x >= 18446744073709551616.0)
			return path_fail(&d->path, d->err, "value '%.17g' out of range for %s", x, tname);
		if ((double)(uint64_t)x != x)
			return path_fail(&d->path, d->err, "expected an integer");
		*out = (uint64_t)x;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		unsigned long long x;
		if (!is_integer_text(s))
			return path_fail(&d->path, d->err, "invalid integer '%s'", s);
		errno = 0;
		x = strtoull(s, NULL, 10);
		if (s[0] == '-' || errno == ERANGE || x > hi)
			return path_fail(&d->path, d->err, "value '%s' out of range for %s", s, tname);
		*out = x;
		return 0;
	}
	return path_fail(&d->path, d->err, "expected an integer");
}

/* "NaN", "Infinity", "-Infinity" or a plain decimal number in a string. */
static int parse_float_text(const char *s, double *out)
{
	char *end;

	if (strcmp(s, "NaN") == 0)
		*out = NAN;
	else if (strcmp(s, "Infinity") == 0)
		*out = INFINITY;
	else if (strcmp(s, "-Infinity") == 0)
		*out = -INFINITY;
	else {
		if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
			return -1;
		errno = 0;
		*out = strtod(s, &end);
		if (*end || errno == ERANGE)
			return -1;
	}
	return 0;
}

static int get_double(dec *d, json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		if (parse_float_text(json_string_value(v), out) < 0)
			return path_fail(&d->path, d->err, "invalid number '%s'", json_string_value(v));
		return 0;
	}
	return path_fail(&d->path, d->err, "expected a number");
}

static int get_float(dec *d, json_t *v, float *out)
{
	double x;

	if (get_double(d, v, &x) < 0)
		return -1;
	if (isfinite(x) && (x > FLT_MAX || x < -FLT_MAX))
		return path_fail(&d->path, d->err, "value '%g' out of range for float", x);
	*out = (float)x;
	return 0;
}

static int get_enum(dec *d, const ProtobufCEnumDescriptor *ed, json_t *v, int32_t *out)
{
	const ProtobufCEnumValue *ev;

	if (json_is_string(v)) {
		ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
		if (!ev)
			return path_fail(&d->path, d->err, "unknown enum value '%s'", json_string_value(v));
		*out = ev->value;
		return 0;
	}
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		ev = x >= INT32_MIN && x <= INT32_MAX ? protobuf_c_enum_descriptor_get_value(ed, (int)x) : NULL;
		if (!ev)
			return path_fail(&d->path, d->err, "unknown enum value %" JSON_INTEGER_FORMAT, x);
		*out = ev->value;
		return 0;
	}
	return path_fail(&d->path, d->err, "expected an enum name or number");
}

/* *slot (a string field, holding the default) gets a malloc'd copy, owned by the message. */
static int get_string(dec *d, json_t *v, char **slot)
{
	size_t n;
	char *s;

	if (!json_is_string(v))
		return path_fail(&d->path, d->err, "expected a string");
	n = json_string_length(v);
	s = malloc(n + 1);
	if (!s)
		return path_fail(&d->path, d->err, "out of memory");
	memcpy(s, json_string_value(v), n + 1);
	*slot = s;
	return 0;
}

static int get_bytes(dec *d, json_t *v, ProtobufCBinaryData *slot)
{
	uint8_t *data;
	size_t n;

	if (!json_is_string(v))
		return path_fail(&d->path, d->err, "expected a base64 string");
	if (b64_decode(json_string_value(v), json_string_length(v), &data, &n) < 0)
		return path_fail(&d->path, d->err, "invalid base64 '%s'", json_string_value(v));
	slot->data = data;
	slot->len = n;
	return 0;
}

static int get_timestamp(dec *d, json_t *v, Google__Protobuf__Timestamp *ts)
{
	int64_t secs;
	int32_t nanos;

	if (!json_is_string(v))
		return path_fail(&d->path, d->err, "expected a timestamp string");
	if (parse_rfc3339(json_string_value(v), json_string_length(v), &secs, &nanos) < 0)
		return path_fail(&d->path, d->err, "invalid timestamp '%s'", json_string_value(v));
	ts->seconds = secs;
	ts->nanos = nanos;
	return 0;
}

/* Allocates the sub-message into *slot (owned by the parent from then on), then fills it. */
static int get_message(dec *d, const ProtobufCMessageDescriptor *desc, json_t *v, ProtobufCMessage **slot)
{
	ProtobufCMessage *m;

	int ts = is_timestamp(desc);

	if (ts ? !json_is_string(v) : !json_is_object(v))
		return path_fail(&d->path, d->err, ts ? "expected a timestamp string" : "expected an object");
	m = message_new(desc);
	if (!m)
		return path_fail(&d->path, d->err, "out of memory");
	*slot = m;
	if (ts)
		return get_timestamp(d, v, (Google__Protobuf__Timestamp *)m);
	return decode_object(d, m, v);
}

static int get_int_value(dec *d, const ProtobufCFieldDescriptor *f, json_t *v, void *slot)
{
	int64_t s;
	uint64_t u;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (get_signed(d, v, INT32_MIN, INT32_MAX, "int32", &s) < 0)
			return -1;
		*(int32_t *)slot = (int32_t)s;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (get_unsigned(d, v, UINT32_MAX, "uint32", &u) < 0)
			return -1;
		*(uint32_t *)slot = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (get_signed(d, v, INT64_MIN, INT64_MAX, "int64", &s) < 0)
			return -1;
		*(int64_t *)slot = s;
		return 0;
	default:
		if (get_unsigned(d, v, UINT64_MAX, "uint64", &u) < 0)
			return -1;
		*(uint64_t *)slot = u;
		return 0;
	}
}

/* Decodes one (non-null) value of field f into slot, storage of f's C type. */
static int decode_value(dec *d, const ProtobufCFieldDescriptor *f, json_t *v, void *slot)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return path_fail(&d->path, d->err, "expected a boolean");
		*(protobuf_c_boolean *)slot = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return get_float(d, v, slot);
	case PROTOBUF_C_TYPE_DOUBLE:
		return get_double(d, v, slot);
	case PROTOBUF_C_TYPE_ENUM:
		return get_enum(d, f->descriptor, v, slot);
	case PROTOBUF_C_TYPE_STRING:
		return get_string(d, v, slot);
	case PROTOBUF_C_TYPE_BYTES:
		return get_bytes(d, v, slot);
	case PROTOBUF_C_TYPE_MESSAGE:
		return get_message(d, f->descriptor, v, slot);
	default:
		return get_int_value(d, f, v, slot);
	}
}

/* Repeated: a calloc'd array linked into msg (with its count) before elements are decoded. */
static int decode_repeated(dec *d, const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg, json_t *v)
{
	size_t n, size = value_size(f->type);
	char *arr;

	if (!json_is_array(v))
		return path_fail(&d->path, d->err, "expected an array");
	n = json_array_size(v);
	if (n == 0)
		return 0;
	arr = calloc(n, size);
	if (!arr)
		return path_fail(&d->path, d->err, "out of memory");
	*(void **)field_ptr(msg, f->offset) = arr;
	*(size_t *)field_ptr(msg, f->quantifier_offset) = n;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		size_t saved = path_push_index(&d->path, i);
		if (json_is_null(e))
			return path_fail(&d->path, d->err, "null is not allowed in a repeated field");
		if (decode_value(d, f, e, arr + i * size) < 0)
			return -1;
		path_pop(&d->path, saved);
	}
	return 0;
}

/* A oneof member: rejects a second member, then marks this one as the case. */
static int claim_oneof(dec *d, const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg)
{
	uint32_t *oneof_case = field_ptr(msg, f->quantifier_offset);

	if (*oneof_case != 0 && *oneof_case != f->id)
		return path_fail(&d->path, d->err, "another field of the same oneof is already set");
	memset(field_ptr(msg, f->offset), 0, value_size(f->type));
	*oneof_case = f->id;
	return 0;
}

static int decode_field(dec *d, const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg, json_t *v)
{
	if (json_is_null(v))
		return 0;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return decode_repeated(d, f, msg, v);
	if (is_oneof(f)) {
		if (claim_oneof(d, f, msg) < 0)
			return -1;
	} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !is_pointer_type(f->type)) {
		*(protobuf_c_boolean *)field_ptr(msg, f->quantifier_offset) = 1;
	}
	return decode_value(d, f, v, field_ptr(msg, f->offset));
}

/* The field whose proto name or json name is key; its index in *idx. NULL if none. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc, const char *key,
						  unsigned *idx)
{
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		if (json_name_eq(key, f->name) || strcmp(key, f->name) == 0) {
			*idx = i;
			return f;
		}
	}
	return NULL;
}

/*
 * Fills msg (initialised, linked into the tree) from obj. `seen` marks fields
 * already given, so that "eventId" and "event_id" together are an error.
 */
static int decode_fields(dec *d, ProtobufCMessage *msg, json_t *obj, uint8_t *seen)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		unsigned i;
		const ProtobufCFieldDescriptor *f = find_field(msg->descriptor, key, &i);
		size_t saved;
		if (!f)
			continue; /* unknown field: ignored */
		saved = path_push_key(&d->path, key, 0);
		if (seen[i / 8] & (1u << (i % 8)))
			return path_fail(&d->path, d->err, "field given twice (as json name and proto name)");
		seen[i / 8] |= (uint8_t)(1u << (i % 8));
		if (decode_field(d, f, msg, v) < 0)
			return -1;
		path_pop(&d->path, saved);
	}
	return 0;
}

static int decode_object(dec *d, ProtobufCMessage *msg, json_t *obj)
{
	uint8_t small[64], *seen = small;
	size_t n = (msg->descriptor->n_fields + 7) / 8;
	int rc;

	if (!json_is_object(obj))
		return path_fail(&d->path, d->err, "expected an object");
	if (n > sizeof(small) && !(seen = calloc(n, 1)))
		return path_fail(&d->path, d->err, "out of memory");
	if (seen == small)
		memset(small, 0, sizeof(small));
	rc = decode_fields(d, msg, obj, seen);
	if (seen != small)
		free(seen);
	return rc;
}

int pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
		  ProtobufCMessage **out, cd_err *err)
{
	int rc = -1;
	json_error_t jerr;
	json_t *root;
	ProtobufCMessage *msg = NULL;
	dec d = { .err = err };

	*out = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		cd_err_set(err, 0, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		cd_err_set(err, 0, "expected a JSON object for '%s'", desc->name);
		goto out;
	}
	msg = message_new(desc);
	if (!msg) {
		cd_err_set(err, 0, "out of memory");
		goto out;
	}
	if (decode_object(&d, msg, root) < 0)
		goto out;
	*out = msg;
	msg = NULL;
	rc = 0;
out:
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
	json_decref(root);
	return rc;
}

/* ---- encoding ------------------------------------------------------------- */

typedef struct enc {
	cd_buf *out;      /* borrowed */
	cd_err *err;
	path path;
	int full;         /* out's max was hit: sticky */
} enc;

static int encode_message(enc *e, const ProtobufCMessage *msg);

static void put(enc *e, const void *p, size_t n)
{
	if (!e->full && cd_buf_append(e->out, p, n) < 0)
		e->full = 1;
}

static void puts_(enc *e, const char *s)
{
	put(e, s, strlen(s));
}

static void putc_(enc *e, char c)
{
	put(e, &c, 1);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* The JSON escape of ASCII c ('"', '\\' or a control character). */
static void put_escape(enc *e, unsigned char c)
{
	static const char short_esc[] = "btn\0fr"; /* for 0x08 .. 0x0d; 0x0b has none */
	char esc[8];

	if (c == '"' || c == '\\')
		snprintf(esc, sizeof(esc), "\\%c", c);
	else if (c >= 0x08 && c <= 0x0d && c != 0x0b)
		snprintf(esc, sizeof(esc), "\\%c", short_esc[c - 0x08]);
	else
		snprintf(esc, sizeof(esc), "\\u%04x", c);
	puts_(e, esc);
}

/* Appends str as a JSON string literal; runs of plain bytes are copied at once. */
static int put_string(enc *e, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), run = 0, i = 0;

	putc_(e, '"');
	while (i < n) {
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t k = utf8_seq(s + i, n - i);
			if (!k)
				return path_fail(&e->path, e->err, "string is not valid UTF-8");
			i += k;
		} else if (c >= 0x20 && c != '"' && c != '\\') {
			i++;
		} else {
			put(e, s + run, i - run);
			put_escape(e, c);
			run = ++i;
		}
	}
	put(e, s + run, n - run);
	putc_(e, '"');
	return 0;
}

static void put_base64(enc *e, const ProtobufCBinaryData *b)
{
	char quad[4];

	putc_(e, '"');
	for (size_t i = 0; i < b->len; i += 3) {
		uint32_t v = (uint32_t)b->data[i] << 16;
		size_t rest = b->len - i;
		if (rest > 1)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (rest > 2)
			v |= b->data[i + 2];
		quad[0] = b64_alphabet[v >> 18];
		quad[1] = b64_alphabet[(v >> 12) & 63];
		quad[2] = rest > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		quad[3] = rest > 2 ? b64_alphabet[v & 63] : '=';
		put(e, quad, 4);
	}
	putc_(e, '"');
}

/* Shortest of %.{lo..hi}g that reads back as x; NaN and infinities as protobuf's strings. */
static void put_double(enc *e, double x, int is_float)
{
	char tmp[40];

	if (isnan(x)) {
		puts_(e, "\"NaN\"");
		return;
	}
	if (isinf(x)) {
		puts_(e, x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	for (int prec = is_float ? 6 : 15; prec <= (is_float ? 9 : 17); prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, x);
		if (is_float ? strtof(tmp, NULL) == (float)x : strtod(tmp, NULL) == x)
			break;
	}
	puts_(e, tmp);
}

static void put_enum(enc *e, const ProtobufCEnumDescriptor *ed, int32_t v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	char tmp[16];

	if (ev) {
		putc_(e, '"');
		puts_(e, ev->name);
		putc_(e, '"');
		return;
	}
	snprintf(tmp, sizeof(tmp), "%" PRId32, v);
	puts_(e, tmp);
}

static int put_timestamp(enc *e, const Google__Protobuf__Timestamp *ts)
{
	char tmp[48];

	if (format_rfc3339(ts->seconds, ts->nanos, tmp, sizeof(tmp)) < 0)
		return path_fail(&e->path, e->err, "timestamp out of range (seconds %" PRId64 ", nanos %" PRId32 ")",
				 (int64_t)ts->seconds, (int32_t)ts->nanos);
	putc_(e, '"');
	puts_(e, tmp);
	putc_(e, '"');
	return 0;
}

static void put_integer(enc *e, ProtobufCType t, const void *slot)
{
	char tmp[32];

	switch (t) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(tmp, sizeof(tmp), "%" PRIu32, *(const uint32_t *)slot);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(tmp, sizeof(tmp), "\"%" PRId64 "\"", *(const int64_t *)slot);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(tmp, sizeof(tmp), "\"%" PRIu64 "\"", *(const uint64_t *)slot);
		break;
	default:
		snprintf(tmp, sizeof(tmp), "%" PRId32, *(const int32_t *)slot);
		break;
	}
	puts_(e, tmp);
}

/* One value of field f, stored at slot. */
static int encode_value(enc *e, const ProtobufCFieldDescriptor *f, const void *slot)
{
	const ProtobufCMessage *m;

	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		puts_(e, *(const protobuf_c_boolean *)slot ? "true" : "false");
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(e, *(const float *)slot, 1);
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(e, *(const double *)slot, 0);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		put_enum(e, f->descriptor, *(const int32_t *)slot);
		return 0;
	case PROTOBUF_C_TYPE_STRING:
		return put_string(e, *(char *const *)slot ? *(char *const *)slot : "");
	case PROTOBUF_C_TYPE_BYTES:
		put_base64(e, slot);
		return 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		m = *(ProtobufCMessage *const *)slot;
		if (!m)
			return path_fail(&e->path, e->err, "null message in a repeated field");
		if (is_timestamp(m->descriptor))
			return put_timestamp(e, (const Google__Protobuf__Timestamp *)m);
		return encode_message(e, m);
	default:
		put_integer(e, f->type, slot);
		return 0;
	}
}

static int encode_repeated(enc *e, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
	size_t n = *(const size_t *)field_cptr(msg, f->quantifier_offset);
	const char *arr = *(char *const *)field_cptr(msg, f->offset);
	size_t size = value_size(f->type);

	putc_(e, '[');
	for (size_t i = 0; i < n; i++) {
		size_t saved = path_push_index(&e->path, i);
		if (i)
			putc_(e, ',');
		if (encode_value(e, f, arr + i * size) < 0)
			return -1;
		path_pop(&e->path, saved);
	}
	putc_(e, ']');
	return 0;
}

/* Whether a proto3 singular field differs from its default (protobuf-c's zeroish). */
static int is_nonzero(const ProtobufCFieldDescriptor *f, const void *slot)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return *(char *const *)slot && **(char *const *)slot;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)slot)->len > 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)slot != NULL;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)slot != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)slot != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)slot != 0;
	default:
		return value_size(f->type) == 8 ? *(const uint64_t *)slot != 0 : *(const uint32_t *)slot != 0;
	}
}

/* Whether field f of msg is printed: set oneof members, has_/non-NULL optionals, non-default others. */
static int is_present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
	const void *slot = field_cptr(msg, f->offset);

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)field_cptr(msg, f->quantifier_offset) > 0;
	if (is_oneof(f))
		return *(const uint32_t *)field_cptr(msg, f->quantifier_offset) == f->id &&
		       (!is_pointer_type(f->type) || *(void *const *)slot != NULL);
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && is_pointer_type(f->type))
		return *(void *const *)slot != NULL && *(void *const *)slot != f->default_value;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *)field_cptr(msg, f->quantifier_offset) != 0;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return !is_pointer_type(f->type) || *(void *const *)slot != NULL;
	return is_nonzero(f, slot);
}

/* `"jsonName":`, copied in runs between underscores. */
static void put_key(enc *e, const char *name)
{
	putc_(e, '"');
	while (*name) {
		size_t run = strcspn(name, "_");
		put(e, name, run);
		name += run;
		while (*name == '_')
			name++;
		if (*name)
			putc_(e, ascii_upper(*name++));
	}
	puts_(e, "\":");
}

static int encode_message(enc *e, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	int first = 1;

	putc_(e, '{');
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		size_t saved;
		int rc;
		if (!is_present(f, msg))
			continue;
		if (!first)
			putc_(e, ',');
		first = 0;
		put_key(e, f->name);
		saved = path_push_key(&e->path, f->name, 1);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			rc = encode_repeated(e, f, msg);
		else
			rc = encode_value(e, f, field_cptr(msg, f->offset));
		if (rc < 0)
			return -1;
		path_pop(&e->path, saved);
	}
	putc_(e, '}');
	return 0;
}

int pbjson_encode(const ProtobufCMessage *msg, cd_buf *out, cd_err *err)
{
	int rc = -1;
	size_t start = out->len;
	enc e = { .out = out, .err = err };

	if (is_timestamp(msg->descriptor)) {
		if (put_timestamp(&e, (const Google__Protobuf__Timestamp *)msg) < 0)
			goto out;
	} else if (encode_message(&e, msg) < 0) {
		goto out;
	}
	if (e.full) {
		cd_err_set(err, 0, "JSON of '%s' longer than the output maximum of %zu bytes",
			   msg->descriptor->name, out->max);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0 && out->data) {
		out->len = start;
		out->data[start] = '\0';
	}
	return rc;
}
