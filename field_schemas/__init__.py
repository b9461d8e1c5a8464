"""The wire contract: msgspec Structs for every message, the codes and the schema version.

No I/O here and no imports from the other packages.
"""

from field_schemas.version import SCHEMA_CURRENT, SCHEMA_MIN

__all__ = ["SCHEMA_CURRENT", "SCHEMA_MIN"]
