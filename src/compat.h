/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Shims across PostgreSQL major versions: every #if PG_VERSION_NUM of
 *	  the extension lives here, so the logic reads the same on each major.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SR_COMPAT_H
#define SR_COMPAT_H

#include "postgres.h"

#endif							/* SR_COMPAT_H */
