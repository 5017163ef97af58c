"""training_params*.yaml: read with yaml.safe_load, rewritten line by line so quoting and booleans stay as they were."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drmodel.errors import InvalidModelError

LINE_RE = re.compile(r"^(?P<key>[A-Z0-9_]+)(?P<sep>\s*:\s*)(?P<value>.*?)(?P<end>\s*(#.*)?)$")
# The console's form: every line `KEY: "value"` (or 'value'), no escapes. YAML reads such a line as exactly this
# string, so these files are read without importing PyYAML (a tenth of `drmodel ls`'s start-up).
QUOTED_RE = re.compile(r"""^(?!(?:YES|NO|ON|OFF|TRUE|FALSE|NULL):)([A-Z_][A-Z0-9_]*): (?:"([^"\\]*)"|'([^']*)')[ \t]*$""")


def load(data: bytes, where: str) -> dict[str, Any]:
    try:
        lines = [line for line in data.decode("utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError:
        lines = []
    simple = [QUOTED_RE.match(line) for line in lines]
    if lines and all(simple):
        return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in simple if m}
    import yaml

    try:
        doc = yaml.safe_load(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidModelError(f"{where} is not valid YAML ({str(exc).splitlines()[0]})",
                                fix="fix or remove that file, then run the command again") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InvalidModelError(f"{where} is not a YAML mapping", fix="fix or remove that file")
    return doc


# an unquoted value YAML reads back as this very string: no number, bool, null, indicator or sequence dash
PLAIN_RE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*\Z")
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _plain(value: str) -> bool:
    return bool(PLAIN_RE.match(value)) and value.lower() not in YAML_WORDS


def rewrite(data: bytes, values: Mapping[str, str]) -> bytes:
    """Set top-level KEY: value lines that exist; quoting style of each line is kept, except that a value YAML
    would not read back as itself unquoted ("-", "123", "true") gets double quotes."""
    out = []
    for line in data.decode("utf-8-sig").splitlines(keepends=True):
        body = line.rstrip("\r\n")
        m = LINE_RE.match(body)
        if m and m.group("key") in values:
            old = m.group("value")
            quote = old[0] if old[:1] in ("'", '"') else ('"' if not old or not _plain(values[m.group("key")]) else "")
            new = f"{quote}{values[m.group('key')]}{quote}"
            line = f"{m.group('key')}{m.group('sep')}{new}{m.group('end')}" + line[len(body):]
        out.append(line)
    return "".join(out).encode()


def changed_keys(before: bytes, after: bytes) -> list[str]:
    a = {m.group("key"): m.group("value") for m in map(LINE_RE.match, before.decode("utf-8-sig").splitlines()) if m}
    b = {m.group("key"): m.group("value") for m in map(LINE_RE.match, after.decode("utf-8-sig").splitlines()) if m}
    return sorted(k for k in b if a.get(k) != b[k])
