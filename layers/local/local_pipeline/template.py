"""Reading template.yaml: CloudFormation short-form tags, the functions, the state machine.

The local run builds its resources from what the template declares, so the two cannot drift:
the table's keys and index, the S3 notification filters, each function's handler and
environment, and the state machine definition with its DefinitionSubstitutions rendered.

The template and the ``functions/`` it names are the project's checkout, not Python package
data: ``locate_template`` finds them from an explicit path, ``$GEOCODE_DATAFLOW_TEMPLATE``, the
checkout of an editable install, or the current directory and its parents.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
TEMPLATE_ENV = "GEOCODE_DATAFLOW_TEMPLATE"
TEMPLATE_NAME = "template.yaml"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


class TemplateNotFoundError(FileNotFoundError):
    """No template.yaml where it was looked for (the message lists every place)."""


def locate_template(explicit: str | Path | None = None) -> Path:
    """The template.yaml the local run is built from: ``explicit`` (``--template``), else
    ``$GEOCODE_DATAFLOW_TEMPLATE``, else the checkout of an editable install, else the current
    directory or the nearest parent that has one. A path given explicitly or in the variable is
    the only one tried: a wrong one is an error, not a reason to use another template."""
    for given, origin in (
        (explicit, "--template "),
        (os.environ.get(TEMPLATE_ENV), f"{TEMPLATE_ENV}="),
    ):
        if given and str(given).strip():
            path = Path(str(given).strip()).expanduser()
            if path.is_file():
                return path.resolve()
            raise TemplateNotFoundError(f"{origin}{path}: no such file")
    here = Path.cwd().resolve()
    for path in (TEMPLATE_PATH, *(folder / TEMPLATE_NAME for folder in (here, *here.parents))):
        if path.is_file():
            return path.resolve()
    raise TemplateNotFoundError(
        f"cannot find the project's {TEMPLATE_NAME}: not in {here} or any folder above it, nor "
        f"in {REPO_ROOT} (beside the package's sources, as in an editable install). The local "
        f"run needs a checkout of the project (template.yaml and functions/): run it there, "
        f"pass --template PATH/{TEMPLATE_NAME} or set {TEMPLATE_ENV}"
    )


class Template(dict[str, Any]):
    """The parsed template, remembering its file: every ``CodeUri`` is relative to it."""

    def __init__(self, document: dict[str, Any], path: Path) -> None:
        super().__init__(document)
        self.path = path


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


def load_template(path: str | Path | None = None) -> Template:
    """``path``, or the template ``locate_template`` finds."""
    found = Path(path) if path is not None else locate_template()
    with open(found, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return Template(document, found)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]  # unresolved values (may hold Ref / Sub)
    timeout: int


def functions(template: dict[str, Any]) -> dict[str, FunctionSpec]:
    base = template.path.parent if isinstance(template, Template) else REPO_ROOT
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
            code_dir=base / props["CodeUri"],
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


def accepted_suffixes(
    template: dict[str, Any], function_id: str = "SubmitJobFunction"
) -> list[str]:
    """The name endings whose upload starts ``function_id`` (S3 compares them case-sensitively),
    in the template's order, without repeats."""
    return list(dict.fromkeys(suffix for _, suffix in s3_event_filters(template, function_id)))


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
