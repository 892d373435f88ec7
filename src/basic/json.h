#pragma once
/* A small streaming JSON writer for --json output: it tracks nesting and
 * commas, indents, and escapes strings (control characters, quotes, and
 * bytes that are not valid UTF-8, which become U+FFFD so the output is
 * always valid JSON). Keys are NULL for array elements and the top level. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
        FILE *f;
        int depth;
        bool comma[JSON_MAX_DEPTH]; /* an element was written at this depth */
};

void json_init(struct json *j, FILE *f);
void json_obj_open(struct json *j, const char *key);
void json_obj_close(struct json *j);
void json_arr_open(struct json *j, const char *key);
void json_arr_close(struct json *j);
void json_str(struct json *j, const char *key, const char *s); /* NULL: null */
void json_int(struct json *j, const char *key, int64_t v);
void json_uint(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
/* Writes s as a quoted, escaped JSON string. */
void json_write_string(FILE *f, const char *s);
