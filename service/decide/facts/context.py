"""What fact derivation reads besides the request: legal parameters, the working calendar,
process configuration. Loaded once with the rule book, so a check never touches the disk."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.decide.classification import Classification
from service.decide.parameters import ParameterSet
from service.decide.process_config import ProcessConfig
from service.decide.records import RecordAreas
from service.decide.vocabulary import Vocabulary
from service.decide.workdays import WorkingCalendar


@dataclass(frozen=True)
class FactContext:
    parameters: ParameterSet
    calendar: WorkingCalendar
    process: ProcessConfig          # approval chains and SLAs (rules/process/config/)
    classification: Classification  # separation basis, case states, written form (rules/classification/)
    records: RecordAreas = RecordAreas({})  # what an absent field means in a record declared complete
    # The fact vocabulary (rules/facts/): its `source: request` facts are copied from the request.
    vocabulary: Vocabulary | None = None

    @classmethod
    def load(cls, rules_root: Path, vocabulary: Vocabulary | None = None) -> "FactContext":
        return cls(vocabulary=vocabulary or Vocabulary.load(rules_root / "facts"),
                   parameters=ParameterSet.load(rules_root / "labor_law" / "parameters"),
                   calendar=WorkingCalendar.load(rules_root / "calendar" / "working_days.yaml"),
                   process=ProcessConfig.load(rules_root / "process" / "config"),
                   classification=Classification.load(rules_root / "classification"),
                   records=RecordAreas.load(rules_root))
