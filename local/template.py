"""Read template.yaml the way CloudFormation would, for the local runtime.

Parameters take their defaults and overrides, Conditions are evaluated, and the intrinsic
functions the template uses (Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Equals, Fn::Not, Fn::And,
Fn::Or, Fn::Join, Fn::Select, Fn::Split) are resolved against the physical names of the
resources the runtime created. Anything else is an error: the local runtime must not guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


NO_VALUE = object()  # Ref AWS::NoValue: the property is dropped


class TemplateError(Exception):
    pass


@dataclass
class Template:
    path: Path
    body: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> Template:
        path = Path(path)
        return cls(path, yaml_parse(path.read_text(encoding="utf-8")))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body.get("Resources", {})

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return self.body.get("Parameters", {})

    @property
    def function_globals(self) -> dict[str, Any]:
        return self.body.get("Globals", {}).get("Function", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}

    def dependencies(self, logical_id: str) -> set[str]:
        """Logical ids a resource refers to (Ref, GetAtt, Sub), so they can be created first."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "Ref" in node and isinstance(node["Ref"], str):
                    found.add(node["Ref"])
                if "Fn::GetAtt" in node:
                    target = node["Fn::GetAtt"]
                    found.add(target[0] if isinstance(target, list) else target.split(".")[0])
                if "Fn::Sub" in node:
                    text = node["Fn::Sub"][0] if isinstance(node["Fn::Sub"], list) else node["Fn::Sub"]
                    found.update(m.split(".")[0] for m in _SUB_VAR.findall(text))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.resources[logical_id].get("Properties", {}))
        return found & set(self.resources)

    def creation_order(self, logical_ids: list[str]) -> list[str]:
        order: list[str] = []
        visiting: set[str] = set()

        def visit(node: str) -> None:
            if node in order:
                return
            if node in visiting:
                raise TemplateError(f"circular reference through {node}")
            visiting.add(node)
            for dep in sorted(self.dependencies(node)):
                if dep in logical_ids:
                    visit(dep)
            visiting.discard(node)
            order.append(node)

        for logical_id in logical_ids:
            visit(logical_id)
        return order


@dataclass
class Resolver:
    """Resolves intrinsic functions against parameters, conditions and created resources."""

    template: Template
    parameter_values: dict[str, Any]
    pseudo: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def create(cls, template: Template, overrides: Mapping[str, Any], pseudo: dict[str, str]) -> Resolver:
        values: dict[str, Any] = {}
        for name, spec in template.parameters.items():
            if name in overrides:
                value = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no default and no override")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [v.strip() for v in value.split(",")] if value else []
            values[name] = str(value) if spec.get("Type") in ("String", "Number") else value
        unknown = set(overrides) - set(template.parameters)
        if unknown:
            raise TemplateError(f"unknown parameter overrides: {sorted(unknown)}")
        return cls(template, values, pseudo)

    def condition(self, name: str) -> bool:
        spec = self.template.body.get("Conditions", {}).get(name)
        if spec is None:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(spec))

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameter_values:
            return self.parameter_values[name]
        if name in self.refs:
            return self.refs[name]
        raise TemplateError(f"Ref to {name}, which is neither a parameter nor a created resource")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not known locally") from None

    def _sub(self, spec: Any) -> str:
        text, variables = (spec[0], spec[1]) if isinstance(spec, list) else (spec, {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return str(self._ref(name))

        return _SUB_VAR.sub(replace, text).replace("${!", "${")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            handler = self._intrinsics().get(key)
            if handler:
                return handler(arg)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda a: self._ref(a),
            "Fn::GetAtt": lambda a: self._get_att(*(a if isinstance(a, list) else a.split(".", 1))),
            "Fn::Sub": self._sub,
            "Fn::If": lambda a: self.resolve(a[1] if self.condition(a[0]) else a[2]),
            "Fn::Equals": lambda a: str(self.resolve(a[0])) == str(self.resolve(a[1])),
            "Fn::Not": lambda a: not self.resolve(a[0]),
            "Fn::And": lambda a: all(self.resolve(x) for x in a),
            "Fn::Or": lambda a: any(self.resolve(x) for x in a),
            "Condition": lambda a: self.condition(a),
            "Fn::Join": lambda a: str(a[0]).join(str(x) for x in self.resolve(a[1])),
            "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
            "Fn::Split": lambda a: str(self.resolve(a[1])).split(a[0]),
        }
