"""The JSON Schema files handed to tablet developers: valid, complete, and true to the wire format."""

from __future__ import annotations

import json
from typing import get_args

import msgspec
import pytest
from click.testing import CliRunner

from field_schemas.anomalies import ANOMALY_CODES
from field_schemas.errors import ERROR_STATUS, ErrorBody, ErrorDetail
from field_schemas.export import CODES_FILE, INDEX_FILE, PULL_DATA_BY_KIND, export_files
from field_schemas.pull import Kind
from field_schemas.push import PushRequest
from field_schemas.version import SCHEMA_CURRENT
from server.cli import cli
from tests.push_helpers import anomaly, batch, inspection, reading, seal_event

FILES = export_files()
SCHEMAS = {name: content for name, content in FILES.items() if name not in (CODES_FILE, INDEX_FILE)}


def sample_push() -> dict:
    return batch([
        reading("m-1", "as-1", "12345.6"),
        reading("m-1", "as-1", None, unable_reason="premises_locked"),
        seal_event("m-1", "installed", "S-1", pliers_id="P-07", participants=["inspector01", "inspector02"]),
        anomaly("m-1", "meter_creeping"),
        inspection("m-1", ["inspector01", "inspector02"]),
    ])


def refs(node) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def test_there_is_a_schema_for_every_wire_message():
    assert set(SCHEMAS) == {
        "login-request.json", "login-response.json", "pull-response.json", "push-request.json",
        "push-response.json", "pliers-issue-request.json", "pliers-state.json", "pliers-list.json",
        "pliers-detail.json", "photo-info.json", "photo-upload-request.json", "photo-upload-created.json",
        "photo-upload-progress.json", "error.json",
    }


def test_the_index_lists_every_file_and_the_schema_version():
    index = FILES[INDEX_FILE]
    assert f"schema version {SCHEMA_CURRENT}" in index
    for name in FILES.keys() - {INDEX_FILE}:
        assert f"`{name}`" in index


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_stands_alone(name):
    schema = SCHEMAS[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$ref"] == f"#/$defs/{schema['title']}"
    assert refs(schema) <= {f"#/$defs/{d}" for d in schema["$defs"]}
    json.dumps(schema)  # JSON-able as returned


def test_every_pull_kind_has_the_schema_of_its_data():
    assert set(PULL_DATA_BY_KIND) == set(get_args(Kind))
    assert {f"#/$defs/{t.__name__}" for t in PULL_DATA_BY_KIND.values()} <= refs(SCHEMAS["pull-response.json"])


def test_response_schemas_require_every_field_the_server_always_sends():
    detail = SCHEMAS["error.json"]["$defs"]["ErrorDetail"]
    assert detail["required"] == ["code", "message", "field"]
    optional_in_requests = SCHEMAS["push-request.json"]["$defs"]["Reading"]
    assert "note" not in optional_in_requests["required"]


def test_codes_list_every_anomaly_with_both_labels_and_every_error_with_its_status():
    codes = FILES[CODES_FILE]
    assert codes["schema_version"] == SCHEMA_CURRENT
    assert [c["code"] for c in codes["anomaly_codes"]] == list(ANOMALY_CODES)
    assert {"code": "meter_creeping", "zh": "空转", "en": "Meter creeping without load"} in codes["anomaly_codes"]
    assert all(c["zh"] and c["en"] for c in codes["anomaly_codes"] + codes["flag_codes"] + codes["rejection_codes"])
    assert {c["code"]: c["status"] for c in codes["error_codes"]} == ERROR_STATUS
    assert {"code": "pliers_not_issued", "zh": "封钳未登记领用", "en": "Seal pliers not issued to the team"} in codes["flag_codes"]


def test_the_command_writes_every_file_as_utf8(tmp_path):
    out = tmp_path / "schemas"
    result = CliRunner().invoke(cli, ["schema", "export", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert json.loads((out / CODES_FILE).read_text(encoding="utf-8")) == FILES[CODES_FILE]
    assert "空转" in (out / CODES_FILE).read_text(encoding="utf-8")
    assert (out / INDEX_FILE).read_text(encoding="utf-8") == FILES[INDEX_FILE]


# -- with a JSON Schema validator, as a tablet developer would use the files ------------------------


def validator(name: str):
    jsonschema = pytest.importorskip("jsonschema")
    cls = jsonschema.validators.validator_for(SCHEMAS[name])
    cls.check_schema(SCHEMAS[name])
    return cls(SCHEMAS[name])


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_file_is_a_valid_json_schema(name):
    validator(name)


def test_a_push_the_server_accepts_is_valid_against_the_exported_schema():
    body = sample_push()
    msgspec.json.decode(json.dumps(body), type=PushRequest)  # the server's own decoder takes it
    assert list(validator("push-request.json").iter_errors(body)) == []


@pytest.mark.parametrize("break_it", [
    lambda b: b.update(surprise=1),
    lambda b: b["items"][0].update(type="meter_photo"),
    lambda b: b["items"][3].update(code="meter_exploded"),
    lambda b: b.pop("device_id"),
    lambda b: b.update(batch_id="not-a-uuid"),
])
def test_a_push_the_server_refuses_is_invalid_against_the_exported_schema(break_it):
    body = sample_push()
    break_it(body)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps(body), type=PushRequest)
    assert list(validator("push-request.json").iter_errors(body)) != []


def test_an_error_answer_is_valid_and_a_pull_change_must_carry_its_kinds_data():
    error = msgspec.to_builtins(ErrorBody(ErrorDetail("invalid_state", "Return them first.", None)))
    assert list(validator("error.json").iter_errors(error)) == []
    pull = validator("pull-response.json")
    page = {"cursor": "c", "has_more": False, "server_time": "2026-12-01T08:00:00Z", "changes": [
        {"seq": 1, "op": "upsert", "kind": "assignment", "id": "as-1", "data": {
            "id": "as-1", "cycle": "2026-12", "route_id": "r-01", "meter_id": "m-1", "task": "read",
            "due_from": "2026-12-01", "due_until": "2026-12-10", "reason": None}},
        {"seq": 2, "op": "remove", "kind": "meter", "id": "m-2", "data": None},
    ]}
    assert list(pull.iter_errors(page)) == []
    page["changes"][0]["data"] = {"id": "as-1"}
    assert list(pull.iter_errors(page)) != []
