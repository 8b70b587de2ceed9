"""The timed trainers' shared clock, and the icn and waveglow trainers end to end (tiny, a few steps)."""

import json

import numpy as np

from crossteg.train.loop import Clock, cosine_rate


def test_clock_counts_logs_means_and_stops_at_the_step_limit():
    lines: list[str] = []
    state = {"step": 10, "seconds": 100.0, "curve": []}  # resumed: steps and seconds carry on
    clock = Clock(state, minutes=60, steps=14, eval_minutes=60, log_every=2, log=lines.append)
    due = [clock.tick({"loss": loss}) for loss in (1.0, 3.0, 5.0, 7.0)]
    assert due == [False, False, False, True] and clock.done and state["step"] == 14
    assert lines[0].startswith("step 12 loss 2 ") and lines[1].startswith("step 14 loss 6 ")
    assert state["seconds"] >= 100.0
    point = clock.record({"psnr": 30.0})
    assert point["step"] == 14 and point["psnr"] == 30.0 and state["curve"] == [point]


def test_clock_averages_each_term_over_the_steps_that_reported_it():
    lines: list[str] = []
    clock = Clock({"step": 0, "seconds": 0.0, "curve": []}, 60, None, 60, log_every=3, log=lines.append)
    for terms in ({"loss": 1.0, "grad": 4.0}, {"loss": 2.0}, {"loss": 3.0, "grad": 8.0}):  # a skipped step: no grad
        clock.tick(terms)
    assert lines[0].startswith("step 3 loss 2 grad 6 ")


def test_clock_stops_on_the_minute_budget_and_a_finished_run_does_nothing():
    state = {"step": 0, "seconds": 0.0, "curve": []}
    assert Clock(state, minutes=0, steps=None, eval_minutes=60, log_every=10, log=print).tick({"loss": 1.0})
    assert Clock({"step": 5, "seconds": 1.0, "curve": []}, 60, 5, 60, 10).done  # resumed at --steps already


def test_clock_progress_counts_the_runs_own_steps_and_the_rate_decays_over_it():
    state = {"step": 100, "seconds": 50.0, "curve": []}  # resumed: progress counts this run's steps only
    clock = Clock(state, minutes=600, steps=104, eval_minutes=60, log_every=10, log=print)
    assert clock.progress < 0.01
    clock.tick({"loss": 1.0})
    clock.tick({"loss": 1.0})
    assert abs(clock.progress - 0.5) < 1e-9
    assert cosine_rate(2e-4, 0.0) == 2e-4 and abs(cosine_rate(2e-4, 1.0) - 1e-5) < 1e-12
    assert abs(cosine_rate(2e-4, 0.5) - 1.05e-4) < 1e-12 and cosine_rate(2e-4, 7.0) == cosine_rate(2e-4, 1.0)


def test_icn_trainer_writes_weights_card_and_bit_importance(tmp_path, monkeypatch):
    from crossteg.codecs.icn import DEFAULT_ITERATIONS
    from crossteg.train import icn as trainer

    monkeypatch.setattr(trainer, "MAX_ITERATIONS", DEFAULT_ITERATIONS)  # importance at K = 4 only: half the time

    common = ["--width", "2", "--crop", "16", "--batch", "2", "--out", str(tmp_path), "--checkpoint",
              str(tmp_path / "icn.ckpt")]
    trainer.main(["--steps", "2", *common])
    card = json.loads((tmp_path / "icn-binary.json").read_text())
    assert card["training"]["steps"] == 2 and card["curve"][-1]["step"] == 2
    importance = card["bit_importance"][str(DEFAULT_ITERATIONS)]
    assert len(importance) == DEFAULT_ITERATIONS * 32 and all(0 <= w <= 1 for w in importance)
    trainer.main(["--steps", "3", "--resume", "--zoom", "2", "--decay", *common])
    card = json.loads((tmp_path / "icn-binary.json").read_text())
    assert card["training"]["steps"] == 3 and " --zoom 2 " in card["training"]["command"]
    assert " --decay " in card["training"]["command"] and "crop 16-32 source pixels" in card["data"]["images"]


def test_waveglow_trainer_writes_weights_card_and_flip_rates(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from crossteg.methods.flowhide import PRECISIONS
    from crossteg.nn.waveglow import WaveGlow, WaveGlowConfig
    from crossteg.train import waveglow as trainer

    tone = (0.3 * np.sin(np.arange(9000) * 0.07)).astype(np.float32)  # no espeak: a tone stands in for speech
    monkeypatch.setattr(trainer, "clips", lambda count, *a, **k: [tone] * count)
    trainer.main(["--steps", "2", "--channels", "4", "--layers", "1", "--flows", "2", "--segment", "2048",
                  "--batch", "1", "--clips", "1", "--out", str(tmp_path), "--checkpoint", str(tmp_path / "w.ckpt")])
    card = json.loads((tmp_path / "waveglow-small.json").read_text())
    assert card["training"]["steps"] == 2 and np.isfinite(card["curve"][-1]["held_out_nll"])
    for precision in PRECISIONS:
        rates = card["flip_rates"][precision]
        assert len(rates) == 32 and all(0 <= r <= 1 for r in rates)
    model = WaveGlow(WaveGlowConfig.from_dict(card["architecture"]))
    model.load_state_dict(load_file(str(tmp_path / "waveglow-small.safetensors")))  # strict: every tensor written
    engines: list[str] = []
    monkeypatch.setattr(trainer, "clips", lambda count, *a, engine="espeak-ng", **k: engines.extend([engine] * count)
                        or [tone] * count)
    trainer.main(["--steps", "3", "--resume", "--channels", "4", "--layers", "1", "--flows", "2", "--segment", "2048",
                  "--batch", "1", "--clips", "1", "--festival-clips", "2", "--recorded-clips", "3", "--out",
                  str(tmp_path), "--checkpoint", str(tmp_path / "w.ckpt")])
    assert engines.count("festival") == 2 and engines.count("recorded") == 3 + 4  # pool + held-out recorded set
    card = json.loads((tmp_path / "waveglow-small.json").read_text())
    assert card["training"]["steps"] == 3 and np.isfinite(card["curve"][-1]["held_out_nll_recorded"])
    assert "--festival-clips 2 --recorded-clips 3 " in card["training"]["command"]
    assert "3 clips of 1-4 s strung from recorded prompts" in card["data"]["speech"]
