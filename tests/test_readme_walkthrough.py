"""The README's first check and "The reversal crisis, step by step" run exactly as written.

Each `sh` block is one `curl -i` command; the `json` block after it is the answer as served,
pretty-printed. The test replays the first check, then the walkthrough's commands, in order on a
fresh database and compares: the status (the "Answer: `201 Created`" line before the block) and
every field shown. `"…"` in the README stands for a value that differs per run or was cut for
length; a `"…": "…"` key says an object's other keys were left out, and a list ending in `"…"`
that more items follow. The first check's `checked[]` ends with `"… N more"`: the entries left out,
counted. tests/test_readme_make_run.py runs the same commands through bash and curl against the
Procfile's services.

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
FIRST_CHECK = "## A check"
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


def first_check(text: str | None = None) -> Step:
    """The README's first check: the first command after its heading and the answer shown."""
    text = README.read_text(encoding="utf-8") if text is None else text
    start, end = text.index(FIRST_CHECK), text.index(SECTION)
    command = next(b for b in _BLOCK.finditer(text, start, end) if b.group(1) == "sh")
    shown = next(b for b in _BLOCK.finditer(text, command.end(), end) if b.group(1) == "json")
    status = _STATUS.findall(text[command.end():shown.start()])
    assert status, "no 'Answer: `<status>`' before the first check's answer"
    method, path, headers, body = parse_command(command.group(2))
    return Step(command.group(2), method, path, headers, body, int(status[-1]), json.loads(shown.group(2)),
                shown.span(2))


_MORE = re.compile(r"… (\d+) more")


def first_check_as_shown(live: dict, shown: dict) -> dict:
    """The first check's served answer as the README shows it: cut where the shown one is cut,
    per-run values as "…", `checked` cut to the entries shown (by rule id) and a last "… N more"."""
    out = json.loads(json.dumps(live))
    kept = [c["rule_id"] for c in shown["checked"] if isinstance(c, dict)]
    out["checked"] = [c for c in live["checked"] if c["rule_id"] in kept]
    out["checked"].append(f"{CUT} {len(live['checked']) - len(out['checked'])} more")
    out = render(out, shown)
    out["ruleset_version"] = "sha256:" + CUT
    out["receipt"] = {key: CUT for key in live["receipt"]}
    return out


def problems(step: Step, status: int, live, first: bool = False) -> list[str]:
    """How a served answer differs from the README's: its status, then every field shown."""
    found = [f"status {status}, README says {step.status}"] if status != step.status else []
    return found + mismatches(first_check_as_shown(live, step.shown) if first else live, step.shown)


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
            if key not in template and CUT in template:
                continue
            if key in VARYING and value is not None:
                out[key] = CUT
            else:
                out[key] = render(value, template.get(key))
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
    """Every command against the app on a fresh SQLite database, as `make run` configures it
    (pass the first check first to replay the README in order)."""
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


def read_curl_i(output: str) -> tuple[int, object]:
    """The status and JSON body of what `curl -i` printed (after any 100 Continue)."""
    while True:
        head, _, rest = output.partition("\r\n\r\n")
        status = int(head.split(None, 2)[1])
        if status >= 200:
            return status, json.loads(rest)
        output = rest


def replay_with_curl(found: list[Step], base_url: str, timeout: float = 60) -> list[tuple[int, object]]:
    """Every command as written, run by bash and curl against a running service at base_url."""
    answers = []
    for step in found:
        command = step.command.replace(BASE_URL, base_url.rstrip("/"), 1)
        output = subprocess.run(["bash", "-c", command], capture_output=True, check=True, timeout=timeout).stdout
        answers.append(read_curl_i(output.decode("utf-8")))  # bytes: the header lines end in CRLF
    return answers


def test_the_readme_walkthrough_runs_as_written():
    found = steps()
    assert [(s.method, s.path.split("?")[0]) for s in found][:5] == [("POST", "/v1/cases/SEP-2026-001/events")] * 5
    assert len(found) >= 8
    # Every command shows the status it gets (curl -i prints the status line).
    assert all(s.command.startswith("curl -i ") for s in [first_check(), *found])
    # After the README's first check, as a reader runs them: the walkthrough holds what came before.
    first, *answers = replay_in_process([first_check(), *found])
    assert first[0] == 200
    for step, (status, live) in zip(found, answers):
        assert status == step.status, (step.command.splitlines()[0], live)
        assert not mismatches(live, step.shown), (step.command.splitlines()[0], mismatches(live, step.shown))


def test_curl_i_output_is_read_past_a_100_continue():
    output = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 409 CONFLICT\r\nContent-Type: application/json\r\n\r\n{"a": 1}'
    assert read_curl_i(output) == (409, {"a": 1})


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
    found = [first_check(), *steps()]  # the first check, then the walkthrough, as a reader runs them
    if "--base-url" in argv:
        answers = replay_with_curl(found, argv[argv.index("--base-url") + 1])
    else:
        answers = replay_in_process(found)
    text = README.read_text(encoding="utf-8")
    failed = False

    def shown_as(i, live):
        return first_check_as_shown(live, found[0].shown) if i == 0 else render(live, found[i].shown)

    for i, (step, (status, live)) in enumerate(zip(found, answers)):
        if "--check" in argv:
            wrong = problems(step, status, live, first=i == 0)
            print(f"{'FAIL' if wrong else 'ok  '} {status} {step.method} {step.path}", *wrong, sep="\n  ")
            failed |= bool(wrong)
        elif "--print" in argv:
            print(f"# {step.method} {step.path}\nAnswer: `{status}`\n{dumps(shown_as(i, live))}\n")
    for i, (step, (status, live)) in reversed(list(enumerate(zip(found, answers)))):  # from the end: spans stay valid
        text = text[:step.span[0]] + dumps(shown_as(i, live)) + "\n" + text[step.span[1]:]
    if "--write" in argv:
        README.write_text(text, encoding="utf-8")
        print(f"rewrote {len(found)} answer(s) in {README}; check each status line ('Answer: `...`') by hand")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
