#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>

#include "util.h"

void metro_diag_init(struct metro_diag *d)
{
	d->msgs = NULL;
	d->n = d->cap = d->dropped = 0;
}

void metro_diag_free(struct metro_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	metro_diag_init(d);
}

static void push(struct metro_diag *d, char *msg)
{
	if (d->n >= METRO_DIAG_MAX) {
		d->dropped++;
		free(msg);
		return;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->msgs = metro_realloc(d->msgs, d->cap * sizeof *d->msgs);
	}
	d->msgs[d->n++] = msg;
}

void metro_diag_add(struct metro_diag *d, const char *file, unsigned line, unsigned col,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *body = metro_vasprintf(fmt, ap);
	va_end(ap);
	char *msg;
	if (line && col)
		msg = metro_asprintf("%s:%u:%u: %s", file, line, col, body);
	else if (line)
		msg = metro_asprintf("%s:%u: %s", file, line, body);
	else
		msg = metro_asprintf("%s: %s", file, body);
	free(body);
	push(d, msg);
}

size_t metro_diag_count(const struct metro_diag *d)
{
	return d->n + d->dropped;
}

void metro_diag_print(const struct metro_diag *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(out, "%s\n", d->msgs[i]);
	if (d->dropped)
		fprintf(out, "(%zu more problems not shown)\n", d->dropped);
}

void metro_diag_move(struct metro_diag *dst, struct metro_diag *src)
{
	for (size_t i = 0; i < src->n; i++)
		push(dst, src->msgs[i]);
	dst->dropped += src->dropped;
	free(src->msgs);
	metro_diag_init(src);
}
