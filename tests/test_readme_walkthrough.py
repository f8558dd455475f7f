"""The README's "The reversal crisis, step by step" runs exactly as written.

Each `sh` block of that section is one curl command; the `json` block after it is the answer as
served, pretty-printed. The test replays the commands in order on a fresh database and compares:
the status (the "Answer: `201 Created`" line before the block) and every field shown. `"…"` in
the README stands for a value that differs per run or was cut for length; a `"…": "…"` key says
an object's other keys were left out, and a list ending in `"…"` that more items follow.

To re-paste the answers after the service changes (the cut and masked places are kept):

    python -m tests.test_readme_walkthrough --print    # show the live answers
    python -m tests.test_readme_walkthrough --write    # rewrite them into README.md

and, against a running `make run PORT=5055`, the commands themselves through bash and curl:

    python -m tests.test_readme_walkthrough --check --base-url http://127.0.0.1:5055
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## The reversal crisis, step by step"
BASE_URL = "http://127.0.0.1:5000"
DEV_KEY = "sg_dev-local-only"
CUT = "…"
# Values that differ on every run (or with every rule edit): always shown as "…".
VARYING = {"decision_id", "entry_id", "recorded_at", "hash", "prev_hash", "request_digest", "ruleset_version",
           "receipt"}
WIDTH = 100

_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
_STATUS = re.compile(r"Answer: `(\d{3})[^`]*`")


@dataclass
class Step:
    command: str          # the sh block, as written
    method: str
    path: str             # path and query
    headers: dict
    body: object          # the heredoc's JSON, or None
    status: int           # as the README states it
    shown: object         # the JSON block, as written
    span: tuple[int, int]  # where the JSON block's text is in README.md


def section_bounds(text: str) -> tuple[int, int]:
    start = text.index(SECTION)
    following = text.find("\n## ", start + len(SECTION))
    return start, len(text) if following < 0 else following + 1


def parse_command(command: str) -> tuple[str, str, dict, object]:
    lines = command.splitlines()
    body = None
    head = command
    heredoc = re.search(r"<<'(\w+)'", command)
    if heredoc:
        first = next(i for i, line in enumerate(lines) if heredoc.group(0) in line)
        end = lines.index(heredoc.group(1), first + 1)
        body = json.loads("\n".join(lines[first + 1:end]))
        head = "\n".join(lines[:first + 1]).replace(heredoc.group(0), "")
    words = shlex.split(head.replace("\\\n", " "))
    assert words[0] == "curl", command
    method, url, headers, data = None, None, {}, False
    i = 1
    while i < len(words):
        word = words[i]
        if word in ("-H", "--header"):
            name, _, value = words[i + 1].partition(":")
            headers[name.strip()] = value.strip()
            i += 2
        elif word in ("-X", "--request"):
            method = words[i + 1]
            i += 2
        elif word in ("-d", "--data", "--data-binary"):
            data = True
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            url = word
            i += 1
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, url
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return method or ("POST" if data else "GET"), path, headers, body


def steps(text: str | None = None) -> list[Step]:
    text = README.read_text(encoding="utf-8") if text is None else text
    start, end = section_bounds(text)
    found, command = [], None
    for block in _BLOCK.finditer(text, start, end):
        language, content = block.group(1), block.group(2)
        if language == "sh":
            command = content
        elif language == "json" and command is not None:
            before = text[start:block.start()]
            status = _STATUS.findall(before)
            assert status, f"no 'Answer: `<status>`' before the answer to {command.splitlines()[0]}"
            method, path, headers, body = parse_command(command)
            found.append(Step(command, method, path, headers, body, int(status[-1]),
                              json.loads(content) if content.strip() else None, block.span(2)))
            command = None
    return found


def mismatches(live, shown, where="$") -> list[str]:
    """How the served answer differs from the one shown (empty when it matches)."""
    if shown == CUT:
        return []
    if isinstance(shown, dict):
        if not isinstance(live, dict):
            return [f"{where}: served {live!r}, shown an object"]
        problems = [f"{where}.{key}: shown but not served" for key in shown if key != CUT and key not in live]
        if CUT not in shown:
            problems += [f"{where}.{key}: served but not shown" for key in live if key not in shown]
        for key in shown:
            if key != CUT and key in live:
                problems += mismatches(live[key], shown[key], f"{where}.{key}")
        return problems
    if isinstance(shown, list):
        if not isinstance(live, list):
            return [f"{where}: served {live!r}, shown a list"]
        more = bool(shown) and shown[-1] == CUT
        items = shown[:-1] if more else shown
        if len(live) < len(items) or (not more and len(live) != len(items)):
            return [f"{where}: served {len(live)} item(s), shown {len(items)}{' or more' if more else ''}"]
        return [problem for i, item in enumerate(items) for problem in mismatches(live[i], item, f"{where}[{i}]")]
    return [] if live == shown else [f"{where}: served {live!r}, shown {shown!r}"]


def render(live, shown=None):
    """The served answer cut where the shown one is cut, varying values masked."""
    if shown == CUT:
        return CUT
    if isinstance(live, dict):
        template = shown if isinstance(shown, dict) else {}
        out = {}
        for key, value in live.items():
            if key in VARYING and value is not None:
                out[key] = CUT
            elif key in template:
                out[key] = render(value, template[key])
            elif CUT not in template:
                out[key] = render(value)
        if CUT in template:
            out[CUT] = CUT
        return out
    if isinstance(live, list):
        template = shown if isinstance(shown, list) else []
        more = bool(template) and template[-1] == CUT
        items = template[:-1] if more else template
        kept = live[:len(items)] if more else live
        out = [render(value, items[i] if i < len(items) else None) for i, value in enumerate(kept)]
        return out + [CUT] if more else out
    return live


def dumps(value, indent: int = 0, lead: int = 0) -> str:
    """JSON with a value on one line where it fits in WIDTH (lead: what precedes it on its line),
    else indented by 2."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if indent + lead + len(flat) <= WIDTH or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        keys = [json.dumps(key, ensure_ascii=False) + ": " for key in value]
        inner = [pad + key + dumps(v, indent + 2, len(key)) for key, v in zip(keys, value.values())]
        return "{\n" + ",\n".join(inner) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(pad + dumps(v, indent + 2) for v in value) + "\n" + " " * indent + "]"


def replay_in_process(found: list[Step]) -> list[tuple[int, object]]:
    """Every command against the app on a fresh SQLite database, as `make run` configures it."""
    from service import create_app

    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{folder}/walkthrough.sqlite",
                          "DEV_KEY": DEV_KEY})
        try:
            client = app.test_client()
            answers = []
            for step in found:
                response = client.open(step.path, method=step.method, headers=step.headers,
                                       data=None if step.body is None else json.dumps(step.body))
                answers.append((response.status_code, response.get_json()))
            return answers
        finally:
            app.extensions["db_engine"].dispose()


def replay_with_curl(found: list[Step], base_url: str) -> list[tuple[int, object]]:
    """Every command as written, run by bash and curl against a running service at base_url."""
    answers = []
    for step in found:
        command = step.command.replace(BASE_URL, base_url.rstrip("/"), 1)
        command = command.replace("curl ", "curl -w '\\n%{http_code}' ", 1)
        output = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
        body, _, status = output.rpartition("\n")
        answers.append((int(status), json.loads(body)))
    return answers


def test_the_readme_walkthrough_runs_as_written():
    found = steps()
    assert [(s.method, s.path.split("?")[0]) for s in found][:5] == [("POST", "/v1/cases/SEP-2026-001/events")] * 5
    assert len(found) >= 8
    for step, (status, live) in zip(found, replay_in_process(found)):
        assert status == step.status, (step.command.splitlines()[0], live)
        assert not mismatches(live, step.shown), (step.command.splitlines()[0], mismatches(live, step.shown))


def test_the_comparison_can_fail():
    shown = {"verdict": "allow", "findings": ["…"], "event": {"seq": 1, "…": "…"}, "decision_id": "…"}
    served = {"verdict": "allow", "findings": [{"rule_id": "x"}], "event": {"seq": 1, "at": "t"}, "decision_id": "d"}
    assert mismatches(served, shown) == []
    assert mismatches({**served, "verdict": "deny"}, shown) == ["$.verdict: served 'deny', shown 'allow'"]
    assert mismatches({**served, "receipt": "r"}, shown) == ["$.receipt: served but not shown"]
    assert mismatches({**served, "event": {"at": "t"}}, shown) == ["$.event.seq: shown but not served"]
    assert mismatches({**served, "findings": []}, {**shown, "findings": [{"rule_id": "x"}, "…"]}) \
        == ["$.findings: served 0 item(s), shown 1 or more"]
    assert render({**served, "receipt": "r"}, shown) == {**shown, "receipt": "…"}


def main(argv: list[str]) -> int:
    found = steps()
    if "--base-url" in argv:
        answers = replay_with_curl(found, argv[argv.index("--base-url") + 1])
    else:
        answers = replay_in_process(found)
    text = README.read_text(encoding="utf-8")
    failed = False
    for step, (status, live) in zip(found, answers):
        if "--check" in argv:
            problems = ([f"status {status}, README says {step.status}"] if status != step.status else []) \
                + mismatches(live, step.shown)
            print(f"{'FAIL' if problems else 'ok  '} {status} {step.method} {step.path}", *problems, sep="\n  ")
            failed |= bool(problems)
        elif "--print" in argv:
            print(f"# {step.method} {step.path}\nAnswer: `{status}`\n{dumps(render(live, step.shown))}\n")
    for step, (status, live) in reversed(list(zip(found, answers))):  # from the end: spans stay valid
        text = text[:step.span[0]] + dumps(render(live, step.shown)) + "\n" + text[step.span[1]:]
    if "--write" in argv:
        README.write_text(text, encoding="utf-8")
        print(f"rewrote {len(found)} answer(s) in {README}; check each status line ('Answer: `...`') by hand")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
