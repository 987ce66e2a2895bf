/*
 * shadow.h - names made while a device that could hold an older file of
 * the same name was failed, and the sweep that removes those older files
 * from that device before it is served again.
 *
 * A failed device is left out of lookups: a name only there is not found,
 * and a client may make it anew on another device (a KV cache's miss and
 * put). Once the device answered again, its older file would shadow the
 * newer one (lookups take the first device that has the name), so before
 * the device is back, each name noted for it is unlinked there: what the
 * clients last made is what they find. A directory there is left alone.
 *
 * At most SHADOW_MAX names are kept; past that a device's later names are
 * counted, not kept, and the sweep logs how many it could not look at.
 * Thread-safe.
 */
#ifndef CORE_SHADOW_H
#define CORE_SHADOW_H

#include <stdint.h>

#define SHADOW_MAX	65536

struct shadow;

/* Make an empty set for @ndev devices (1..DEV_MAX); 0 or -errno. */
int shadow_new(unsigned ndev, struct shadow **out);

/* NULL is a no-op. */
void shadow_free(struct shadow *s);

/*
 * Name @path (relative to the device roots) was made while the devices
 * in @devs (bit d: device d) were failed: sweep it from each of them.
 */
void shadow_note(struct shadow *s, const char *path, uint64_t devs);

/*
 * Device @dev, whose directory is @root_fd, answers again: unlink each
 * name noted for it there (confined, core/beneath.h; not a directory).
 * Returns 0 once every name is swept or was not there, else the -errno of
 * the first that could not be removed (the names left stay noted, and
 * are tried at the next sweep). Logs one line with the count when it
 * removed anything, and one for names past SHADOW_MAX.
 */
int shadow_sweep(struct shadow *s, unsigned dev, int root_fd);

/* Names noted for device @dev and not swept yet (for tests). */
unsigned shadow_pending(struct shadow *s, unsigned dev);

#endif /* CORE_SHADOW_H */
