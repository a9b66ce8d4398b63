"""``model.factory``: the documented "module:callable" that builds the replicas' enhancer."""

from __future__ import annotations

import pandas as pd

from jobs.cli import main
from jobs.config import load_config
from jobs.pipeline import run_job

from . import factories
from .conftest import ROOT, corpus, model_overrides

LOCAL = str(ROOT / "configs" / "local.yaml")


def _inputs(folder, n_short=3):
    files, _ = corpus(long_seconds=None, n_short=n_short)
    names = []
    for rel, data in files.items():
        if rel.startswith("spk"):
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            names.append(rel)
    (folder / "manifest.csv").write_text("audio_uri\n" + "\n".join(names) + "\n")
    return names


def test_a_factory_returning_a_wrapper_is_what_the_replicas_use(tmp_path, ray_local, tiny_checkpoint):
    inp, plain_out, wrapped_out = tmp_path / "in", tmp_path / "plain", tmp_path / "wrapped"
    names = _inputs(inp)
    base = [f"input.uri={inp}/manifest.csv", *model_overrides(tiny_checkpoint)]
    plain = run_job(load_config(LOCAL, base + [f"output.uri={plain_out}"]), echo=lambda *_: None)
    wrapped = run_job(load_config(LOCAL, base + [f"output.uri={wrapped_out}",
                                                 f"model.factory={factories.__name__}:wrapped_frcrn"]),
                      echo=lambda *_: None)
    assert plain.exit_code == wrapped.exit_code == 0
    df = pd.read_parquet(wrapped_out / "_manifest" / "results.parquet")
    assert len(df) == len(names) and (df["status"] == "ok").all()
    # Every row was made by the wrapper the factory returned ...
    assert set(df["model_id"]) == {factories.WRAPPED_PREFIX + "frcrn-tiny-random-test"}
    ref = pd.read_parquet(plain_out / "_manifest" / "results.parquet")
    assert set(ref["model_id"]) == {"frcrn-tiny-random-test"}
    # ... around the real enhancer with the job's model.enhance settings: identical audio.
    for rel in names:
        stem = rel.rsplit(".", 1)[0]
        assert (wrapped_out / f"{stem}.wav").read_bytes() == (plain_out / f"{stem}.wav").read_bytes(), rel


def test_a_bad_factory_is_refused_on_the_driver_with_exit_2(tmp_path, capsys):
    inp = tmp_path / "in"
    _inputs(inp, n_short=1)
    for factory, needle in ((f"{factories.__name__}:no_such_callable", "cannot import it"),
                            ("no_such_module_anywhere:make", "cannot import it"),
                            (f"{factories.__name__}:not_callable", "must name a callable")):
        code = main(["run", LOCAL, f"input.uri={inp}/manifest.csv", f"output.uri={tmp_path / 'out'}",
                     f"model.factory={factory}"])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert err.count("\n") == 0 and "model.factory" in err and needle in err, err
    assert not (tmp_path / "out").exists()  # refused before anything was written
