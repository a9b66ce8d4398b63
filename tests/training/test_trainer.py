"""The trainer: one plain process (resumable) and Ray Train with 2 CPU workers, on real speech.

A tiny network (width 8), 0.5 s crops, batches of 2 and 2 validation items keep each run to
seconds; the speech is a handful of files of the project's corpus (shared/data beside the repo).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest
import torch

from frcrn.cli import main as cli_main
from frcrn.config import ConfigError, load_typed
from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN
from frcrn.training.config import DataConfig, DistributedConfig, LossConfig, OptimConfig, TrainConfig
from frcrn.training.losses import cirm_target, compressed_spectral_distance, frcrn_loss, si_snr
from frcrn.training.trainer import Trainer, Worker

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "data" / "dns_no_reverb_frcrn_enhanced"
DNSMOS = ROOT.parent / "shared" / "dnsmos" / "sig_bak_ovr.onnx"
TINY = ModelConfig(width=8, fsmn_hidden=8)
LAST_KEYS = {"model", "optimizer", "scheduler", "step", "seconds", "best", "epoch", "batch_in_epoch",
             "best_metrics", "best_dnsmos", "lineage"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a small, busy machine two threads per process only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> str:
    """A glob over 6 corpus files (5 train, 1 validation)."""
    files = sorted(CORPUS.glob("*.wav"))[:6]
    if len(files) < 6:
        pytest.fail(f"speech corpus not found at {CORPUS} (shared/data beside the project root)", pytrace=False)
    folder = tmp_path_factory.mktemp("speech")
    for f in files:
        (folder / f.name).symlink_to(f)
    return str(folder / "*.wav")


def tiny_config(speech: str, out_dir: Path, **changes) -> TrainConfig:
    config = TrainConfig(model=TINY, data=DataConfig(speech=speech, speech_licence="CC BY 4.0",
                                                                  crop_seconds=0.5, validation_items=2),
                         optim=OptimConfig(batch_size=2), out_dir=str(out_dir), steps=2, eval_every=2,
                         log_every=1, device="cpu", num_threads=1)
    return dataclasses.replace(config, **changes)


def tiny_yaml(speech: str, out_dir: Path, path: Path) -> str:
    path.write_text(f"""\
model: {{width: 8, fsmn_hidden: 8}}
data: {{speech: "{speech}", speech_licence: CC BY 4.0, crop_seconds: 0.5, validation_items: 2}}
optim: {{batch_size: 2}}
out_dir: {out_dir}
eval_every: 2
log_every: 1
num_threads: 1
""")
    return str(path)


def read_log(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def read_last(out_dir: Path) -> dict:
    return torch.load(out_dir / "last.pt", map_location="cpu", weights_only=True)


def check_best(out_dir: Path, steps: int, workers: int = 1) -> dict:
    best = out_dir / "best.safetensors"
    assert best.is_file() and best.stat().st_size > 0
    header = json.loads((out_dir / "best.json").read_text())
    prov = header["provenance"]
    assert header["config"]["width"] == 8
    assert prov["training"]["steps"] == steps and prov["training"]["seconds"] > 0
    assert prov["training"]["workers"] == workers
    assert set(prov["metrics"]["validation"]) == {"si_snr_noisy", "si_snr_enhanced", "si_snr_improvement"}
    assert all(math.isfinite(v) for v in prov["metrics"]["validation"].values())
    assert "CC BY 4.0" in prov["data"]["speech"]["licence"] and prov["data"]["speech"]["source"]
    assert prov["data"]["speech"]["train_files"] == 5 and len(prov["data"]["speech"]["validation_files"]) == 1
    assert "frcrn.training.noise" in prov["data"]["noise"]["generator"]
    from frcrn.model.checkpoint import load_checkpoint

    model, info = load_checkpoint(best)
    assert model.config == TINY and info.provenance["training"]["steps"] == steps
    return header


# --------------------------------------------------------------------------- loss


def test_cirm_target_of_clean_noisy_is_one():
    model = FRCRN(TINY)
    x = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    mask = cirm_target(model, x, x)
    bins = TINY.freq_bins
    assert mask.shape[1] == 2 * bins
    # |Y|^2 / (|Y|^2 + 1e-8): 1 up to the power floor in the quietest bins
    assert torch.allclose(mask[:, :bins], torch.ones_like(mask[:, :bins]), atol=1e-3)
    assert (mask[:, :bins] - 1).abs().median() < 1e-6
    assert torch.allclose(mask[:, bins:], torch.zeros_like(mask[:, bins:]), atol=1e-6)


def test_si_snr():
    g = torch.Generator().manual_seed(1)
    x = 0.1 * torch.randn(2, 8000, generator=g)
    noisy = x + 0.1 * torch.randn(2, 8000, generator=g)
    assert si_snr(x, x) > 60
    assert si_snr(3.0 * x, x) > 60  # scale-invariant
    assert abs(float(si_snr(noisy, x))) < 3  # about 0 dB at equal power


def test_loss_is_the_published_clamped_cirm_mse_minus_si_snr_on_a_tiny_case():
    """frcrn_loss against its definition written out in numpy: the target mask S/Y as complex
    division, each of its real and imaginary parts set to 1 above 2 and to -1 below -2, the MSE of
    each part times the 2F spectral rows, minus the SI-SNR of the waveform in dB."""
    import numpy as np

    from frcrn.model.network import FRCRNOutput

    model = FRCRN(TINY)
    g = torch.Generator().manual_seed(3)
    clean = 0.1 * torch.randn(1, 3200, generator=g)
    noisy = clean + 0.1 * torch.randn(1, 3200, generator=g)
    frames = model.stft(noisy).shape[-1]
    bins = TINY.freq_bins
    mask = 0.3 * torch.randn(1, 2 * bins, frames, generator=g)
    wav = 0.8 * clean + 0.02 * torch.randn(1, 3200, generator=g)
    loss = frcrn_loss(model, noisy, clean, FRCRNOutput(wav=wav, mask=mask, mask_l1=mask, spec=mask))

    spectrum = {name: model.stft(x)[0].double().numpy() for name, x in (("S", clean), ("Y", noisy))}
    S, Y = (spectrum[k][:bins] + 1j * spectrum[k][bins:] for k in ("S", "Y"))
    ratio = S * np.conj(Y) / (np.abs(Y) ** 2 + 1e-8)
    assert (np.abs(ratio.real) > 2).any() or (np.abs(ratio.imag) > 2).any(), "the case must exercise the clamp"

    def clamp(x):
        return np.where(x > 2, 1.0, np.where(x < -2, -1.0, x))

    m = mask[0].double().numpy()
    amp = np.mean((m[:bins] - clamp(ratio.real)) ** 2) * 2 * bins
    phase = np.mean((m[bins:] - clamp(ratio.imag)) ** 2) * 2 * bins
    est, ref = wav[0].double().numpy(), clean[0].double().numpy()
    target = est @ ref / (ref @ ref) * ref
    snr = 10 * np.log10(target @ target / ((est - target) @ (est - target)))
    assert loss.amp.item() == pytest.approx(amp, rel=1e-4)
    assert loss.phase.item() == pytest.approx(phase, rel=1e-4)
    assert loss.si_snr.item() == pytest.approx(snr, abs=1e-3)
    assert loss.total.item() == pytest.approx(amp + phase - snr, rel=1e-4)


def test_frcrn_loss_backward_gives_finite_grads():
    torch.manual_seed(0)
    model = FRCRN(TINY)
    g = torch.Generator().manual_seed(2)
    clean = 0.1 * torch.randn(2, 8000, generator=g)
    noisy = clean + 0.05 * torch.randn(2, 8000, generator=g)
    loss = frcrn_loss(model, noisy, clean, model(noisy), LossConfig(compressed_weight=100.0))
    assert all(math.isfinite(v.item()) for v in loss)
    loss.total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_compressed_spectral_distance_is_its_definition_on_a_tiny_case():
    """(1 - c) mean (|E|^p - |S|^p)^2 + c mean |E |E|^(p-1) - S |S|^(p-1)|^2 over bins and frames,
    with E and S the model's STFT of the estimate and of the clean speech."""
    import numpy as np

    model = FRCRN(TINY)
    g = torch.Generator().manual_seed(4)
    clean = 0.1 * torch.randn(1, 3200, generator=g)
    estimate = 0.9 * clean + 0.01 * torch.randn(1, 3200, generator=g)
    bins, p, c = TINY.freq_bins, 0.3, 0.3

    def spectrum(x):
        spec = model.stft(x)[0].double().numpy()
        return spec[:bins] + 1j * spec[bins:]

    E, S = spectrum(estimate), spectrum(clean)
    magnitude = np.mean((np.abs(E) ** p - np.abs(S) ** p) ** 2)
    complex_part = np.mean(np.abs(E * np.abs(E) ** (p - 1) - S * np.abs(S) ** (p - 1)) ** 2)
    expected = (1 - c) * magnitude + c * complex_part
    settings = LossConfig(compressed_power=p, complex_share=c)
    assert compressed_spectral_distance(model, estimate, clean, settings).item() == pytest.approx(expected, rel=1e-3)
    assert compressed_spectral_distance(model, clean, clean, settings).item() == pytest.approx(0.0, abs=1e-9)


def test_over_suppression_weight_makes_removed_speech_cost_more_than_leftover_noise_of_its_size():
    """The output 20 % quieter than the speech and the output 20 % louder miss by about the same
    compressed magnitude; with weight 1 the quieter one costs twice as much, and the symmetric
    distance is unchanged for the louder one."""
    model = FRCRN(TINY)
    clean = 0.1 * torch.randn(1, 3200, generator=torch.Generator().manual_seed(8))
    quieter, louder = clean * 0.8 ** (1 / 0.3), clean * 1.2 ** (1 / 0.3)  # |S|^0.3 scaled by 0.8 / 1.2

    def cost(estimate: torch.Tensor, weight: float) -> float:
        settings = LossConfig(complex_share=0.0, over_suppression_weight=weight)
        return compressed_spectral_distance(model, estimate, clean, settings).item()

    assert cost(quieter, 0.0) == pytest.approx(cost(louder, 0.0), rel=1e-3)
    assert cost(quieter, 1.0) == pytest.approx(2 * cost(quieter, 0.0), rel=1e-3)
    assert cost(louder, 1.0) == pytest.approx(cost(louder, 0.0), rel=1e-6)


def test_compressed_distance_makes_a_quiet_background_in_a_pause_count():
    """Why the term exists: background left where nobody speaks. At 40 dB under the speech it costs
    SI-SNR almost nothing, and an uncompressed spectral distance 1/100 of a background 20 dB louder;
    the power 0.3 shrinks that 20 dB gap to 6 dB, so the quiet background still costs a quarter."""
    model = FRCRN(TINY)
    g = torch.Generator().manual_seed(5)
    clean = 0.1 * torch.randn(1, 8000, generator=g)
    clean[:, 4000:] = 0.0  # a pause
    background = torch.zeros_like(clean)
    background[:, 4000:] = 0.1 * torch.randn(1, 4000, generator=g)

    def cost(level: float, power: float) -> float:
        settings = LossConfig(compressed_power=power, complex_share=0.0)
        return compressed_spectral_distance(model, clean + level * background, clean, settings).item()

    assert si_snr(clean + 0.01 * background, clean) > 39
    assert cost(0.01, 1.0) / cost(0.1, 1.0) == pytest.approx(0.01, rel=0.02)
    assert cost(0.01, 0.3) / cost(0.1, 0.3) == pytest.approx(10 ** -0.6, rel=0.1)


def test_loss_weight_zero_is_the_published_loss_and_a_weight_adds_the_weighted_distance():
    from frcrn.model.network import FRCRNOutput

    model = FRCRN(TINY)
    g = torch.Generator().manual_seed(6)
    clean = 0.1 * torch.randn(1, 3200, generator=g)
    noisy = clean + 0.1 * torch.randn(1, 3200, generator=g)
    mask = 0.3 * torch.randn(1, 2 * TINY.freq_bins, model.stft(noisy).shape[-1], generator=g)
    out = FRCRNOutput(wav=0.8 * clean, mask=mask, mask_l1=mask, spec=mask)
    published = frcrn_loss(model, noisy, clean, out)
    settings = LossConfig(compressed_weight=50.0)
    weighted = frcrn_loss(model, noisy, clean, out, settings)
    assert published.compressed is None
    distance = compressed_spectral_distance(model, out.wav, clean, settings)
    assert weighted.compressed.item() == pytest.approx(distance.item())
    assert weighted.total.item() == pytest.approx(published.total.item() + 50.0 * weighted.compressed.item(),
                                                  rel=1e-5)


@pytest.mark.parametrize("setting", ["compressed_weight=-1", "compressed_power=0", "compressed_power=1.5",
                                     "complex_share=2", "over_suppression_weight=-0.5"])
def test_loss_config_refuses_values_outside_their_range(setting):
    with pytest.raises(ConfigError, match=setting.split("=")[0]):
        load_typed(TrainConfig, None, [f"loss.{setting}"])


# --------------------------------------------------------------------------- plain process


def test_plain_process_trains_saves_and_resumes(speech, tmp_path, capsys, recwarn):
    """`frcrn train CONFIG steps=2`, then the same command with steps=3 continues from step 2."""
    out = tmp_path / "run"
    config = tiny_yaml(speech, out, tmp_path / "tiny.yaml")
    assert cli_main(["train", config, "steps=2", "device=cpu"]) == 0
    assert f"best checkpoint: {out / 'best.safetensors'}" in capsys.readouterr().out
    check_best(out, steps=2)
    last = read_last(out)
    assert set(last) == LAST_KEYS and last["step"] == 2
    assert not any(k.startswith("module.") for k in last["model"])
    log = read_log(out)
    assert [r["step"] for r in log if r["event"] == "train"] == [1, 2]
    assert [r["step"] for r in log if r["event"] == "eval"] == [2]  # once, not again after the loop
    assert "workers" not in log[0]
    assert not [w for w in recwarn.list if "requires_grad" in str(w.message)]

    assert cli_main(["train", config, "steps=3", "eval_every=10", "device=cpu"]) == 0
    log = read_log(out)
    assert {"event": "resume", "step": 2}.items() <= log[3].items()
    assert [r["step"] for r in log if r["event"] == "train"] == [1, 2, 3]
    assert [r["step"] for r in log if r["event"] == "eval"] == [2, 3]
    assert read_last(out)["step"] == 3 and read_last(out)["epoch"] >= last["epoch"]
    assert json.loads((out / "best.json").read_text())["provenance"]["training"]["steps"] in (2, 3)


def test_init_from_continues_the_count_and_the_provenance_keeps_every_stage(speech, tmp_path):
    """Three stages, each started from the last one's best checkpoint with its own settings: the
    step count and training seconds go on, and the last checkpoint's provenance lists the earlier
    stages oldest first (checkpoint, hash, steps, settings), also after a resume."""
    one, two, three = (tmp_path / name for name in ("one", "two", "three"))
    Trainer(tiny_config(speech, one, steps=2)).run()
    Trainer(tiny_config(speech, two, steps=3, init_from=str(one / "best.safetensors"),
                        optim=OptimConfig(batch_size=2, lr=1e-4))).run()
    assert {"event": "init", "step": 2}.items() <= read_log(two)[0].items()
    third = tiny_config(speech, three, steps=4, init_from=str(two / "best.safetensors"))
    Trainer(third).run()
    Trainer(dataclasses.replace(third, steps=5)).run()  # resumed from last.pt

    training = json.loads((three / "best.json").read_text())["provenance"]["training"]
    lineage = training["lineage"]
    assert [stage["checkpoint"] for stage in lineage] == [str(one / "best.safetensors"),
                                                          str(two / "best.safetensors")]
    assert [stage["steps"] for stage in lineage] == [2, 3]
    assert [stage["config"]["optim"]["lr"] for stage in lineage] == [OptimConfig.lr, 1e-4]
    assert lineage[1]["sha256"] == json.loads((two / "best.json").read_text())["sha256"]
    assert lineage[0]["seconds"] < lineage[1]["seconds"] < training["seconds"]
    assert all("lineage" not in stage for stage in lineage)  # each stage once, not nested


def test_init_from_a_narrower_checkpoint_widens_it_and_records_that(speech, tmp_path):
    """A wider run can start from a trained narrower network (grown so it computes the same
    function); the log and the lineage say so. Narrowing is refused with both shapes named."""
    narrow, wide = tmp_path / "narrow", tmp_path / "wide"
    Trainer(tiny_config(speech, narrow, steps=2)).run()
    wider = dataclasses.replace(TINY, width=16, fsmn_hidden=12)
    Trainer(tiny_config(speech, wide, steps=3, model=wider, init_from=str(narrow / "best.safetensors"))).run()
    init = read_log(wide)[0]
    assert init["event"] == "init" and init["step"] == 2
    assert init["widened_from"] == {"width": 8, "fsmn_hidden": 8}
    header = json.loads((wide / "best.json").read_text())
    assert header["config"]["width"] == 16 and header["config"]["fsmn_hidden"] == 12
    assert header["provenance"]["training"]["lineage"][-1]["widened_from"] == {"width": 8, "fsmn_hidden": 8}

    with pytest.raises(ValueError, match="cannot narrow a network: width 16 -> 8"):
        Trainer(tiny_config(speech, tmp_path / "narrower", init_from=str(wide / "best.safetensors")))


def test_a_compressed_loss_weight_trains_and_is_logged(speech, tmp_path):
    config = tiny_config(speech, tmp_path / "run", steps=1, eval_every=10,
                         loss=LossConfig(compressed_weight=100.0))
    Trainer(config).run()
    train = [r for r in read_log(tmp_path / "run") if r["event"] == "train"]
    assert len(train) == 1 and train[0]["compressed"] > 0
    assert math.isfinite(train[0]["loss"])


def test_a_training_step_lowers_the_loss_on_a_fixed_batch(speech, tmp_path):
    trainer = Trainer(tiny_config(speech, tmp_path / "run"))
    _, _, (noisy, clean) = next(trainer._batches())

    def loss_now() -> float:
        with torch.no_grad():
            return frcrn_loss(trainer.model, noisy, clean, trainer.model(noisy)).total.item()

    before = loss_now()
    measured = trainer.train_step(noisy, clean)
    assert measured.total.item() == pytest.approx(before, rel=1e-5)
    assert loss_now() < before and trainer.step == 1


def test_resume_gives_the_state_an_uninterrupted_run_reaches(speech, tmp_path):
    """3 steps in one go, and 2 steps then a resumed run to 3, end with identical weights, optimiser
    and scheduler state: the resumed run continues the same mixture stream, not a fresh one."""
    Trainer(tiny_config(speech, tmp_path / "straight", steps=3)).run()
    Trainer(tiny_config(speech, tmp_path / "stopped", steps=2)).run()
    halfway = read_last(tmp_path / "stopped")
    assert (halfway["step"], halfway["epoch"], halfway["batch_in_epoch"]) == (2, 0, 2)
    resumed = Trainer(tiny_config(speech, tmp_path / "stopped", steps=3))
    assert resumed.step == 2
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, halfway["model"][name]), name
    resumed.run()

    straight, stopped = read_last(tmp_path / "straight"), read_last(tmp_path / "stopped")
    assert stopped["step"] == straight["step"] == 3
    for name, tensor in straight["model"].items():
        assert torch.equal(stopped["model"][name], tensor), name
    for (_, a), (_, b) in zip(sorted(straight["optimizer"]["state"].items()),
                              sorted(stopped["optimizer"]["state"].items())):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert stopped["scheduler"] == straight["scheduler"]
    assert stopped["best"] == straight["best"]


def test_workers_draw_different_mixtures(speech, tmp_path):
    config = tiny_config(speech, tmp_path / "run")
    plain, rank1 = Trainer(config), Trainer(config, Worker(rank=1))
    assert plain.dataset.seed == config.seed and rank1.dataset.seed == config.seed + 1
    assert plain.validation and not rank1.validation  # rank 0 alone validates
    first = [next(iter(t._batches()))[2][0] for t in (plain, rank1)]
    assert not torch.equal(first[0], first[1])


def test_speech_and_noise_from_s3_train_and_stay_out_of_the_checkpoint(s3, tmp_path):
    """Speech as an s3:// glob, noise as an s3:// list file, through s3fs against a real S3 API
    server; the provenance names both sources and licences but never the storage credentials."""
    import io

    import numpy as np
    import soundfile as sf

    client, bucket = s3["client"], s3["bucket"]
    rng = np.random.default_rng(0)
    for name in sorted(CORPUS.glob("*.wav"))[:4]:
        client.put_object(Bucket=bucket, Key=f"speech/{name.name}", Body=name.read_bytes())
    for i in range(2):
        buf = io.BytesIO()
        sf.write(buf, rng.normal(0, 0.1, 16000).astype(np.float32), 16000, format="WAV")
        client.put_object(Bucket=bucket, Key=f"noise/rec{i}.wav", Body=buf.getvalue())
    client.put_object(Bucket=bucket, Key="noise/list.txt", Body=b"rec0.wav\nrec1.wav\n")
    data = DataConfig(speech=f"s3://{bucket}/speech/*.wav", speech_licence="CC BY 4.0",
                      noise=f"s3://{bucket}/noise/list.txt", noise_licence="CC0-1.0", recorded_noise_prob=1.0,
                      crop_seconds=0.5, validation_items=2, storage_options=s3["options"])
    out = tmp_path / "run"
    trainer = Trainer(dataclasses.replace(tiny_config("", out), data=data))
    assert len(trainer.train_files) == 3 and trainer.val_files[0].startswith(f"s3://{bucket}/speech/")
    # a recording's family is the folder it is in
    assert next(trainer.dataset.items(np.random.default_rng(0)))[2]["family"] == "noise"
    trainer.run()
    prov = json.loads((out / "best.json").read_text())["provenance"]
    assert prov["data"]["speech"]["source"] == f"s3://{bucket}/speech/*.wav"
    assert prov["data"]["speech"]["licence"] == "CC BY 4.0"
    assert prov["data"]["noise"]["recorded"] == [{"source": f"s3://{bucket}/noise/list.txt", "files": 2,
                                                  "usable": 2, "validation_files": 0,
                                                  "seconds_by_family": {"noise": 2.0}, "licence": "CC0-1.0"}]
    recorded_options = prov["training"]["config"]["data"]["storage_options"]
    assert recorded_options == sorted(s3["options"]) and "testing" not in json.dumps(prov)


def test_validation_with_dnsmos_logs_it_and_keeps_the_best_by_ovrl_apart(speech, tmp_path):
    """`validation_dnsmos`: every evaluation logs the enhanced items' DNSMOS, best_dnsmos.safetensors
    holds the highest OVRL so far, and a resumed run remembers that best."""
    if not DNSMOS.is_file():
        pytest.fail(f"DNSMOS model not found at {DNSMOS}", pytrace=False)
    out = tmp_path / "run"
    Trainer(tiny_config(speech, out, steps=2, eval_every=1, validation_dnsmos=str(DNSMOS))).run()
    evals = [r for r in read_log(out) if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [1, 2]
    for r in evals:
        assert 1.0 <= r["dnsmos_bak_enhanced"] <= 5.0 and 1.0 <= r["dnsmos_ovrl_enhanced"] <= 5.0
    best = max(r["dnsmos_ovrl_enhanced"] for r in evals)
    assert read_last(out)["best_dnsmos"] == best
    from frcrn.model.checkpoint import load_checkpoint

    _, info = load_checkpoint(out / "best_dnsmos.safetensors")
    assert info.provenance["metrics"]["validation"]["dnsmos_ovrl_enhanced"] == best

    Trainer(tiny_config(speech, out, steps=3, eval_every=10, validation_dnsmos=str(DNSMOS))).run()
    assert read_last(out)["best_dnsmos"] >= best


def test_unpaired_recordings_are_scored_at_every_evaluation_but_never_pick_the_checkpoint(speech, tmp_path):
    """`validation_unpaired`: real noisy recordings (here the model card's two examples) get their
    own DNSMOS in every eval line; best_dnsmos still follows the validation mixtures' OVRL."""
    examples = ROOT.parent / "shared" / "examples" / "*.wav"
    out = tmp_path / "run"
    Trainer(tiny_config(speech, out, steps=2, eval_every=1, validation_dnsmos=str(DNSMOS),
                        validation_unpaired=str(examples))).run()
    evals = [r for r in read_log(out) if r["event"] == "eval"]
    assert len(evals) == 2
    for r in evals:
        assert all(1.0 <= r[f"unpaired_dnsmos_{key}"] <= 5.0 for key in ("sig", "bak", "ovrl"))
    assert read_last(out)["best_dnsmos"] == max(r["dnsmos_ovrl_enhanced"] for r in evals)
    with pytest.raises(ValueError, match="validation_unpaired needs validation_dnsmos"):
        tiny_config(speech, out, validation_unpaired=str(examples))


def test_ray_training_gets_every_local_path_made_absolute(tmp_path, monkeypatch):
    """Ray workers run in other folders: speech, noise and room lists, checkpoints and the
    recordings to score are all made absolute on the driver; URLs are left alone."""
    from frcrn.training.ray_train import absolute_paths

    monkeypatch.chdir(tmp_path)
    config = TrainConfig(data=DataConfig(speech=("a/*.wav", "s3://bucket/b"), noise="noise", rir=("rooms",)),
                         init_from="init.safetensors", validation_dnsmos="dnsmos.onnx",
                         validation_unpaired=("real/*.wav",))
    fixed = absolute_paths(config)
    assert fixed.data.speech == (str(tmp_path / "a/*.wav"), "s3://bucket/b")
    assert fixed.data.noise == str(tmp_path / "noise") and fixed.data.rir == (str(tmp_path / "rooms"),)
    assert fixed.validation_unpaired == (str(tmp_path / "real/*.wav"),)
    assert fixed.init_from == str(tmp_path / "init.safetensors")
    assert fixed.validation_dnsmos == str(tmp_path / "dnsmos.onnx")


def test_validation_without_dnsmos_keeps_no_dnsmos_checkpoint(speech, tmp_path):
    out = tmp_path / "run"
    Trainer(tiny_config(speech, out)).run()
    assert not (out / "best_dnsmos.safetensors").exists()
    assert not any(k.startswith("dnsmos") for r in read_log(out) for k in r)


def test_config_keys_and_defaults():
    config = load_typed(TrainConfig, str(ROOT / "configs" / "train_default.yaml"),
                        ["distributed.backend=ray", "distributed.num_workers=4", "distributed.use_gpu=true"])
    assert config.device == "auto"
    assert config.distributed == DistributedConfig(backend="ray", num_workers=4, use_gpu=True)
    assert load_typed(TrainConfig, str(ROOT / "configs" / "train_default.yaml")).distributed.backend == "none"
    with pytest.raises(ConfigError, match="did you mean 'ray'"):
        load_typed(TrainConfig, None, ["distributed.backend=rya"])


# --------------------------------------------------------------------------- Ray Train


@pytest.mark.slow
def test_ray_train_two_cpu_workers(speech, tmp_path):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.train.torch")
    started = False
    if not ray.is_initialized():
        paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # workers import frcrn
        for attempt in (1, 2):  # Ray gives its raylet a fixed 30 s to start: once more on a busy machine
            try:
                ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
                break
            except Exception as error:  # Ray raises a bare Exception here
                ray.shutdown()
                if attempt == 2 or "timed out during startup" not in str(error):
                    raise
        started = True
    out = tmp_path / "ray-run"
    config = tiny_yaml(speech, out, tmp_path / "tiny.yaml")
    try:
        # The same config as a plain run; only the overrides pick Ray Train (no extra CLI flag).
        code = cli_main(["train", config, "steps=2", "distributed.backend=ray",
                         "distributed.num_workers=2", "distributed.cpus_per_worker=1"])
    finally:
        if started:
            ray.shutdown()
    assert code == 0
    check_best(out, steps=2, workers=2)
    last = read_last(out)
    assert set(last) == LAST_KEYS and last["step"] == 2
    assert not any(k.startswith("module.") for k in last["model"])  # the bare model, not the DDP wrapper
    log = read_log(out)  # rank 0 alone writes it
    train_steps = [r for r in log if r["event"] == "train"]
    assert [r["step"] for r in train_steps] == [1, 2] and all(r["workers"] == 2 for r in train_steps)
    assert [r["step"] for r in log if r["event"] == "eval"] == [2]
