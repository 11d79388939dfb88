#!/usr/bin/env python3
"""Validates recorded HTTP answers against the served OpenAPI document with
independent validators (openapi-spec-validator for the document, jsonschema
for each body; neither knows switchboard's Rust types).

    tests/peers/openapi_check.py DOCUMENT.json RECORDS.jsonl

Each record is {"method", "route" (the path template), "status",
"content_type", "body" (parsed JSON or null)}. Exits 1 listing every answer
whose status is not documented for its operation or whose body does not
match the documented schema, 2 when the document itself is invalid.
"""
import json
import sys

import jsonschema
import referencing
from openapi_spec_validator import validate as validate_document

DOC_URI = "urn:switchboard:openapi"


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def main(doc_path, records_path):
    with open(doc_path) as f:
        doc = json.load(f)
    try:
        validate_document(doc)
    except Exception as e:  # the document is wrong: nothing else matters
        print(f"the OpenAPI document is invalid: {e}")
        return 2
    resource = referencing.Resource.from_contents(doc, default_specification=referencing.jsonschema.DRAFT202012)
    registry = referencing.Registry().with_resource(DOC_URI, resource)
    failures, checked, bodies = [], 0, 0
    with open(records_path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    for r in records:
        checked += 1
        where = f"{r['method'].upper()} {r['route']} -> {r['status']}"
        op = doc["paths"].get(r["route"], {}).get(r["method"].lower())
        if op is None:
            failures.append(f"{where}: no such operation in the document")
            continue
        responses = op.get("responses", {})
        key = str(r["status"]) if str(r["status"]) in responses else ("default" if "default" in responses else None)
        if key is None:
            failures.append(f"{where}: status not documented (documented: {sorted(responses)})")
            continue
        content = responses[key].get("content")
        if not content:
            continue
        ctype = (r.get("content_type") or "").split(";")[0].strip()
        documented = {k.split(";")[0].strip(): k for k in content}
        if ctype not in documented:
            failures.append(f"{where}: content type {ctype!r} not documented ({sorted(content)})")
            continue
        if ctype != "application/json":
            continue
        ctype = documented[ctype]
        schema = {"$ref": DOC_URI + pointer("paths", r["route"], r["method"].lower(), "responses", key, "content", ctype, "schema")}
        validator = jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())
        errors = sorted(validator.iter_errors(r["body"]), key=lambda e: list(e.path))
        bodies += 1
        for e in errors[:3]:
            path = "/".join(str(p) for p in e.path)
            failures.append(f"{where}: at /{path}: {e.message[:300]}")
    for line in failures:
        print(line)
    print(f"{checked} answers checked, {bodies} JSON bodies validated, {len(failures)} deviations")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
