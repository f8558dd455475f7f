"""Which request fields are sensitive personal information (PIPL Art. 28), read off the vocabulary:
what the trail may keep (service/record/privacy.py) and what GET /v1/requirements says."""
from __future__ import annotations


def sensitive_field(name: str, vocabulary) -> bool:
    """A fact is as the vocabulary says. Another request field is sensitive if a sensitive fact is
    computed from it (employee.children: the nursing period) or lives in its object
    (employee.miscarriage.status, beside the miscarriage's date)."""
    if name in vocabulary:
        return vocabulary[name].sensitive
    parent = name.rsplit(".", 1)[0] + "."
    return any(fact.startswith(parent) or any(i == name or i.startswith(name + ".") or name.startswith(i + ".")
                                              for i in vocabulary[fact].inputs)
               for fact in vocabulary.sensitive)
