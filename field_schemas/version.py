"""The protocol's schema version. A change of a name, a status or a rule is a new version."""

SCHEMA_MIN = 1
SCHEMA_CURRENT = 1
