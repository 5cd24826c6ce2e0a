// Turning one row event of a captured table into a `change`.
#pragma once

#include "change.hpp"
#include "pg.hpp"

namespace queuecast {

enum class entity_kind { phase, workflow, queue };

// Builds the history record of one INSERT, UPDATE or DELETE. Returns false
// for an UPDATE that changed no column (nothing to record). May throw.
bool describe_row_change(entity_kind entity, TriggerData* trigger, change& out);

// The history record of a TRUNCATE of one captured table.
change describe_truncate(entity_kind entity);

}  // namespace queuecast
