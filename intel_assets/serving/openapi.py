"""Owns the serving API's OpenAPI 3.1 document, built from the contract models (contracts/), and
the exact input rules it publishes (the app enforces the same ones, so a generated client or a
fuzzer can rely on them)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from intel_assets.contracts.bundle import DOMAINS
from intel_assets.contracts.envelopes import (
    ContextEnvelope,
    ErrorEnvelope,
    HealthEnvelope,
    ResearchEnvelope,
    SkillEnvelope,
    UniverseHealthEnvelope,
)
from intel_assets.contracts.symbols import SYMBOL_INPUT_RULE

#: RFC 3339 date-time with seconds and an offset; a space in the offset's sign position is an
#: unencoded '+' (URL query decoding turns '+' into a space) and is read as '+'.
AS_OF_RULE = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+ -]\d{2}:\d{2})$"
AS_OF_RE = re.compile(AS_OF_RULE)
SYMBOL_INPUT_RE = re.compile(SYMBOL_INPUT_RULE)
API = "/api/torghut/market-context"
_MODELS = (ContextEnvelope, ErrorEnvelope, HealthEnvelope, UniverseHealthEnvelope,
           ResearchEnvelope, SkillEnvelope)
_JSON = "application/json"


def _ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type, description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(model)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {400: "bad input (the message says the rule)",
             404: "nothing published for the symbol (as of asOf)",
             500: "a stored bundle no longer validates, or an unexpected error",
             503: "the bundle store cannot be reached"}
    return {str(s): _json(ErrorEnvelope, words[s]) for s in statuses}


SYMBOL = {"name": "symbol", "in": "query", "required": True,
          "description": "ticker, any case (upper-cased by the server)",
          "schema": {"type": "string", "pattern": SYMBOL_INPUT_RULE}}
OPTIONAL_SYMBOL = {**SYMBOL, "required": False,
                   "description": "ticker, any case; absent or empty = SPY (Jangar's default)",
                   "schema": {"type": "string", "pattern": f"^({SYMBOL_INPUT_RULE[1:-1]})?$"}}
AS_OF = {"name": "asOf", "in": "query", "required": False,
         "description": "point in time (RFC 3339 with an offset): the newest bundle built as of "
                        "it or earlier, re-aged to it; absent or empty = now (as Jangar)",
         "schema": {"type": "string", "pattern": f"^({AS_OF_RULE[1:-1]})?$"}}  # empty = absent
DOMAIN = {"name": "domain", "in": "path", "required": True,
          "schema": {"type": "string", "enum": list(DOMAINS)}}
_ETAG = {"ETag": {"description": "strong ETag of this body", "schema": {"type": "string"}}}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the serving API (JSON Schema 2020-12 components)."""
    _, defs = models_json_schema([(m, "serialization") for m in _MODELS],
                                 ref_template="#/components/schemas/{model}")
    bundle_ok = {**_json(ContextEnvelope, "the bundle, re-aged at the serving clock"),
                 "headers": _ETAG}
    paths: dict[str, Any] = {
        API: {"get": {
            "operationId": "getMarketContext", "tags": ["torghut"],
            "summary": "The latest (or as-of) bundle of a symbol in Jangar's envelope",
            "parameters": [SYMBOL, AS_OF,
                           {"name": "If-None-Match", "in": "header", "required": False,
                            "schema": {"type": "string"}}],
            "responses": {"200": bundle_ok,
                          "304": {"description": "the body would equal If-None-Match's",
                                  "headers": _ETAG},
                          **_errors(400, 404, 500, 503)}}},
        f"{API}/health": {"get": {
            "operationId": "getMarketContextHealth", "tags": ["torghut"],
            "summary": "One symbol's market-context health in Jangar's shape",
            "parameters": [OPTIONAL_SYMBOL, AS_OF],
            "responses": {"200": _json(HealthEnvelope, "health"), **_errors(400, 500, 503)}}},
        f"{API}/health/universe": {"get": {
            "operationId": "getUniverseHealth", "tags": ["operators"],
            "summary": "Every published symbol by domain and state (names, not only counts)",
            "responses": {"200": _json(UniverseHealthEnvelope, "universe health"),
                          **_errors(500, 503)}}},
        f"{API}/research": {"get": {
            "operationId": "getResearchBrief", "tags": ["agents"],
            "summary": "The latest research brief of a symbol (every claim cited)",
            "parameters": [SYMBOL],
            "responses": {"200": _json(ResearchEnvelope, "the brief"),
                          **_errors(400, 404, 500, 503)}}},
        API + "/{domain}": {"get": {
            "operationId": "getSkillOutput", "tags": ["agents"],
            "summary": "One domain of the bundle in the skill output contract (snake_case)",
            "parameters": [DOMAIN, SYMBOL, AS_OF],
            "responses": {"200": _json(SkillEnvelope, "the domain, re-aged at the serving clock"),
                          **_errors(400, 404, 500, 503)}}},
        "/healthz": {"get": {
            "operationId": "liveness", "tags": ["operators"], "summary": "Liveness (no store)",
            "responses": {"200": {"description": "alive", "content": {_JSON: {"schema": {
                "type": "object", "properties": {"status": {"const": "ok"}},
                "required": ["status"], "additionalProperties": False}}}}}}},
        "/metrics": {"get": {
            "operationId": "metrics", "tags": ["operators"],
            "summary": "Prometheus text format (serving, bundle ages, Torghut consumer)",
            "responses": {"200": {"description": "metrics", "content": {
                "text/plain": {"schema": {"type": "string"}}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "intel_assets serving API", "version": "1",
                 "description": "Decision-time market context for Torghut. Answers are {ok: true, "
                                "...}; refusals {ok: false, message, error}. Freshness is measured "
                                "at every request."},
        "paths": paths,
        "components": {"schemas": defs["$defs"]},
    }


__all__ = ["API", "AS_OF_RE", "AS_OF_RULE", "SYMBOL_INPUT_RE", "openapi_document"]
