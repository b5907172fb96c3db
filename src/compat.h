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

#include "fmgr.h"

/*
 * Soft input errors (16+): sr_input_call_safe converts text with a type's
 * input function, returning false instead of raising for bad input.  On 15
 * SR_HAVE_SOFT_INPUT is 0 and callers catch the error instead.
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#define SR_HAVE_SOFT_INPUT 1
static inline bool
sr_input_call_safe(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod,
				   Datum *result)
{
	ErrorSaveContext escontext = {T_ErrorSaveContext};

	return InputFunctionCallSafe(flinfo, str, typioparam, typmod,
								 (Node *) &escontext, result);
}
#else
#define SR_HAVE_SOFT_INPUT 0
#endif

#endif							/* SR_COMPAT_H */
