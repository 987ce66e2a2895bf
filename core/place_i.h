/*
 * place_i.h - what the files of the placement module share beyond
 * place.h: the strict decimal parser every name scheme uses.
 */
#ifndef CORE_PLACE_I_H
#define CORE_PLACE_I_H

#include <stdbool.h>

/* Parse a run of 1..9 decimal digits spanning exactly [s, end). */
bool place_parse_uint(const char *s, const char *end, unsigned *out);

#endif /* CORE_PLACE_I_H */
