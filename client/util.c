/*
 * util.c: small helpers for sync-push.  Owns: messages on stderr and the
 * terminal progress line (so that the two never garble each other),
 * allocation that exits on out-of-memory, growable string buffers, the
 * monotonic clock and sleeping, and parsing/formatting of durations and
 * times.
 */
#include "sync-push.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *progname = "sync-push";

static bool progress_enabled = false;
static bool progress_shown = false;

/* Print "sync-push: MESSAGE" and a newline on stderr, below any progress line. */
void
msg(const char *fmt, ...)
{
    va_list ap;

    if (progress_shown)
    {
        fputc('\n', stderr);
        progress_shown = false;
    }
    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

/* Turn the progress line on (only ever done when stderr is a terminal). */
void
set_progress_enabled(bool on)
{
    progress_enabled = on;
}

/* Rewrite the progress line in place ("\r", text, clear to end of line). */
void
progress_update(const char *fmt, ...)
{
    va_list ap;

    if (!progress_enabled)
        return;
    fprintf(stderr, "\r%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\033[K", stderr);
    fflush(stderr);
    progress_shown = true;
}

/* End the progress line, if one is shown, with a newline. */
void
progress_end(void)
{
    if (progress_shown)
    {
        fputc('\n', stderr);
        fflush(stderr);
        progress_shown = false;
    }
}

/* malloc that never returns NULL: out of memory ends the program (status 2). */
void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
    {
        msg("out of memory");
        exit(EXIT_USAGE);
    }
    return p;
}

/* realloc that never returns NULL. */
void *
xrealloc(void *p, size_t n)
{
    void *r = realloc(p, n ? n : 1);

    if (r == NULL)
    {
        msg("out of memory");
        exit(EXIT_USAGE);
    }
    return r;
}

/* strdup that never returns NULL. */
char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xmalloc(n), s, n);
}

/* An empty buffer; data is always NUL-terminated once anything is added. */
void
sb_init(StrBuf *sb)
{
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

/* Append n bytes. */
void
sb_append(StrBuf *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap)
    {
        size_t cap = sb->cap ? sb->cap : 256;

        while (cap < sb->len + n + 1)
            cap *= 2;
        sb->data = xrealloc(sb->data, cap);
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

/* Append a C string. */
void
sb_puts(StrBuf *sb, const char *s)
{
    sb_append(sb, s, strlen(s));
}

/* Append printf-formatted text. */
void
sb_printf(StrBuf *sb, const char *fmt, ...)
{
    va_list ap;
    int     n;
    char    small[256];

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t) n < sizeof small)
    {
        sb_append(sb, small, n);
        return;
    }
    {
        char *big = xmalloc(n + 1);

        va_start(ap, fmt);
        vsnprintf(big, n + 1, fmt, ap);
        va_end(ap);
        sb_append(sb, big, n);
        free(big);
    }
}

/* Append s as a JSON string literal (quoted and escaped, one line). */
void
sb_json_string(StrBuf *sb, const char *s)
{
    json_object *o = json_object_new_string(s);

    sb_puts(sb,
            json_object_to_json_string_ext(o,
                                           JSON_C_TO_STRING_PLAIN |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* Release the buffer's memory. */
void
sb_free(StrBuf *sb)
{
    free(sb->data);
    sb_init(sb);
}

/* Seconds on the monotonic clock (for delays and deadlines). */
double
mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep s seconds, resuming after signals that do not end the program. */
void
sleep_seconds(double s)
{
    struct timespec ts;

    if (s <= 0)
        return;
    ts.tv_sec = (time_t) s;
    ts.tv_nsec = (long) ((s - (double) ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Parse a duration: a non-negative number with unit ms, s, min or h; a bare
 * number is in bare_unit seconds (1 for seconds, 0.001 for milliseconds).
 */
bool
parse_duration(const char *s, double bare_unit, double *seconds)
{
    char  *end;
    double v;
    double unit;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0 || *s == '+' ||
        *s == '-')
        return false;
    if (*end == '\0')
        unit = bare_unit;
    else if (strcmp(end, "ms") == 0)
        unit = 0.001;
    else if (strcmp(end, "s") == 0)
        unit = 1;
    else if (strcmp(end, "min") == 0)
        unit = 60;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else
        return false;
    *seconds = v * unit;
    return true;
}

/* An age for people: "42s", "3m 12s", "2h 5m", "4d 3h". */
void
format_age(long s, char *buf, size_t len)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, len, "%lds", s);
    else if (s < 3600)
        snprintf(buf, len, "%ldm %lds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%ldh %ldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%ldd %ldh", s / 86400, s % 86400 / 3600);
}

/* A time as ISO-8601 UTC, e.g. 2026-05-14T10:30:00Z. */
void
format_utc(time_t t, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
