"""Runs shellcheck over the shell inside CI files: `run:` steps of GitHub workflows and of
action.yml (bash, as Actions runs them: `bash -e -o pipefail`), and each GitLab job's
`before_script` + `script` + `after_script` (one bash session with `-e`, as the runner runs
them). `${{ … }}` expressions become a placeholder word. Exit 1 on any finding.

Usage: python shell.py FILE...
"""

import re
import subprocess
import sys
import tempfile

from ruamel.yaml import YAML

EXPR = re.compile(r"\$\{\{.*?\}\}")
GITLAB_RESERVED = {
    "default", "include", "stages", "variables", "workflow", "image", "services", "cache",
    "before_script", "after_script", "spec",
}


def lines(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def scripts(path, doc):
    """(label, script) pairs of one file."""
    out = []
    if "jobs" in doc:  # a GitHub workflow
        for job, body in doc["jobs"].items():
            for i, step in enumerate(body.get("steps") or []):
                if "run" in step:
                    out.append((f"{path}: job {job}, step {i + 1}", step["run"]))
    elif "runs" in doc:  # action.yml
        for i, step in enumerate(doc["runs"].get("steps") or []):
            if "run" in step:
                out.append((f"{path}: step {i + 1}", step["run"]))
    else:  # .gitlab-ci.yml
        default = doc.get("default") or {}
        for job, body in doc.items():
            if job in GITLAB_RESERVED or job.startswith(".") or not isinstance(body, dict):
                continue
            parts = []
            for key in ("before_script", "script", "after_script"):
                parts += lines(body[key] if key in body else default.get(key))
            out.append((f"{path}: job {job}", "\n".join(parts)))
    return out


def main(files):
    failed = 0
    checked = 0
    for path in files:
        with open(path) as f:
            doc = YAML(typ="safe").load(f)
        for label, script in scripts(path, doc):
            checked += 1
            text = "#!/usr/bin/env bash\nset -eo pipefail\n" + EXPR.sub("GHA_EXPR", script) + "\n"
            with tempfile.NamedTemporaryFile("w", suffix=".sh") as tmp:
                tmp.write(text)
                tmp.flush()
                result = subprocess.run(
                    ["shellcheck", "--shell=bash", "--format=gcc", tmp.name],
                    capture_output=True, text=True,
                )
            if result.returncode != 0:
                failed += 1
                print(f"{label}:")
                print(result.stdout.replace(tmp.name, "  script"), end="")
    print(f"shellcheck: {checked} scripts, {failed} with findings")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
