#include "json_text.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "pg_boundary.hpp"

extern "C" {
#include "utils/datetime.h"
}

namespace queuecast {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

json_kind json_kind_for_type(Oid type) {
  switch (type) {
    case BOOLOID:
      return json_kind::boolean;
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case OIDOID:
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID:
      return json_kind::number;
    case JSONOID:
    case JSONBOID:
      return json_kind::json;
    case DATEOID:
    case TIMESTAMPOID:
    case TIMESTAMPTZOID:
      return json_kind::datetime;
    default:
      return json_kind::text;
  }
}

namespace {

// Calls the type's output function and copies the text out of palloc memory.
std::string output_text(Datum value, FmgrInfo* output_fn) {
  char* text = pg_call([&] { return OutputFunctionCall(output_fn, value); });
  std::string copy(text);
  pfree(text);
  return copy;
}

bool is_finite_number(const std::string& text) {
  return text != "NaN" && text != "Infinity" && text != "-Infinity";
}

}  // namespace

bool append_integer(std::string& out, Datum value, Oid type) {
  if (type != INT2OID && type != INT4OID && type != INT8OID) return false;
  int64 number = type == INT8OID   ? DatumGetInt64(value)
                 : type == INT4OID ? (int64)DatumGetInt32(value)
                                   : (int64)DatumGetInt16(value);
  char digits[24];
  auto printed = std::to_chars(digits, digits + sizeof digits, number);
  out.append(digits, printed.ptr);
  return true;
}

void append_json_value(std::string& out, Datum value, Oid type, json_kind kind,
                       FmgrInfo* output_fn) {
  switch (kind) {
    case json_kind::boolean:
      out += DatumGetBool(value) ? "true" : "false";
      return;
    case json_kind::number: {
      if (append_integer(out, value, type)) return;
      std::string text = output_text(value, output_fn);
      // to_jsonb() quotes non-finite numbers: JSON has no NaN or Infinity.
      if (is_finite_number(text)) {
        out += text;
      } else {
        append_json_string(out, text);
      }
      return;
    }
    case json_kind::json:
      out += output_text(value, output_fn);
      return;
    case json_kind::datetime: {
      char buffer[MAXDATELEN + 1];
      static const int utc = 0;
      pg_call([&] { JsonEncodeDateTime(buffer, value, type, &utc); });
      append_json_string(out, buffer);
      return;
    }
    case json_kind::text:
      append_json_string(out, output_text(value, output_fn));
      return;
  }
}

}  // namespace queuecast
