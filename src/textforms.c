/*-------------------------------------------------------------------------
 *
 * textforms.c
 *	  The text forms devices send most, read without the types' input
 *	  functions, and UUIDs written without uuid_out: an ISO 8601 timestamp
 *	  with its offset (2026-05-14T15:00:00.25+02:00) and a UUID in its
 *	  canonical form.  Parsing such a timestamp with timestamptz_in costs
 *	  about 3,700 instructions (its general date/time grammar), these a few
 *	  hundred.  Each reader accepts only what it can read exactly as the
 *	  input function does and returns false for anything else, which the
 *	  caller then gives to the input function (errors included); with
 *	  sync_resolver.verify_records on (as in the test suite) every value
 *	  read or written here is checked against the type's own function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "sync_resolver.h"

/* Read n decimal digits at s into *out; false if one is not a digit. */
static bool
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * Does "Z" mean UTC to timestamptz_in?  It looks the letter up in the
 * session's timezone_abbreviations first, and a DBA's own file could give
 * it another offset; the Default set (the default) does not.
 */
static bool
zulu_is_utc(void)
{
	const char *set = GetConfigOption("timezone_abbreviations", true, false);

	return set != NULL && strcmp(set, "Default") == 0;
}

/*
 * Read YYYY-MM-DD[T ]HH:MM:SS[.f] (1 to 6 digits of fraction) and, when
 * with_offset, an offset (Z with the Default abbreviations, +HH, +HHMM or
 * +HH:MM, hours up to 15) that ends the text; without, the time ends it.  *out is the timestamp (UTC
 * for an offset).  False for any other text or a field out of range.
 */
static bool
read_iso(const char *s, int len, bool with_offset, Timestamp *out)
{
	int			 y, mo, d, h, mi, sec;
	int			 fsec = 0;
	int			 offset = 0;
	int			 p = 19;
	static const int mdays[2][12] = {
		{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
		{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}};

	if (len < 19 || s[4] != '-' || s[7] != '-' ||
		(s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' ||
		!digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
		!digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
		!digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 ||
		d > mdays[isleap(y) ? 1 : 0][mo - 1] || h > 23 || mi > 59 ||
		sec > 59)
		return false;
	if (p < len && s[p] == '.')
	{
		int n = 0;

		p++;
		while (p + n < len && s[p + n] >= '0' && s[p + n] <= '9')
			n++;
		if (n < 1 || n > 6 || !digits(s + p, n, &fsec))
			return false;
		for (int k = n; k < 6; k++)
			fsec *= 10;
		p += n;
	}
	if (with_offset)
	{
		int oh, om = 0;

		if (p == len - 1 && s[p] == 'Z' && zulu_is_utc())
			p++;
		else if (p < len && (s[p] == '+' || s[p] == '-'))
		{
			bool ok;

			if (len - p == 3)
				ok = digits(s + p + 1, 2, &oh);
			else if (len - p == 5)
				ok = digits(s + p + 1, 2, &oh) && digits(s + p + 3, 2, &om);
			else if (len - p == 6 && s[p + 3] == ':')
				ok = digits(s + p + 1, 2, &oh) && digits(s + p + 4, 2, &om);
			else
				ok = false;
			if (!ok || oh > 15 || om > 59)
				return false;
			offset = (oh * MINS_PER_HOUR + om) * SECS_PER_MINUTE;
			if (s[p] == '-')
				offset = -offset;
			p = len;
		}
		else
			return false;
	}
	if (p != len)
		return false;
	*out = (Timestamp) (date2j(y, mo, d) - POSTGRES_EPOCH_JDATE) *
			   USECS_PER_DAY +
		   (((int64) h * MINS_PER_HOUR + mi) * SECS_PER_MINUTE + sec) *
			   USECS_PER_SEC +
		   fsec - (int64) offset * USECS_PER_SEC;
	return true;
}

/*
 * A timestamptz (typid TIMESTAMPTZOID) or timestamp (TIMESTAMPOID) without
 * type modifier from the text s of len bytes, read as its input function
 * would; false when the text is not in the one form read here (a
 * timestamptz needs its offset, a timestamp must have none).
 */
bool
sr_read_timestamp(const char *s, int len, Oid typid, int32 typmod,
				  Datum *out)
{
	Timestamp ts;

	if (typmod >= 0 || (typid != TIMESTAMPTZOID && typid != TIMESTAMPOID) ||
		!read_iso(s, len, typid == TIMESTAMPTZOID, &ts))
		return false;
	*out = TimestampGetDatum(ts);
	if (sr_verify_records)
	{
		char *str = pnstrdup(s, len);
		Datum now = typid == TIMESTAMPTZOID
			? DirectFunctionCall3(timestamptz_in, CStringGetDatum(str),
								  ObjectIdGetDatum(InvalidOid),
								  Int32GetDatum(-1))
			: DirectFunctionCall3(timestamp_in, CStringGetDatum(str),
								  ObjectIdGetDatum(InvalidOid),
								  Int32GetDatum(-1));

		if (DatumGetTimestamp(now) != ts)
			elog(ERROR, "timestamp \"%s\" read as " INT64_FORMAT ", not " INT64_FORMAT,
				 str, (int64) ts, (int64) DatumGetTimestamp(now));
	}
	return true;
}

/* The value of a hexadecimal digit, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A UUID from its canonical text (8-4-4-4-12 hexadecimal digits, either
 * case, nothing around), as uuid_in reads it; false for any other text.
 */
bool
sr_read_uuid(const char *s, int len, pg_uuid_t *out)
{
	int p = 0;

	if (len != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' ||
		s[23] != '-')
		return false;
	for (int i = 0; i < UUID_LEN; i++)
	{
		int hi, lo;

		if (p == 8 || p == 13 || p == 18 || p == 23)
			p++;
		hi = hexval(s[p]);
		lo = hexval(s[p + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->data[i] = (unsigned char) (hi << 4 | lo);
		p += 2;
	}
	if (sr_verify_records)
	{
		char	   *str = pnstrdup(s, len);
		pg_uuid_t  *u = DatumGetUUIDP(
			 DirectFunctionCall1(uuid_in, CStringGetDatum(str)));

		if (memcmp(u->data, out->data, UUID_LEN) != 0)
			elog(ERROR, "uuid \"%s\" read wrongly", str);
	}
	return true;
}

/* uuid as text, as uuid_out writes it (lower case, 8-4-4-4-12). */
char *
sr_uuid_text(pg_uuid_t *u)
{
	static const char hex[] = "0123456789abcdef";
	char	   *buf = palloc(2 * UUID_LEN + 5);
	char	   *p = buf;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 0xF];
	}
	*p = '\0';
	if (sr_verify_records &&
		strcmp(buf, DatumGetCString(DirectFunctionCall1(
						uuid_out, UUIDPGetDatum(u)))) != 0)
		elog(ERROR, "uuid written as \"%s\"", buf);
	return buf;
}
