"""The files a published extension meets its users and maintainers with.

GitHub's workflows, Read the Docs' and pre-commit's configuration, the
security policy and the contributing guide: each is there, parses, and says
what the project does elsewhere (./run.sh, setup.py, scripts/docs.sh).
``./run.sh lint`` lints the same files with their own tools (scripts/lint-ci.sh).
"""

from __future__ import annotations

import re
import runpy
import typing as t
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
#: The repository, as setup.py names it.
SOURCE = "https://github.com/flask-wechat-web/flask-wechat-web"
#: An action pinned by its commit: owner/name@ and 40 hex digits.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, t.Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def workflow(name: str) -> dict[str, t.Any]:
    data = load(WORKFLOWS / name)
    # YAML 1.1 reads a bare `on:` key as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(job: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return list(job.get("steps", []))


def supported_pythons() -> set[str]:
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    return set(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', setup))


@pytest.mark.parametrize("name", ["tests.yaml", "publish.yaml"])
def test_every_action_is_pinned_and_reads_only(name: str) -> None:
    flow = workflow(name)
    assert flow["permissions"] == {"contents": "read"}
    uses = [step for job in flow["jobs"].values() for step in steps(job) if "uses" in step]
    assert uses
    for step in uses:
        assert PINNED.match(step["uses"]), step["uses"]
        if step["uses"].startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_the_tests_run_on_every_supported_python_and_the_lowest_versions() -> None:
    jobs = workflow("tests.yaml")["jobs"]
    runs = {name: [step.get("run", "") for step in steps(job)] for name, job in jobs.items()}
    assert ".ci/run" in runs["ci"]
    assert "./run.sh lowest" in runs["lowest"]
    assert ".venv/bin/python -m pytest" in runs["suite"]
    pythons = set(jobs["suite"]["strategy"]["matrix"]["python"])
    pythons |= set(re.findall(r"Python (3\.\d+)", jobs["ci"]["name"]))
    assert pythons == supported_pythons()
    assert not any("id-token" in job.get("permissions", {}) for job in jobs.values())


def test_a_tag_publishes_with_trusted_publishing_from_one_job() -> None:
    flow = workflow("publish.yaml")
    assert flow["on"] == {"push": {"tags": ["v*"]}}
    build, publish = flow["jobs"]["build"], flow["jobs"]["publish"]
    assert "python -m build" in [step.get("run") for step in steps(build)]
    assert "permissions" not in build
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert publish["needs"] == ["build"]
    assert steps(publish)[-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    # No password or token: PyPI trusts the workflow itself.
    assert "secrets." not in (WORKFLOWS / "publish.yaml").read_text(encoding="utf-8")


def test_read_the_docs_builds_as_scripts_docs_does() -> None:
    config = load(ROOT / ".readthedocs.yaml")
    assert config["version"] == 2
    assert (ROOT / config["sphinx"]["configuration"]) == ROOT / "docs" / "conf.py"
    assert config["sphinx"]["fail_on_warning"] is True
    (install,) = config["python"]["install"]
    assert install == {"method": "pip", "path": ".", "extra_requirements": ["docs"]}
    assert '"docs": [' in (ROOT / "setup.py").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("language", "rtd_version", "catalogs", "other_root"),
    [
        ("zh-cn", "latest", "zh_CN", "../../en/latest/"),  # Read the Docs' translation
        ("en", "stable", "en", "../../zh-cn/stable/"),  # Read the Docs' English project
        ("zh_CN", None, "zh_CN", "../"),  # scripts/docs.sh: -D language=zh_CN
        ("en", None, "en", "zh_CN/"),
    ],
)
def test_the_docs_find_their_catalogs_and_the_other_language(
    monkeypatch: pytest.MonkeyPatch,
    language: str,
    rtd_version: str | None,
    catalogs: str,
    other_root: str,
) -> None:
    pytest.importorskip("sphinx", reason="the docs extra")
    if rtd_version is None:
        monkeypatch.delenv("READTHEDOCS_VERSION", raising=False)
    else:
        monkeypatch.setenv("READTHEDOCS_VERSION", rtd_version)
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    config = SimpleNamespace(language=language, html_context={})
    conf["_normalize_language"](None, config)
    assert config.language == catalogs
    assert config.html_context == {"other_language_root": other_root}
    if catalogs != "en":
        assert (ROOT / "docs" / conf["locale_dirs"][0] / catalogs / "LC_MESSAGES").is_dir()


def lint_commands() -> set[str]:
    """The commands of run.sh's lint(), as run from the project's root with .venv."""
    run_sh = (ROOT / "run.sh").read_text(encoding="utf-8")
    body = re.search(r"^lint\(\) \{\n(.*?)^\}", run_sh, re.M | re.S)
    assert body
    commands = set()
    for line in body[1].splitlines():
        command = line.split("  #")[0].strip()
        command = re.sub(r'"\$BIN/([\w-]+)"', r".venv/bin/\1", command)
        commands.add(command.removeprefix("BIN=$BIN "))
    return commands


def test_pre_commit_runs_what_run_sh_lint_runs() -> None:
    (repo,) = load(ROOT / ".pre-commit-config.yaml")["repos"]
    assert repo["repo"] == "local"
    assert {hook["language"] for hook in repo["hooks"]} == {"system"}
    assert {hook["entry"] for hook in repo["hooks"]} == lint_commands()
    assert "sh scripts/lint-ci.sh" in lint_commands()


def test_the_guides_are_linked_and_their_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for guide in ("CONTRIBUTING.md", "SECURITY.md"):
        assert f"{SOURCE}/blob/main/{guide})" in readme  # absolute: PyPI shows the README too
        text = (ROOT / guide).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if not re.match(r"(https?|mailto):", target):
                assert (ROOT / target).exists(), f"{guide} links {target}"
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for command in ("example", "test", "lint", "docs", "matrix", "lowest", "bench"):
        assert f"./run.sh {command}" in contributing
