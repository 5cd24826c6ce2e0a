// Building JSON text in C++ strings: escaping and PostgreSQL values.
#pragma once

#include <string>
#include <string_view>

#include "pg.hpp"

namespace queuecast {

// Appends s as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s);

// How a column's values are written as JSON, decided once per column type.
enum class json_kind { boolean, number, json, datetime, text };

json_kind json_kind_for_type(Oid type);

// Appends an int2, int4 or int8 as their output functions print it, without
// a palloc'd string; false (nothing appended) for any other type.
bool append_integer(std::string& out, Datum value, Oid type);

// Appends one non-null value as JSON exactly as to_jsonb() prints it, except
// that timestamps are always in UTC so every writer's session prints the same
// text (see docs/capture.md). May throw pg_error.
void append_json_value(std::string& out, Datum value, Oid type, json_kind kind,
                       FmgrInfo* output_fn);

}  // namespace queuecast
