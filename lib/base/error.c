#include "error.h"

static const struct {
	int code;
	const char *name;
	const char *text;
} errtab[] = {
	{METRO_OK, "ok", "success"},
	{METRO_E_INVAL, "invalid", "invalid argument or input"},
	{METRO_E_NOMEM, "nomem", "out of memory"},
	{METRO_E_IO, "io", "input/output error"},
	{METRO_E_TIMEOUT, "timeout", "timed out"},
	{METRO_E_PROTO, "protocol", "protocol error"},
	{METRO_E_DEVICE, "device", "device exception"},
	{METRO_E_NOTFOUND, "not-found", "not found"},
	{METRO_E_EXISTS, "exists", "already exists"},
	{METRO_E_STATE, "state", "not allowed in the current state"},
	{METRO_E_RANGE, "range", "value out of range"},
	{METRO_E_DENIED, "denied", "refused"},
	{METRO_E_CORRUPT, "corrupt", "data fails verification"},
	{METRO_E_UNSUPPORTED, "unsupported", "not supported"},
	{METRO_E_CLOSED, "closed", "connection closed"},
};

const char *metro_strerror(int err)
{
	for (unsigned i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
		if (errtab[i].code == err)
			return errtab[i].text;
	return "unknown error";
}

const char *metro_errname(int err)
{
	for (unsigned i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
		if (errtab[i].code == err)
			return errtab[i].name;
	return "unknown";
}

int metro_err_retryable(int err)
{
	return err == METRO_E_IO || err == METRO_E_TIMEOUT || err == METRO_E_PROTO ||
	       err == METRO_E_CLOSED;
}
