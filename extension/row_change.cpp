// The JSON of a row change follows docs/capture.md: INSERT carries the whole
// row, UPDATE only the changed columns (plus the key), DELETE the key and the
// fields that name the row's topic. Unchanged columns are never printed, so a
// status update of a phase with a 1 MB payload costs no detoasting.
#include "row_change.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include "column_cache.hpp"
#include "json_text.hpp"
#include "pg_boundary.hpp"

namespace queuecast {

namespace {

const char* entity_name(entity_kind entity) {
  switch (entity) {
    case entity_kind::phase:
      return "phase";
    case entity_kind::workflow:
      return "workflow";
    case entity_kind::queue:
      return "queue";
  }
  return "unknown";
}

// A row's columns, deformed once: heap_getattr per column would walk the
// tuple from its start for every column after the first variable-width one.
// Datums point into the tuple (nothing is detoasted or copied).
class row_reader {
 public:
  row_reader(HeapTuple tuple, TupleDesc desc) {
    if (!tuple) return;  // tg_newtuple of an INSERT or DELETE
    values_.resize(desc->natts);
    nulls_ = std::make_unique<bool[]>(desc->natts);
    // Cannot ERROR for a tuple of this descriptor.
    heap_deform_tuple(tuple, desc, values_.data(), nulls_.get());
  }

  Datum get(AttrNumber attnum, bool* is_null) const {
    *is_null = nulls_[attnum - 1];
    return values_[attnum - 1];
  }

 private:
  std::vector<Datum> values_;
  std::unique_ptr<bool[]> nulls_;
};

void append_column(std::string& out, bool& first, const column_info& column, Datum value,
                   bool is_null) {
  out += first ? "" : ",";
  first = false;
  append_json_string(out, column.name);
  out += ':';
  if (is_null) {
    out += "null";
  } else {
    append_json_value(out, value, column.type, column.kind,
                      const_cast<FmgrInfo*>(&column.output_fn));
  }
}

// The plain text of a column (key, status, queue name), or nullopt for null.
std::optional<std::string> column_text(const relation_columns& columns, const row_reader& row,
                                       AttrNumber attnum) {
  if (attnum == InvalidAttrNumber) return std::nullopt;
  bool is_null = false;
  Datum value = row.get(attnum, &is_null);
  if (is_null) return std::nullopt;
  for (const column_info& column : columns.columns) {
    if (column.attnum != attnum) continue;
    if (column.kind == json_kind::boolean)
      return std::string(DatumGetBool(value) ? "true" : "false");
    // A phase's or workflow's key is its bigint id: printed without a
    // palloc'd string for every row.
    if (std::string digits; append_integer(digits, value, column.type)) return digits;
    FmgrInfo* fn = const_cast<FmgrInfo*>(&column.output_fn);
    char* text = pg_call([&] { return OutputFunctionCall(fn, value); });
    std::string copy(text);
    pfree(text);
    return copy;
  }
  return std::nullopt;
}

bool values_equal(const column_info& column, Datum a, bool a_null, Datum b, bool b_null) {
  if (a_null || b_null) return a_null == b_null;
  // Binary equality: an unchanged TOASTed value keeps its pointer, so a big
  // payload is compared without being fetched.
  return datumIsEqual(a, b, column.typbyval, column.typlen);
}

// Whole row (INSERT), or only the columns listed in `only` (key fields).
std::string row_json(const relation_columns& columns, const row_reader& row,
                     std::initializer_list<AttrNumber> only = {}) {
  std::string out = "{";
  bool first = true;
  for (const column_info& column : columns.columns) {
    if (only.size() && std::find(only.begin(), only.end(), column.attnum) == only.end()) continue;
    bool is_null = false;
    Datum value = row.get(column.attnum, &is_null);
    append_column(out, first, column, value, is_null);
  }
  out += '}';
  return out;
}

// Changed columns: new values into data, old values into old_data.
bool diff_json(const relation_columns& columns, const row_reader& old_row,
               const row_reader& new_row, std::string& data, std::string& old_data) {
  data = "{";
  old_data = "{";
  bool first_new = true, first_old = true, changed = false;
  for (const column_info& column : columns.columns) {
    bool old_null = false, new_null = false;
    Datum old_value = old_row.get(column.attnum, &old_null);
    Datum new_value = new_row.get(column.attnum, &new_null);
    bool same = values_equal(column, old_value, old_null, new_value, new_null);
    if (same && column.attnum != columns.key) continue;
    append_column(data, first_new, column, new_value, new_null);
    if (!same) {
      changed = true;
      append_column(old_data, first_old, column, old_value, old_null);
    }
  }
  data += '}';
  old_data += '}';
  return changed;
}

std::string topic_of(entity_kind entity, const relation_columns& columns, const row_reader& row) {
  if (entity == entity_kind::workflow) return "workflows";
  AttrNumber name = entity == entity_kind::queue ? columns.key : columns.queue;
  return "queue:" + column_text(columns, row, name).value_or("");
}

}  // namespace

bool describe_row_change(entity_kind entity, TriggerData* trigger, change& out) {
  Relation rel = trigger->tg_relation;
  auto columns_ptr = columns_of(rel);
  const relation_columns& columns = *columns_ptr;
  TupleDesc desc = RelationGetDescr(rel);
  row_reader old_row(trigger->tg_trigtuple, desc);
  // Only an UPDATE has a new row; an INSERT's row arrives in tg_trigtuple.
  row_reader new_row(TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple : nullptr,
                     desc);
  TriggerEvent event = trigger->tg_event;
  out.entity = entity_name(entity);

  if (TRIGGER_FIRED_BY_INSERT(event)) {
    // For INSERT the inserted row arrives in tg_trigtuple.
    const row_reader& row = old_row;
    out.op = "INSERT";
    out.key = column_text(columns, row, columns.key).value_or("");
    out.topic = topic_of(entity, columns, row);
    out.new_status = column_text(columns, row, columns.status);
    out.data = row_json(columns, row);
    return true;
  }
  if (TRIGGER_FIRED_BY_DELETE(event)) {
    out.op = "DELETE";
    out.key = column_text(columns, old_row, columns.key).value_or("");
    out.topic = topic_of(entity, columns, old_row);
    out.old_status = column_text(columns, old_row, columns.status);
    out.data = row_json(columns, old_row, {columns.key, columns.queue, columns.workflow_id});
    return true;
  }
  std::string data, old_data;
  if (!diff_json(columns, old_row, new_row, data, old_data)) return false;
  out.op = "UPDATE";
  out.key = column_text(columns, new_row, columns.key).value_or("");
  out.topic = topic_of(entity, columns, new_row);
  out.old_status = column_text(columns, old_row, columns.status);
  out.new_status = column_text(columns, new_row, columns.status);
  out.data = std::move(data);
  out.old_data = std::move(old_data);
  return true;
}

change describe_truncate(entity_kind entity) {
  change out;
  out.entity = entity_name(entity);
  out.op = "TRUNCATE";
  out.topic = entity == entity_kind::workflow ? "workflows" : "queue:*";
  return out;
}

}  // namespace queuecast
