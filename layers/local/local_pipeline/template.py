"""Reading template.yaml: CloudFormation short-form tags, the functions, the state machine.

The local run builds its resources from what the template declares, so the two cannot drift:
the table's keys and index, the S3 notification filters, each function's handler and
environment, and the state machine definition with its DefinitionSubstitutions rendered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref x`` into ``{"Ref": x}``, ``!GetAtt a.b`` into
    ``{"Fn::GetAtt": [a, b]}`` and every other ``!Fn`` into ``{"Fn::Fn": ...}``."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]  # unresolved values (may hold Ref / Sub)
    timeout: int


def functions(template: dict[str, Any]) -> dict[str, FunctionSpec]:
    glob = template.get("Globals", {}).get("Function", {})
    base_env = glob.get("Environment", {}).get("Variables", {})
    specs = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        env = {**base_env, **props.get("Environment", {}).get("Variables", {})}
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=REPO_ROOT / props["CodeUri"],
            handler=props.get("Handler", glob.get("Handler", "app.lambda_handler")),
            environment=env,
            timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
        )
    return specs


def s3_event_filters(template: dict[str, Any], function_id: str) -> list[tuple[str, str]]:
    """(prefix, suffix) of every S3 event source of one function."""
    events = template["Resources"][function_id]["Properties"].get("Events", {})
    filters = []
    for event in events.values():
        if event["Type"] != "S3":
            continue
        rules = {r["Name"]: r["Value"] for r in event["Properties"]["Filter"]["S3Key"]["Rules"]}
        filters.append((rules.get("prefix", ""), rules.get("suffix", "")))
    return filters


def state_machine_definition(
    template: dict[str, Any], substitutions: dict[str, str], logical_id: str = "JobStateMachine"
) -> str:
    """The ASL document with ``${Name}`` placeholders replaced (regex, not string.Template,
    which would mangle ``$$.Execution.Id`` and ``$.x``)."""
    definition = template["Resources"][logical_id]["Properties"]["Definition"]
    text = json.dumps(definition)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise KeyError(f"no value for DefinitionSubstitutions placeholder ${{{name}}}")
        return str(substitutions[name])

    return _PLACEHOLDER.sub(replace, text)


def table_schema(template: dict[str, Any], logical_id: str = "JobsTable") -> dict[str, Any]:
    props = template["Resources"][logical_id]["Properties"]
    keys = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {k: props[k] for k in keys if k in props}


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    return {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
