/* person.c — role names of the person registry, and freeing a person (person.h). */
#include "person.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* In bit order: names[i] is the role 1u << i. */
static const char *const names[METRO_PERSON_NROLES] = {
	"observer", "operator", "verifier", "checker", "approver", "manager",
};

const char *metro_person_role_name(enum metro_person_role r)
{
	for (unsigned i = 0; i < METRO_PERSON_NROLES; i++)
		if ((unsigned)r == 1u << i)
			return names[i];
	return NULL;
}

int metro_person_role_parse(const char *name, enum metro_person_role *out)
{
	for (unsigned i = 0; name && i < METRO_PERSON_NROLES; i++) {
		if (!strcmp(name, names[i])) {
			*out = (enum metro_person_role)(1u << i);
			return METRO_OK;
		}
	}
	return METRO_E_INVAL;
}

void metro_person_free(struct metro_person *p)
{
	if (!p)
		return;
	free(p->id);
	free(p->name);
	free(p->qualification);
	for (size_t i = 0; i < p->nprocedures; i++)
		free(p->procedures[i]);
	free(p->procedures);
	free(p->unix_user);
	memset(p, 0, sizeof *p);
}
