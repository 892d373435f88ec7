#include "basic/json.h"

#include <inttypes.h>

void json_init(struct json *j, FILE *f) {
        *j = (struct json){ .f = f };
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s) {
        unsigned char c = s[0];
        size_t n;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
        return n;
}

void json_write_string(FILE *f, const char *s) {
        const unsigned char *p = (const unsigned char *)s;
        fputc('"', f);
        while (*p) {
                unsigned char c = *p;
                switch (c) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\b':
                        fputs("\\b", f);
                        break;
                case '\f':
                        fputs("\\f", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (c < 0x20 || c == 0x7f) {
                                fprintf(f, "\\u%04x", c);
                                break;
                        }
                        size_t n = utf8_len(p);
                        if (n == 0) {
                                fputs("\\ufffd", f); /* a byte that is not UTF-8 */
                                break;
                        }
                        fwrite(p, 1, n, f);
                        p += n;
                        continue;
                }
                p++;
        }
        fputc('"', f);
}

/* Comma, newline, indentation and "key": before a value. */
static void begin_value(struct json *j, const char *key) {
        if (j->depth > 0) {
                if (j->comma[j->depth])
                        fputc(',', j->f);
                fputc('\n', j->f);
                for (int i = 0; i < j->depth; i++)
                        fputs("  ", j->f);
                j->comma[j->depth] = true;
        }
        if (key) {
                json_write_string(j->f, key);
                fputs(": ", j->f);
        }
}

static void open_(struct json *j, const char *key, char c) {
        begin_value(j, key);
        fputc(c, j->f);
        if (j->depth + 1 < JSON_MAX_DEPTH)
                j->depth++;
        j->comma[j->depth] = false;
}

static void close_(struct json *j, char c) {
        bool had = j->comma[j->depth];
        if (j->depth > 0)
                j->depth--;
        if (had) {
                fputc('\n', j->f);
                for (int i = 0; i < j->depth; i++)
                        fputs("  ", j->f);
        }
        fputc(c, j->f);
        if (j->depth == 0)
                fputc('\n', j->f);
}

void json_obj_open(struct json *j, const char *key) {
        open_(j, key, '{');
}

void json_obj_close(struct json *j) {
        close_(j, '}');
}

void json_arr_open(struct json *j, const char *key) {
        open_(j, key, '[');
}

void json_arr_close(struct json *j) {
        close_(j, ']');
}

void json_str(struct json *j, const char *key, const char *s) {
        begin_value(j, key);
        if (s)
                json_write_string(j->f, s);
        else
                fputs("null", j->f);
}

void json_int(struct json *j, const char *key, int64_t v) {
        begin_value(j, key);
        fprintf(j->f, "%" PRId64, v);
}

void json_uint(struct json *j, const char *key, uint64_t v) {
        begin_value(j, key);
        fprintf(j->f, "%" PRIu64, v);
}

void json_bool(struct json *j, const char *key, bool v) {
        begin_value(j, key);
        fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key) {
        begin_value(j, key);
        fputs("null", j->f);
}
