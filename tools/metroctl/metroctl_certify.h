/* metroctl_certify.h — `metroctl certify NUMBER STEP` and `metroctl reissue NUMBER`
 * (metroctl_certify.c): a person signs a step of a certificate's workflow with their own key,
 * or has a voided certificate reissued. */
#ifndef METROCTL_CERTIFY_H
#define METROCTL_CERTIFY_H

#include "metroctl_cmd.h"

int metroctl_certify(int argc, char **argv, const struct metroctl_opts *o);

#endif
