/* expr.c — a recursive-descent parser to a small tree, and an exact evaluator over it. */
#include "expr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

enum op { OP_NUM, OP_NAME, OP_NEG, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_CALL };
enum fn { FN_MIN, FN_MAX, FN_ABS, FN_CEIL, FN_FLOOR };

struct node {
	enum op op;
	enum fn fn;
	struct metro_dec num;
	int slot;
	unsigned col;
	struct node **args; /* OP_CALL: nargs; binary: 2; NEG: 1 */
	size_t nargs;
};

struct metro_expr {
	char *src;
	struct node *root;
	unsigned long long used;
};

struct parser {
	const char *s;
	size_t pos;
	const char *const *names;
	size_t nnames;
	int depth;
	unsigned long long used;
	unsigned errcol;
	char *err;
	size_t errlen;
	int failed;
};

static const struct {
	const char *name;
	enum fn fn;
	int min_args, max_args;
} functions[] = {
	{"min", FN_MIN, 2, 16},	 {"max", FN_MAX, 2, 16},    {"abs", FN_ABS, 1, 1},
	{"ceil", FN_CEIL, 1, 1}, {"floor", FN_FLOOR, 1, 1},
};

/* 1-based character column of byte offset off (UTF-8 continuation bytes do not count). */
static unsigned column(const char *s, size_t off)
{
	unsigned col = 1;
	for (size_t i = 0; i < off; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			col++;
	return col;
}

static void fail(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct parser *p, size_t at, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = 1;
	p->errcol = column(p->s, at);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

static void free_node(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nargs; i++)
		free_node(n->args[i]);
	free(n->args);
	free(n);
}

static struct node *new_node(enum op op, size_t at, struct parser *p)
{
	struct node *n = metro_calloc(1, sizeof *n);
	n->op = op;
	n->col = column(p->s, at);
	return n;
}

static void skip_space(struct parser *p)
{
	while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
		p->pos++;
}

/* Match an operator at the current position: ASCII or its typographic form. */
static int match(struct parser *p, const char *ascii, const char *utf8)
{
	size_t la = strlen(ascii);
	if (!strncmp(p->s + p->pos, ascii, la)) {
		p->pos += la;
		return 1;
	}
	if (utf8) {
		size_t lu = strlen(utf8);
		if (!strncmp(p->s + p->pos, utf8, lu)) {
			p->pos += lu;
			return 1;
		}
	}
	return 0;
}

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static struct node *expr(struct parser *p);

static struct node *primary(struct parser *p)
{
	skip_space(p);
	size_t at = p->pos;
	char c = p->s[at];
	if (c == '(') {
		/* Nesting is bounded: the parser recurses once per '(' (and per unary minus). */
		if (++p->depth > METRO_EXPR_MAX_DEPTH) {
			fail(p, at, "expression nested deeper than %d levels",
			     METRO_EXPR_MAX_DEPTH);
			return NULL;
		}
		p->pos++;
		struct node *n = expr(p);
		p->depth--;
		skip_space(p);
		if (p->s[p->pos] != ')') {
			fail(p, p->pos, "expected ')' to close the '(' at column %u",
			     column(p->s, at));
			free_node(n);
			return NULL;
		}
		p->pos++;
		return n;
	}
	if (is_digit(c) || (c == '.' && is_digit(p->s[at + 1]))) {
		size_t e = at;
		while (is_digit(p->s[e]))
			e++;
		if (p->s[e] == '.') {
			e++;
			while (is_digit(p->s[e]))
				e++;
		}
		if ((p->s[e] == 'e' || p->s[e] == 'E') &&
		    (is_digit(p->s[e + 1]) ||
		     ((p->s[e + 1] == '+' || p->s[e + 1] == '-') && is_digit(p->s[e + 2])))) {
			e += 2;
			while (is_digit(p->s[e]))
				e++;
		}
		struct node *n = new_node(OP_NUM, at, p);
		if (metro_dec_parsen(p->s + at, e - at, &n->num)) {
			fail(p, at, "number '%.*s' has too many digits", (int)(e - at), p->s + at);
			free_node(n);
			return NULL;
		}
		p->pos = e;
		if (is_alpha(p->s[e])) {
			fail(p, e, "a number cannot be followed by a name: write '*' between them");
			free_node(n);
			return NULL;
		}
		return n;
	}
	if (is_alpha(c)) {
		size_t e = at;
		while (is_alpha(p->s[e]) || is_digit(p->s[e]))
			e++;
		size_t len = e - at;
		p->pos = e;
		skip_space(p);
		if (p->s[p->pos] == '(') {
			size_t f;
			for (f = 0; f < METRO_ARRAY_SIZE(functions); f++)
				if (strlen(functions[f].name) == len &&
				    !strncmp(functions[f].name, p->s + at, len))
					break;
			if (f == METRO_ARRAY_SIZE(functions)) {
				fail(p, at,
				     "unknown function '%.*s' (functions: min, max, abs, ceil, "
				     "floor)",
				     (int)len, p->s + at);
				return NULL;
			}
			struct node *n = new_node(OP_CALL, at, p);
			n->fn = functions[f].fn;
			p->pos++;
			skip_space(p);
			if (p->s[p->pos] != ')') {
				for (;;) {
					struct node *a = expr(p);
					if (!a) {
						free_node(n);
						return NULL;
					}
					n->args = metro_realloc(n->args,
								(n->nargs + 1) * sizeof *n->args);
					n->args[n->nargs++] = a;
					skip_space(p);
					if (p->s[p->pos] == ',') {
						p->pos++;
						continue;
					}
					break;
				}
			}
			if (p->s[p->pos] != ')') {
				fail(p, p->pos, "expected ',' or ')' in the arguments of %s",
				     functions[f].name);
				free_node(n);
				return NULL;
			}
			p->pos++;
			if ((int)n->nargs < functions[f].min_args ||
			    (int)n->nargs > functions[f].max_args) {
				if (functions[f].min_args == functions[f].max_args)
					fail(p, at, "%s takes %d argument(s), not %zu",
					     functions[f].name, functions[f].min_args, n->nargs);
				else
					fail(p, at, "%s takes %d to %d arguments, not %zu",
					     functions[f].name, functions[f].min_args,
					     functions[f].max_args, n->nargs);
				free_node(n);
				return NULL;
			}
			return n;
		}
		for (size_t i = 0; i < p->nnames; i++) {
			if (strlen(p->names[i]) == len && !strncmp(p->names[i], p->s + at, len)) {
				struct node *n = new_node(OP_NAME, at, p);
				n->slot = (int)i;
				if (i < 64)
					p->used |= 1ull << i;
				return n;
			}
		}
		char known[256] = "";
		size_t o = 0;
		for (size_t i = 0; i < p->nnames && o < sizeof known - 1; i++)
			o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "",
					      p->names[i]);
		fail(p, at, "unknown name '%.*s' (known: %s)", (int)len, p->s + at,
		     p->nnames ? known : "none");
		return NULL;
	}
	if (!c)
		fail(p, at, "expression ends where a value was expected");
	else
		fail(p, at, "unexpected '%c' where a value was expected", c);
	return NULL;
}

static struct node *unary(struct parser *p)
{
	skip_space(p);
	size_t at = p->pos;
	struct node *n;
	if (match(p, "-", "\xe2\x88\x92")) {
		if (++p->depth > METRO_EXPR_MAX_DEPTH) {
			fail(p, at, "expression nested deeper than %d levels",
			     METRO_EXPR_MAX_DEPTH);
			return NULL;
		}
		struct node *a = unary(p);
		p->depth--;
		if (!a)
			return NULL;
		n = new_node(OP_NEG, at, p);
		n->args = metro_malloc(sizeof *n->args);
		n->args[0] = a;
		n->nargs = 1;
	} else if (match(p, "+", NULL)) {
		if (++p->depth > METRO_EXPR_MAX_DEPTH) {
			fail(p, at, "expression nested deeper than %d levels",
			     METRO_EXPR_MAX_DEPTH);
			return NULL;
		}
		n = unary(p);
		p->depth--;
	} else {
		n = primary(p);
	}
	return n;
}

static struct node *binary(enum op op, struct node *a, struct node *b, size_t at, struct parser *p)
{
	struct node *n = new_node(op, at, p);
	n->args = metro_malloc(2 * sizeof *n->args);
	n->args[0] = a;
	n->args[1] = b;
	n->nargs = 2;
	return n;
}

static struct node *term(struct parser *p)
{
	struct node *a = unary(p);
	while (a) {
		skip_space(p);
		size_t at = p->pos;
		enum op op;
		if (match(p, "*", "\xc3\x97"))
			op = OP_MUL;
		else if (match(p, "/", "\xc3\xb7"))
			op = OP_DIV;
		else
			break;
		struct node *b = unary(p);
		if (!b) {
			free_node(a);
			return NULL;
		}
		a = binary(op, a, b, at, p);
	}
	return a;
}

static struct node *expr(struct parser *p)
{
	struct node *a = term(p);
	while (a) {
		skip_space(p);
		size_t at = p->pos;
		enum op op;
		if (match(p, "+", NULL))
			op = OP_ADD;
		else if (match(p, "-", "\xe2\x88\x92"))
			op = OP_SUB;
		else
			break;
		struct node *b = term(p);
		if (!b) {
			free_node(a);
			a = NULL;
			break;
		}
		a = binary(op, a, b, at, p);
	}
	return a;
}

int metro_expr_compile(const char *src, const char *const *names, size_t nnames,
		       struct metro_expr **out, unsigned *errcol, char *err, size_t errlen)
{
	*out = NULL;
	struct parser p = {src, 0, names, nnames, 0, 0, 0, err, errlen, 0};
	if (strlen(src) > METRO_EXPR_MAX_LEN) {
		*errcol = METRO_EXPR_MAX_LEN + 1;
		snprintf(err, errlen, "expression longer than %d characters", METRO_EXPR_MAX_LEN);
		return METRO_E_INVAL;
	}
	struct node *root = expr(&p);
	if (root) {
		skip_space(&p);
		if (src[p.pos]) {
			if (src[p.pos] == ')')
				fail(&p, p.pos, "')' without a matching '('");
			else
				fail(&p, p.pos, "unexpected '%c' after a complete expression",
				     src[p.pos]);
		}
	}
	if (p.failed || !root) {
		free_node(root);
		*errcol = p.errcol ? p.errcol : 1;
		if (!p.failed)
			snprintf(err, errlen, "empty expression");
		return METRO_E_INVAL;
	}
	struct metro_expr *e = metro_calloc(1, sizeof *e);
	e->src = metro_strdup(src);
	e->root = root;
	e->used = p.used;
	*out = e;
	return METRO_OK;
}

void metro_expr_destroy(struct metro_expr **pe)
{
	struct metro_expr *e = *pe;
	if (!e)
		return;
	free_node(e->root);
	free(e->src);
	free(e);
	*pe = NULL;
}

static int eval(const struct node *n, const struct metro_dec *v, struct metro_dec *out, char *err,
		size_t errlen)
{
	struct metro_dec a, b;
	switch (n->op) {
	case OP_NUM:
		*out = n->num;
		return METRO_OK;
	case OP_NAME:
		if (!v) /* compiled without names: cannot happen, but never dereference NULL */
			return METRO_E_RANGE;
		*out = v[n->slot];
		return METRO_OK;
	case OP_NEG:
		if (eval(n->args[0], v, &a, err, errlen))
			return METRO_E_RANGE;
		*out = metro_dec_neg(a);
		break;
	case OP_ADD:
	case OP_SUB:
	case OP_MUL:
	case OP_DIV:
		if (eval(n->args[0], v, &a, err, errlen) || eval(n->args[1], v, &b, err, errlen))
			return METRO_E_RANGE;
		if (n->op == OP_DIV && metro_dec_sign(b) == 0) {
			snprintf(err, errlen, "column %u: division by zero", n->col);
			return METRO_E_RANGE;
		}
		*out = n->op == OP_ADD	 ? metro_dec_add(a, b)
		       : n->op == OP_SUB ? metro_dec_sub(a, b)
		       : n->op == OP_MUL ? metro_dec_mul(a, b)
					 : metro_dec_div(a, b);
		break;
	case OP_CALL:
		if (eval(n->args[0], v, &a, err, errlen))
			return METRO_E_RANGE;
		for (size_t i = 1; i < n->nargs; i++) {
			if (eval(n->args[i], v, &b, err, errlen))
				return METRO_E_RANGE;
			int c = metro_dec_cmp(b, a);
			if ((n->fn == FN_MIN && c < 0) || (n->fn == FN_MAX && c > 0))
				a = b;
		}
		*out = n->fn == FN_ABS	   ? metro_dec_abs(a)
		       : n->fn == FN_CEIL  ? metro_dec_ceil(a)
		       : n->fn == FN_FLOOR ? metro_dec_floor(a)
					   : a;
		break;
	}
	if (!metro_dec_valid(*out)) {
		snprintf(err, errlen, "column %u: result does not fit exact arithmetic", n->col);
		return METRO_E_RANGE;
	}
	return METRO_OK;
}

int metro_expr_eval(const struct metro_expr *e, const struct metro_dec *values,
		    struct metro_dec *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < 64 && values; i++)
		if ((e->used >> i) & 1 && !metro_dec_valid(values[i])) {
			snprintf(err, errlen, "a value used by the expression is missing");
			return METRO_E_RANGE;
		}
	return eval(e->root, values, out, err, errlen);
}

unsigned long long metro_expr_names_used(const struct metro_expr *e)
{
	return e->used;
}

const char *metro_expr_source(const struct metro_expr *e)
{
	return e->src;
}
