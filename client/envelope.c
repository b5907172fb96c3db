/*
 * envelope.c: what sync-push accepts as a change envelope.  Owns: a strict
 * JSON (RFC 8259) syntax check of the raw line, stricter than json-c and
 * as strict as PostgreSQL's jsonb input (so that a stored line can never
 * make a whole batch fail on the server): valid UTF-8, no \u0000, no
 * unpaired surrogates, no NaN, comments or single quotes; then the checks of
 * the wire format on the json-c tree: change_id, table, id/sys_id,
 * base_state, new_state, queued_at, edited_at, actor.  Every failure is one
 * message naming the problem; the caller adds the line number.
 */
#include "sync-push.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* State of one syntax check. */
typedef struct Scan
{
    const unsigned char *s;
    size_t               len;
    size_t               pos;
    int                  depth;
    char                *err;
    size_t               errlen;
} Scan;

static bool scan_value(Scan *sc);

/* Record "malformed JSON at byte N: WHAT" for the byte at sc->pos. */
static bool
scan_fail(Scan *sc, const char *fmt, ...)
{
    char    what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(sc->err, sc->errlen, "malformed JSON at byte %zu: %s",
             sc->pos + 1, what);
    return false;
}

/* Report the byte at sc->pos as unexpected (or the end of the line). */
static bool
scan_unexpected(Scan *sc)
{
    unsigned char c;

    if (sc->pos >= sc->len)
        return scan_fail(sc, "unexpected end of line");
    c = sc->s[sc->pos];
    if (c >= 0x21 && c < 0x7f)
        return scan_fail(sc, "unexpected character '%c'", c);
    return scan_fail(sc, "unexpected byte 0x%02x", c);
}

/* Skip JSON whitespace. */
static void
scan_ws(Scan *sc)
{
    while (sc->pos < sc->len &&
           (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' ||
            sc->s[sc->pos] == '\r' || sc->s[sc->pos] == '\n'))
        sc->pos++;
}

/* Four hex digits at p as a code unit, or -1. */
static long
hex4(const unsigned char *p)
{
    long v = 0;

    for (int i = 0; i < 4; i++)
    {
        int c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t        need;
    unsigned long cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4, cp = c & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++)
    {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

/* A string; sc->pos is at the opening quote. */
static bool
scan_string(Scan *sc)
{
    sc->pos++;
    for (;;)
    {
        unsigned char c;

        if (sc->pos >= sc->len)
            return scan_fail(sc, "unexpected end of line in a string");
        c = sc->s[sc->pos];
        if (c == '"')
        {
            sc->pos++;
            return true;
        }
        if (c < 0x20)
            return scan_fail(sc,
                             "control character 0x%02x in a string must be escaped",
                             c);
        if (c >= 0x80)
        {
            size_t n = utf8_len(sc->s + sc->pos, sc->len - sc->pos);

            if (n == 0)
                return scan_fail(sc, "invalid UTF-8");
            sc->pos += n;
            continue;
        }
        if (c != '\\')
        {
            sc->pos++;
            continue;
        }
        if (sc->pos + 1 >= sc->len)
            return scan_fail(sc, "unexpected end of line in a string");
        c = sc->s[sc->pos + 1];
        if (strchr("\"\\/bfnrt", c) != NULL && c != '\0')
        {
            sc->pos += 2;
            continue;
        }
        if (c != 'u')
        {
            if (c >= 0x21 && c < 0x7f)
                return scan_fail(sc, "invalid escape '\\%c'", c);
            return scan_fail(sc, "invalid escape");
        }
        {
            long u = sc->pos + 6 <= sc->len ? hex4(sc->s + sc->pos + 2) : -1;

            if (u < 0)
                return scan_fail(sc,
                                 "invalid \\u escape (expected 4 hex digits)");
            if (u == 0)
                return scan_fail(
                    sc, "\\u0000 is not allowed (PostgreSQL cannot store it)");
            if (u >= 0xdc00 && u <= 0xdfff)
                return scan_fail(sc, "unpaired UTF-16 surrogate \\u%04lx", u);
            if (u >= 0xd800 && u <= 0xdbff)
            {
                long lo = -1;

                if (sc->pos + 12 <= sc->len && sc->s[sc->pos + 6] == '\\' &&
                    sc->s[sc->pos + 7] == 'u')
                    lo = hex4(sc->s + sc->pos + 8);
                if (lo < 0xdc00 || lo > 0xdfff)
                    return scan_fail(sc, "unpaired UTF-16 surrogate \\u%04lx",
                                     u);
                sc->pos += 6;
            }
            sc->pos += 6;
        }
    }
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
scan_number(Scan *sc)
{
    size_t               start = sc->pos;
    const unsigned char *s = sc->s;

#define DIGIT(i) ((i) < sc->len && s[i] >= '0' && s[i] <= '9')
    if (sc->pos < sc->len && s[sc->pos] == '-')
        sc->pos++;
    if (!DIGIT(sc->pos))
        goto bad;
    if (s[sc->pos] == '0')
        sc->pos++;
    else
        while (DIGIT(sc->pos))
            sc->pos++;
    if (sc->pos < sc->len && s[sc->pos] == '.')
    {
        sc->pos++;
        if (!DIGIT(sc->pos))
            goto bad;
        while (DIGIT(sc->pos))
            sc->pos++;
    }
    if (sc->pos < sc->len && (s[sc->pos] == 'e' || s[sc->pos] == 'E'))
    {
        sc->pos++;
        if (sc->pos < sc->len && (s[sc->pos] == '+' || s[sc->pos] == '-'))
            sc->pos++;
        if (!DIGIT(sc->pos))
            goto bad;
        while (DIGIT(sc->pos))
            sc->pos++;
    }
    if (DIGIT(sc->pos))
        goto bad; /* a leading zero followed by digits */
    return true;
#undef DIGIT
bad:
    sc->pos = start;
    return scan_fail(sc, "invalid number");
}

/* An object or an array; sc->pos is at '{' or '['. */
static bool
scan_container(Scan *sc)
{
    bool object = sc->s[sc->pos] == '{';
    char close = object ? '}' : ']';

    if (++sc->depth > JSON_MAX_DEPTH)
        return scan_fail(sc, "nested deeper than %d levels", JSON_MAX_DEPTH);
    sc->pos++;
    scan_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == close)
    {
        sc->pos++;
        sc->depth--;
        return true;
    }
    for (;;)
    {
        if (object)
        {
            if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
            {
                if (sc->pos >= sc->len)
                    return scan_unexpected(sc);
                return scan_fail(sc,
                                 "expected a member name in double quotes");
            }
            if (!scan_string(sc))
                return false;
            scan_ws(sc);
            if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
            {
                if (sc->pos >= sc->len)
                    return scan_unexpected(sc);
                return scan_fail(sc, "expected ':'");
            }
            sc->pos++;
        }
        if (!scan_value(sc))
            return false;
        scan_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == ',')
        {
            sc->pos++;
            scan_ws(sc);
            continue;
        }
        if (sc->pos < sc->len && sc->s[sc->pos] == close)
        {
            sc->pos++;
            sc->depth--;
            return true;
        }
        if (sc->pos >= sc->len)
            return scan_unexpected(sc);
        return scan_fail(sc, object ? "expected ',' or '}'"
                                    : "expected ',' or ']'");
    }
}

/* Any value, after optional whitespace. */
static bool
scan_value(Scan *sc)
{
    static const char *const words[] = {"true", "false", "null"};

    scan_ws(sc);
    if (sc->pos >= sc->len)
        return scan_unexpected(sc);
    switch (sc->s[sc->pos])
    {
        case '{':
        case '[':
            return scan_container(sc);
        case '"':
            return scan_string(sc);
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
            return scan_number(sc);
    }
    for (int i = 0; i < 3; i++)
    {
        size_t n = strlen(words[i]);

        if (sc->len - sc->pos >= n &&
            memcmp(sc->s + sc->pos, words[i], n) == 0 &&
            (sc->pos + n == sc->len || !isalnum(sc->s[sc->pos + n])))
        {
            sc->pos += n;
            return true;
        }
    }
    return scan_unexpected(sc);
}

/*
 * Is s[0..len) exactly one JSON value (with optional surrounding whitespace)
 * that PostgreSQL's jsonb input accepts?  Else err says where and why.
 */
bool
json_syntax_check(const char *s, size_t len, char *err, size_t errlen)
{
    Scan sc = {(const unsigned char *) s, len, 0, 0, err, errlen};

    if (!scan_value(&sc))
        return false;
    scan_ws(&sc);
    if (sc.pos < len)
        return scan_fail(&sc, "unexpected data after the JSON value");
    return true;
}

/*
 * Parse JSON text with json-c (deep enough for anything the check accepts).
 * *ok says whether it parsed; a JSON null gives NULL with *ok true.
 */
json_object *
json_parse_text(const char *s, size_t len, bool *ok)
{
    struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH + 2);
    json_object         *o;

    *ok = false;
    if (tok == NULL)
        return NULL;
    o = json_tokener_parse_ex(tok, s, (int) len);
    if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
        o = json_tokener_parse_ex(tok, "",
                                  1); /* the end: a bare scalar is complete */
    if (json_tokener_get_error(tok) == json_tokener_success &&
        json_tokener_get_parse_end(tok) <= len + 1)
        *ok = true;
    else
    {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* "null", "a boolean", "a number", ...: for "must be X, not Y" messages. */
const char *
json_kind_word(json_object *o)
{
    switch (json_object_get_type(o))
    {
        case json_type_null:
            return "null";
        case json_type_boolean:
            return "a boolean";
        case json_type_int:
        case json_type_double:
            return "a number";
        case json_type_object:
            return "an object";
        case json_type_array:
            return "an array";
        case json_type_string:
            return "a string";
    }
    return "something else";
}

/* Is s a UUID in the 8-4-4-4-12 hex form (either case)? */
bool
uuid_check(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++)
    {
        if (i == 8 || i == 13 || i == 18 || i == 23)
        {
            if (s[i] != '-')
                return false;
        }
        else if (!isxdigit((unsigned char) s[i]))
            return false;
    }
    return true;
}

/* Copy a checked UUID in lower case, the form the server answers with. */
void
uuid_lower(const char *in, char out[37])
{
    for (int i = 0; i < 36; i++)
        out[i] = (char) tolower((unsigned char) in[i]);
    out[36] = '\0';
}

/* Read exactly n digits at *p into *v; advance *p. */
static bool
digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++)
    {
        if (!isdigit((unsigned char) (*p)[i]))
            return false;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long
days_from_civil(long y, int m, int d)
{
    long era;
    long yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*
 * Parse an ISO-8601 timestamp with a UTC offset:
 * YYYY-MM-DD(T| )HH:MM[:SS[.fraction]](Z|+HH[:MM]|-HH[:MM]|+HHMM|-HHMM).
 */
bool
iso_timestamp_parse(const char *s, time_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    const char      *p = s;
    int              y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0;
    bool             leap;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) ||
        *p++ != '-' || !digits(&p, 2, &d))
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
        return false;
    if (*p == ':')
    {
        p++;
        if (!digits(&p, 2, &sec))
            return false;
        if (*p == '.')
        {
            p++;
            if (!isdigit((unsigned char) *p))
                return false;
            while (isdigit((unsigned char) *p))
                p++;
        }
    }
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-')
    {
        sign = *p++ == '+' ? 1 : -1;
        if (!digits(&p, 2, &oh))
            return false;
        if (*p == ':')
            p++;
        if (isdigit((unsigned char) *p) && !digits(&p, 2, &om))
            return false;
    }
    else
        return false;
    if (*p != '\0')
        return false;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60 ||
        oh > 15 || om > 59)
        return false;
    *out = (time_t) days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
           sec - sign * (oh * 3600 + om * 60);
    return true;
}

/* Set err to a printf-formatted message; always returns false. */
static bool
env_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

/* A string value quoted for a message, cut after 40 bytes (at a UTF-8 boundary). */
static void
quote_value(const char *s, char *buf, size_t len)
{
    size_t n = strlen(s);
    StrBuf sb;

    sb_init(&sb);
    if (n > 40)
    {
        char *cut;

        n = 40;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
            n--;
        cut = xmalloc(n + 4);
        memcpy(cut, s, n);
        strcpy(cut + n, "...");
        sb_json_string(&sb, cut);
        free(cut);
    }
    else
        sb_json_string(&sb, s);
    snprintf(buf, len, "%s", sb.data);
    sb_free(&sb);
}

/* The member key of obj, NULL when absent; *present says whether the key exists. */
static json_object *
member(json_object *obj, const char *key, bool *present)
{
    json_object *v = NULL;

    *present = json_object_object_get_ex(obj, key, &v);
    return v;
}

/* Check a required string member; on success *out is its value. */
static bool
need_string(json_object *obj, const char *key, const char **out, char *err,
            size_t errlen)
{
    bool         present;
    json_object *v = member(obj, key, &present);

    if (!present)
        return env_fail(err, errlen, "\"%s\" is missing", key);
    if (v == NULL)
        return env_fail(err, errlen, "\"%s\" is null", key);
    if (!json_object_is_type(v, json_type_string))
        return env_fail(err, errlen, "\"%s\" must be a string, not %s", key,
                        json_kind_word(v));
    *out = json_object_get_string(v);
    return true;
}

/* Check a timestamp member (required or optional; null = absent if optional). */
static bool
check_timestamp(json_object *obj, const char *key, bool required, char *err,
                size_t errlen)
{
    bool         present;
    json_object *v = member(obj, key, &present);
    const char  *s;
    time_t       t;
    char         q[80];

    if (!required && v == NULL)
        return true;
    if (!need_string(obj, key, &s, err, errlen))
        return false;
    if (!iso_timestamp_parse(s, &t))
    {
        quote_value(s, q, sizeof q);
        return env_fail(err, errlen,
                        "\"%s\" is not an ISO-8601 timestamp with a UTC offset: %s",
                        key, q);
    }
    return true;
}

/* Check a state member: present, an object or null. *is_null says which. */
static bool
check_state(json_object *obj, const char *key, const char *hint, bool *is_null,
            char *err, size_t errlen)
{
    bool         present;
    json_object *v = member(obj, key, &present);

    if (!present)
        return env_fail(err, errlen, "\"%s\" is missing (use null for %s)",
                        key, hint);
    *is_null = v == NULL;
    if (v != NULL && !json_object_is_type(v, json_type_object))
        return env_fail(err, errlen,
                        "\"%s\" must be an object or null, not %s", key,
                        json_kind_word(v));
    return true;
}

/* The wire-format checks on a parsed line. */
static bool
check_members(json_object *obj, char *err, size_t errlen)
{
    const char  *s;
    const char  *idkey = "id";
    json_object *v;
    bool         present, base_null, new_null;
    char         q[80];

    if (!json_object_is_type(obj, json_type_object))
        return env_fail(err, errlen, "expected a JSON object, not %s",
                        json_kind_word(obj));
    if (!need_string(obj, "change_id", &s, err, errlen))
        return false;
    if (!uuid_check(s))
    {
        quote_value(s, q, sizeof q);
        return env_fail(err, errlen, "\"change_id\" is not a UUID: %s", q);
    }
    if (!need_string(obj, "table", &s, err, errlen))
        return false;
    if (*s == '\0')
        return env_fail(err, errlen, "\"table\" is empty");
    v = member(obj, "id", &present);
    if (v == NULL)
    {
        idkey = "sys_id";
        v = member(obj, "sys_id", &present);
    }
    if (v == NULL)
        return env_fail(err, errlen, "\"id\" (or \"sys_id\") is missing");
    if (!json_object_is_type(v, json_type_string) &&
        !json_object_is_type(v, json_type_int) &&
        !json_object_is_type(v, json_type_double))
        return env_fail(err, errlen,
                        "\"%s\" must be a string or a number, not %s", idkey,
                        json_kind_word(v));
    if (!check_state(obj, "base_state", "a create", &base_null, err, errlen) ||
        !check_state(obj, "new_state", "a delete", &new_null, err, errlen))
        return false;
    if (base_null && new_null)
        return env_fail(err, errlen,
                        "\"base_state\" and \"new_state\" are both null");
    if (!check_timestamp(obj, "queued_at", true, err, errlen) ||
        !check_timestamp(obj, "edited_at", false, err, errlen))
        return false;
    v = member(obj, "actor", &present);
    if (v != NULL && !json_object_is_type(v, json_type_string))
        return env_fail(err, errlen, "\"actor\" must be a string, not %s",
                        json_kind_word(v));
    return true;
}

/*
 * Is line[0..len) a valid change envelope?  Else err holds the problem,
 * e.g. "\"change_id\" is missing".
 */
bool
envelope_check(const char *line, size_t len, char *err, size_t errlen)
{
    json_object *obj;
    bool         ok;

    if (!json_syntax_check(line, len, err, errlen))
        return false;
    obj = json_parse_text(line, len, &ok);
    if (!ok)
        return env_fail(err, errlen,
                        "malformed JSON (json-c could not parse it)");
    ok = check_members(obj, err, errlen);
    json_object_put(obj);
    return ok;
}
