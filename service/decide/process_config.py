"""Process configuration: approval chains and working-day SLAs (rules/process/config/).

HR edits these two files; the service reads them once at start-up (through FactContext) and
refuses to start on a bad one, naming the file and the reason. They hold data only: which
approvals each request needs, in order, and how many working days each approval may take.
Whether a step is overdue is still decided by a rule file (rules/process/sla.yaml).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.data_files import header_fields
from schemas.fields import ROLES
from service.decide.yamlfile import load_checked

__all__ = ["ApprovalStep", "ProcessConfig", "ProcessConfigError", "Sla", "REQUEST_KINDS"]

# The requests the case events know about; each needs a chain. (Event types are fixed by the
# v1 contract, so a new kind of request is a code change, not a config change.)
REQUEST_KINDS = ("resignation", "withdrawal")
_NAME = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="lower-case letters, digits and '_'")


class ProcessConfigError(Exception):
    """A process configuration file is unreadable or invalid."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# ---- file formats -------------------------------------------------------------------------
class _Label(Schema):
    zh = fields.String(required=True, validate=validate.Length(min=1))
    en = fields.String(required=True, validate=validate.Length(min=1))


class _Approver(_Label):
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(min=1))


class _ChainStep(Schema):
    step = fields.String(required=True, validate=_NAME)
    approver = fields.String(required=True)
    title = fields.Nested(_Label, required=True)


class _Chain(Schema):
    title = fields.Nested(_Label, required=True)
    steps = fields.List(fields.Nested(_ChainStep), required=True, validate=validate.Length(min=1))


class ChainsFileSchema(Schema):
    class Meta:
        include = header_fields("process-config/v1", "approval_chains")

    approvers = fields.Dict(keys=fields.String(validate=_NAME), values=fields.Nested(_Approver),
                            required=True, validate=validate.Length(min=1))
    chains = fields.Dict(keys=fields.String(validate=validate.OneOf(REQUEST_KINDS)),
                         values=fields.Nested(_Chain), required=True)

    @validates_schema
    def _consistent(self, data, **kwargs):
        missing = [k for k in REQUEST_KINDS if k not in data.get("chains", {})]
        if missing:
            raise ValidationError(f"every request needs a chain; missing: {', '.join(missing)}", "chains")
        seen: set[str] = set()
        for kind, chain in data["chains"].items():
            for i, step in enumerate(chain["steps"]):
                where = f"chains.{kind}.steps.{i}"
                if step["approver"] not in data["approvers"]:
                    raise ValidationError(f"approver '{step['approver']}' is not listed under approvers",
                                          f"{where}.approver")
                if step["step"] in seen:
                    raise ValidationError(f"step name '{step['step']}' is used twice", f"{where}.step")
                seen.add(step["step"])


class _SlaEntry(Schema):
    # Bounded so a typo (20 for 2, 0) is caught; 0 would make every request overdue tomorrow.
    working_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=60))
    escalate_to = fields.String()
    # Working days late after which the escalation target hears of it; the reminder comes first.
    escalate_after_working_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=60))


class SlaFileSchema(Schema):
    class Meta:
        include = header_fields("process-config/v1", "sla")

    escalation_targets = fields.Dict(keys=fields.String(validate=_NAME), values=fields.Nested(_Label),
                                     required=True, validate=validate.Length(min=1))
    default = fields.Nested(_SlaEntry, required=True)
    steps = fields.Dict(keys=fields.String(), values=fields.Nested(_SlaEntry), load_default=dict)
    references = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list, metadata={
        "description": "the policy clauses (rules/citations/policy.yaml) the time limits come from"})

    @validates_schema
    def _consistent(self, data, **kwargs):
        default = data.get("default", {})
        if not {"working_days", "escalate_to", "escalate_after_working_days"} <= set(default):
            raise ValidationError("default needs working_days, escalate_to and escalate_after_working_days", "default")
        targets = data.get("escalation_targets", {})
        entries = [("default", default)] + [(f"steps.{k}", v) for k, v in data.get("steps", {}).items()]
        for where, entry in entries:
            if "escalate_to" in entry and entry["escalate_to"] not in targets:
                raise ValidationError(f"escalate_to '{entry['escalate_to']}' is not listed under "
                                      f"escalation_targets", f"{where}.escalate_to")


# ---- loaded configuration ------------------------------------------------------------------
@dataclass(frozen=True)
class Sla:
    working_days: int
    escalate_to: str
    escalate_label: Mapping[str, str]      # zh / en, for the finding's message
    escalate_after_working_days: int       # working days late before the escalation goes out


@dataclass(frozen=True)
class ApprovalStep:
    step: str                              # e.g. withdrawal_hr_acknowledgement
    request: str                           # resignation | withdrawal
    approver: str                          # e.g. hr
    roles: frozenset[str]                  # actor roles that act as this approver
    title: Mapping[str, str]
    approver_label: Mapping[str, str]
    sla: Sla


@dataclass(frozen=True)
class ProcessConfig:
    chains: Mapping[str, tuple[ApprovalStep, ...]]   # request kind -> its steps, in order
    references: tuple[str, ...] = ()                 # policy clauses of the SLA file (checked by the rule book)

    def step(self, name: str) -> ApprovalStep:
        """The step of that name (names are unique across the chains: checked on load)."""
        return next(s for chain in self.chains.values() for s in chain if s.step == name)

    @classmethod
    def load(cls, folder: Path) -> "ProcessConfig":
        folder = Path(folder)
        chains_doc = _load(folder / "approval_chains.yaml", ChainsFileSchema())
        sla_doc = _load(folder / "sla.yaml", SlaFileSchema())
        step_names = {s["step"] for c in chains_doc["chains"].values() for s in c["steps"]}
        for name in sla_doc["steps"]:
            if name not in step_names:
                # An SLA for a step no chain has would silently never apply.
                raise ProcessConfigError(folder / "sla.yaml",
                                         f"steps.{name}: no approval chain has a step of that name "
                                         f"(known: {', '.join(sorted(step_names))})")
        targets = sla_doc["escalation_targets"]
        default = sla_doc["default"]
        chains = {}
        for kind, chain in chains_doc["chains"].items():
            steps = []
            for raw in chain["steps"]:
                entry = {**default, **sla_doc["steps"].get(raw["step"], {})}
                approver = chains_doc["approvers"][raw["approver"]]
                steps.append(ApprovalStep(
                    step=raw["step"], request=kind, approver=raw["approver"],
                    roles=frozenset(approver["roles"]),
                    title=MappingProxyType(dict(raw["title"])),
                    approver_label=MappingProxyType({"zh": approver["zh"], "en": approver["en"]}),
                    sla=Sla(working_days=entry["working_days"], escalate_to=entry["escalate_to"],
                            escalate_label=MappingProxyType(dict(targets[entry["escalate_to"]])),
                            escalate_after_working_days=entry["escalate_after_working_days"])))
            chains[kind] = tuple(steps)
        return cls(chains=MappingProxyType(chains), references=tuple(sla_doc["references"]))


def _load(path: Path, schema: Schema) -> dict:
    return load_checked(path, schema, lambda reason: ProcessConfigError(path, reason))
