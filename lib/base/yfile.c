#include "yfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "util.h"

unsigned metro_y_line(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 0;
}

unsigned metro_y_col(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.column + 1 : 0;
}

void metro_y_error(struct metro_yfile *f, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = metro_vasprintf(fmt, ap);
	va_end(ap);
	metro_diag_add(f->diag, f->name, metro_y_line(at), metro_y_col(at), "%s", msg);
	free(msg);
}

/* Find the first byte that is not valid UTF-8 (overlongs, surrogates and code points above
 * U+10FFFF included) and report its line and column.  libyaml checks too, but reports a byte
 * offset in a message that users cannot act on. */
static int check_utf8(const unsigned char *s, size_t len, size_t *bad, unsigned *line,
		      unsigned *col)
{
	unsigned l = 1, c = 1;
	size_t i = 0;
	while (i < len) {
		unsigned char b = s[i];
		size_t need;
		unsigned cp;
		if (b < 0x80) {
			i++;
			if (b == '\n') {
				l++;
				c = 1;
			} else {
				c++;
			}
			continue;
		} else if ((b & 0xe0) == 0xc0) {
			need = 1;
			cp = b & 0x1f;
		} else if ((b & 0xf0) == 0xe0) {
			need = 2;
			cp = b & 0x0f;
		} else if ((b & 0xf8) == 0xf0) {
			need = 3;
			cp = b & 0x07;
		} else {
			goto bad;
		}
		for (size_t k = 1; k <= need; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += need + 1;
		c++;
	}
	return 0;
bad:
	*bad = i;
	*line = l;
	*col = c;
	return -1;
}

static void parser_error(struct metro_yfile *f, const yaml_parser_t *p)
{
	unsigned line = (unsigned)p->problem_mark.line + 1;
	unsigned col = (unsigned)p->problem_mark.column + 1;
	const char *problem = p->problem ? p->problem : "unknown problem";
	if (p->error == YAML_READER_ERROR) {
		metro_diag_add(f->diag, f->name, 0, 0, "cannot read: %s at byte %zu", problem,
			       p->problem_offset);
	} else if (p->context) {
		metro_diag_add(f->diag, f->name, line, col, "YAML syntax error: %s %s", problem,
			       p->context);
	} else {
		metro_diag_add(f->diag, f->name, line, col, "YAML syntax error: %s", problem);
	}
}

/* The pre-pass: walk the event stream once, refusing what the composer should never see. */
static int prescan(struct metro_yfile *f, const unsigned char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, bad = 0;
	long nodes = 0;
	if (!yaml_parser_initialize(&p))
		abort();
	yaml_parser_set_input_string(&p, buf, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			parser_error(f, &p);
			bad = 1;
			break;
		}
		unsigned line = (unsigned)ev.start_mark.line + 1;
		unsigned col = (unsigned)ev.start_mark.column + 1;
		yaml_event_type_t type = ev.type;
		switch (type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				metro_diag_add(f->diag, f->name, line, col,
					       "more than one YAML document in the file");
				bad = 1;
			}
			break;
		case YAML_ALIAS_EVENT:
			metro_diag_add(f->diag, f->name, line, col,
				       "alias '*%s' is not allowed: write the value out",
				       (const char *)ev.data.alias.anchor);
			bad = 1;
			break;
		case YAML_SCALAR_EVENT:
			nodes++;
			if (ev.data.scalar.length > METRO_Y_MAX_SCALAR) {
				metro_diag_add(f->diag, f->name, line, col,
					       "scalar of %zu bytes exceeds the limit of %d",
					       ev.data.scalar.length, METRO_Y_MAX_SCALAR);
				bad = 1;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			nodes++;
			if (++depth > METRO_Y_MAX_DEPTH) {
				metro_diag_add(f->diag, f->name, line, col,
					       "nesting deeper than %d levels", METRO_Y_MAX_DEPTH);
				yaml_event_delete(&ev);
				yaml_parser_delete(&p);
				return -1;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (nodes > METRO_Y_MAX_NODES) {
			metro_diag_add(f->diag, f->name, line, col,
				       "more than %d nodes in the file", METRO_Y_MAX_NODES);
			bad = 1;
		}
		if (type == YAML_STREAM_END_EVENT || (bad && nodes > METRO_Y_MAX_NODES))
			break;
	}
	yaml_parser_delete(&p);
	if (!bad && docs == 0) {
		metro_diag_add(f->diag, f->name, 1, 1, "file is empty");
		bad = 1;
	}
	return bad ? -1 : 0;
}

int metro_yfile_load_buffer(const char *name, const unsigned char *buf, size_t len,
			    struct metro_diag *diag, struct metro_yfile **out)
{
	*out = NULL;
	struct metro_yfile *f = metro_calloc(1, sizeof *f);
	f->name = metro_strdup(name);
	f->diag = diag;
	size_t badoff;
	unsigned line, col;
	if (len > METRO_Y_MAX_BYTES) {
		metro_diag_add(diag, name, 0, 0, "file of %zu bytes exceeds the limit of %u", len,
			       METRO_Y_MAX_BYTES);
		goto fail;
	}
	if (len == 0) {
		metro_diag_add(diag, name, 1, 1, "file is empty");
		goto fail;
	}
	if (check_utf8(buf, len, &badoff, &line, &col) < 0) {
		metro_diag_add(diag, name, line, col, "not valid UTF-8 (byte 0x%02x at offset %zu)",
			       buf[badoff], badoff);
		goto fail;
	}
	if (memchr(buf, '\0', len)) {
		metro_diag_add(diag, name, 0, 0, "file contains a NUL byte");
		goto fail;
	}
	if (prescan(f, buf, len) < 0)
		goto fail;
	metro_sha256_hex(buf, len, f->sha256);

	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		abort();
	yaml_parser_set_input_string(&p, buf, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	if (!yaml_parser_load(&p, &f->doc)) {
		parser_error(f, &p);
		yaml_parser_delete(&p);
		goto fail;
	}
	yaml_parser_delete(&p);
	f->have_doc = 1;
	if (!yaml_document_get_root_node(&f->doc)) {
		metro_diag_add(diag, name, 1, 1, "file is empty");
		goto fail;
	}
	*out = f;
	return METRO_OK;
fail:
	metro_yfile_destroy(&f);
	return METRO_E_INVAL;
}

int metro_yfile_load(const char *path, struct metro_diag *diag, struct metro_yfile **out)
{
	char *buf;
	size_t len;
	*out = NULL;
	int err = metro_read_file(path, METRO_Y_MAX_BYTES, &buf, &len);
	if (err == METRO_E_RANGE) {
		metro_diag_add(diag, path, 0, 0, "file exceeds the limit of %u bytes",
			       METRO_Y_MAX_BYTES);
		return METRO_E_INVAL;
	}
	if (err) {
		metro_diag_add(diag, path, 0, 0, "cannot read: %s", strerror(errno));
		return err;
	}
	err = metro_yfile_load_buffer(path, (const unsigned char *)buf, len, diag, out);
	free(buf);
	return err;
}

void metro_yfile_destroy(struct metro_yfile **pf)
{
	struct metro_yfile *f = *pf;
	if (!f)
		return;
	if (f->have_doc)
		yaml_document_delete(&f->doc);
	free(f->name);
	free(f);
	*pf = NULL;
}

yaml_node_t *metro_y_root(struct metro_yfile *f)
{
	return yaml_document_get_root_node(&f->doc);
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

int metro_y_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *s = sval(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* A path snprintf cut (n is what it wanted to write): end it with "..." at a character
 * boundary rather than in the middle of a UTF-8 sequence. */
static void mark_cut(struct metro_ypath *p, int n)
{
	if (n >= 0 && (size_t)n < sizeof p->s)
		return;
	if (n < 0) { /* an output error: nothing trustworthy was written */
		memcpy(p->s, "...", 4);
		return;
	}
	size_t end = sizeof p->s - 4; /* room for "..." and the NUL */
	while (end > 0 && ((unsigned char)p->s[end] & 0xc0) == 0x80)
		end--;
	memcpy(p->s + end, "...", 4);
}

struct metro_ypath metro_ykey(const char *where, const char *key)
{
	struct metro_ypath p;
	int n;
	if (!where || !*where)
		n = snprintf(p.s, sizeof p.s, "%s", key);
	else
		n = snprintf(p.s, sizeof p.s, "%s.%s", where, key);
	mark_cut(&p, n);
	return p;
}

struct metro_ypath metro_yindex(const char *where, int i)
{
	struct metro_ypath p;
	mark_cut(&p, snprintf(p.s, sizeof p.s, "%s[%d]", where, i));
	return p;
}

int metro_y_map(struct metro_yfile *f, yaml_node_t *node, const char *where,
		const struct metro_yfield *fields, size_t n, yaml_node_t **vals)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		vals[i] = NULL;
	if (!node || node->type != YAML_MAPPING_NODE) {
		if (node && metro_y_is_null(node))
			metro_y_error(f, node, "%s: expected a mapping, found nothing",
				      where && *where ? where : "top level");
		else
			metro_y_error(f, node, "%s: expected a mapping, found %s",
				      where && *where ? where : "top level",
				      node ? kind_name(node) : "nothing");
		return METRO_E_INVAL;
	}
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&f->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&f->doc, p->value);
		if (!k || k->type != YAML_SCALAR_NODE) {
			metro_y_error(f, k, "%s: keys must be plain words, found %s",
				      where && *where ? where : "top level",
				      k ? kind_name(k) : "nothing");
			bad = 1;
			continue;
		}
		size_t i;
		for (i = 0; i < n; i++)
			if (!strcmp(fields[i].key, sval(k)))
				break;
		if (i == n) {
			char expected[512] = "";
			size_t used = 0;
			for (size_t j = 0; j < n && used < sizeof expected - 1; j++)
				used += (size_t)snprintf(expected + used, sizeof expected - used,
							 "%s%s", j ? ", " : "", fields[j].key);
			metro_y_error(f, k, "unknown key '%s' (expected one of: %s)",
				      metro_ykey(where, sval(k)).s, expected);
			bad = 1;
			continue;
		}
		if (vals[i]) {
			metro_y_error(f, k, "duplicate key '%s' (first at line %u)",
				      metro_ykey(where, sval(k)).s, metro_y_line(vals[i]));
			bad = 1;
			continue;
		}
		vals[i] = v;
	}
	for (size_t i = 0; i < n; i++) {
		if (fields[i].required && !vals[i]) {
			metro_y_error(f, node, "missing required key '%s'",
				      metro_ykey(where, fields[i].key).s);
			bad = 1;
		}
	}
	return bad ? METRO_E_INVAL : METRO_OK;
}

int metro_y_seq(struct metro_yfile *f, yaml_node_t *node, const char *name)
{
	if (!node || node->type != YAML_SEQUENCE_NODE) {
		metro_y_error(f, node, "%s: expected a list, found %s", name,
			      !node || metro_y_is_null(node) ? "nothing" : kind_name(node));
		return -1;
	}
	return (int)(node->data.sequence.items.top - node->data.sequence.items.start);
}

yaml_node_t *metro_y_seq_at(struct metro_yfile *f, yaml_node_t *seq, int i)
{
	return yaml_document_get_node(&f->doc, seq->data.sequence.items.start[i]);
}

/* A scalar with a value; adds the diagnostic otherwise.  `what` describes the expectation. */
static const char *scalar(struct metro_yfile *f, yaml_node_t *n, const char *name, const char *what)
{
	if (!n || n->type != YAML_SCALAR_NODE) {
		metro_y_error(f, n, "%s: expected %s, found %s", name, what,
			      n ? kind_name(n) : "nothing");
		return NULL;
	}
	if (metro_y_is_null(n)) {
		metro_y_error(f, n, "%s: expected %s, found nothing", name, what);
		return NULL;
	}
	return sval(n);
}

static int text(struct metro_yfile *f, yaml_node_t *n, const char *name, size_t maxlen,
		int allow_control, char **out)
{
	const char *s = scalar(f, n, name, "a string");
	if (!s)
		return METRO_E_INVAL;
	size_t len = n->data.scalar.length;
	if (len > maxlen) {
		metro_y_error(f, n, "%s: text of %zu bytes is longer than %zu", name, len, maxlen);
		return METRO_E_INVAL;
	}
	for (size_t i = 0; i < len && !allow_control; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
			metro_y_error(f, n, "%s: control character 0x%02x in text", name, c);
			return METRO_E_INVAL;
		}
	}
	free(*out);
	*out = metro_strndup(s, len);
	return METRO_OK;
}

int metro_y_str(struct metro_yfile *f, yaml_node_t *n, const char *name, size_t maxlen, char **out)
{
	return text(f, n, name, maxlen, 0, out);
}

int metro_y_bytes(struct metro_yfile *f, yaml_node_t *n, const char *name, size_t maxlen,
		  char **out)
{
	return text(f, n, name, maxlen, 1, out);
}

int metro_y_ident(struct metro_yfile *f, yaml_node_t *n, const char *name, char **out)
{
	const char *s = scalar(f, n, name, "an identifier");
	if (!s)
		return METRO_E_INVAL;
	size_t len = strlen(s);
	int ok = len >= 1 && len <= 64 && isalnum((unsigned char)s[0]);
	for (size_t i = 0; ok && i < len; i++)
		ok = isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.';
	if (!ok) {
		metro_y_error(f, n,
			      "%s: '%s' is not a valid identifier (1-64 of A-Z a-z 0-9 _ . -, "
			      "starting with a letter or digit)",
			      name, s);
		return METRO_E_INVAL;
	}
	free(*out);
	*out = metro_strdup(s);
	return METRO_OK;
}

/* Numbers must be plain (unquoted) decimal scalars: "5" in quotes is a string, and YAML 1.1
 * oddities (0x1F, 0o17, 1_000, .inf, .nan) are refused rather than half supported. */
static int decimal_syntax(const char *s, int allow_frac)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	int digits = 0;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits++;
	}
	if (allow_frac && *p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits++;
		}
	}
	if (!digits)
		return 0;
	if (allow_frac && (*p == 'e' || *p == 'E')) {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0';
}

int metro_y_long(struct metro_yfile *f, yaml_node_t *n, const char *name, long min, long max,
		 long *out)
{
	const char *s = scalar(f, n, name, "an integer");
	if (!s)
		return METRO_E_INVAL;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !decimal_syntax(s, 0)) {
		metro_y_error(f, n, "%s: expected an integer, found '%s'", name, s);
		return METRO_E_INVAL;
	}
	errno = 0;
	long v = strtol(s, NULL, 10);
	if (errno == ERANGE || v < min || v > max) {
		metro_y_error(f, n, "%s: %s is out of range [%ld, %ld]", name, s, min, max);
		return METRO_E_INVAL;
	}
	*out = v;
	return METRO_OK;
}

int metro_y_number_text(struct metro_yfile *f, yaml_node_t *n, const char *name, char **out)
{
	const char *s = scalar(f, n, name, "a number");
	if (!s)
		return METRO_E_INVAL;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !decimal_syntax(s, 1)) {
		if (!strcasecmp(s, ".nan") || strcasestr(s, "inf"))
			metro_y_error(f, n, "%s: %s is not a finite number", name, s);
		else
			metro_y_error(f, n, "%s: expected a number, found '%s'", name, s);
		return METRO_E_INVAL;
	}
	free(*out);
	*out = metro_strdup(s);
	return METRO_OK;
}

int metro_y_double(struct metro_yfile *f, yaml_node_t *n, const char *name, double min, double max,
		   double *out)
{
	char *text = NULL;
	if (metro_y_number_text(f, n, name, &text))
		return METRO_E_INVAL;
	errno = 0;
	double v = strtod(text, NULL);
	int bad = errno == ERANGE || !isfinite(v);
	free(text);
	if (bad) {
		metro_y_error(f, n, "%s: %s is not a finite number", name, sval(n));
		return METRO_E_INVAL;
	}
	if (v < min || v > max) {
		metro_y_error(f, n, "%s: %s is out of range [%g, %g]", name, sval(n), min, max);
		return METRO_E_INVAL;
	}
	*out = v;
	return METRO_OK;
}

int metro_y_bool(struct metro_yfile *f, yaml_node_t *n, const char *name, int *out)
{
	const char *s = scalar(f, n, name, "true or false");
	if (!s)
		return METRO_E_INVAL;
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "true")) {
		*out = 1;
		return METRO_OK;
	}
	if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(s, "false")) {
		*out = 0;
		return METRO_OK;
	}
	metro_y_error(f, n, "%s: expected true or false, found '%s'", name, s);
	return METRO_E_INVAL;
}

int metro_y_enum(struct metro_yfile *f, yaml_node_t *n, const char *name,
		 const char *const *choices, size_t nchoices, int *out)
{
	const char *s = scalar(f, n, name, "a word");
	if (!s)
		return METRO_E_INVAL;
	for (size_t i = 0; i < nchoices; i++) {
		if (!strcmp(s, choices[i])) {
			*out = (int)i;
			return METRO_OK;
		}
	}
	char list[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < nchoices && used < sizeof list - 1; i++)
		used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
					 choices[i]);
	metro_y_error(f, n, "%s: '%s' is not one of: %s", name, s, list);
	return METRO_E_INVAL;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 ? 28 + leap : dm[m - 1];
}

int metro_date_parse(const char *s, struct metro_date *out)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return METRO_E_INVAL;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return METRO_E_INVAL;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return METRO_E_INVAL;
	out->year = y;
	out->month = m;
	out->day = d;
	return METRO_OK;
}

int metro_y_date(struct metro_yfile *f, yaml_node_t *n, const char *name, struct metro_date *out)
{
	const char *s = scalar(f, n, name, "a date (YYYY-MM-DD)");
	if (!s)
		return METRO_E_INVAL;
	if (metro_date_parse(s, out)) {
		metro_y_error(f, n, "%s: '%s' is not a valid date (YYYY-MM-DD)", name, s);
		return METRO_E_INVAL;
	}
	return METRO_OK;
}

struct metro_date metro_date_today(void)
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	return (struct metro_date){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

long metro_date_days(const struct metro_date *d)
{
	/* Days from civil (Howard Hinnant's algorithm, restated). */
	long y = d->year - (d->month <= 2);
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long mp = (d->month + 9) % 12;
	long doy = (153 * mp + 2) / 5 + d->day - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int metro_date_cmp(const struct metro_date *a, const struct metro_date *b)
{
	long x = metro_date_days(a), y = metro_date_days(b);
	return (x > y) - (x < y);
}
