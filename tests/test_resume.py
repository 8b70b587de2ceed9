"""Resuming training: the checkpoint wins, else the shipped weights with their card's steps, else step 0."""

import json

import pytest
import torch
from safetensors.torch import save_file

from conftest import run_cli
from crossteg.errors import UsageError
from crossteg.train.resume import restore, resume_optimiser


def test_restore_prefers_checkpoint_then_shipped_weights(tmp_path):
    shipped, checkpoint = tmp_path / "w.safetensors", tmp_path / "w.ckpt"
    model = torch.nn.Linear(3, 2)
    assert restore(model, checkpoint, shipped, resume=True) == ({"step": 0, "seconds": 0.0, "curve": []}, None)

    trained = torch.nn.Linear(3, 2)
    save_file(trained.state_dict(), str(shipped))
    curve = [{"step": 40, "loss": 0.1}]
    shipped.with_suffix(".json").write_text(json.dumps({"training": {"steps": 40, "seconds": 9.5}, "curve": curve}))
    assert restore(model, checkpoint, shipped, resume=False)[0]["step"] == 0  # no --resume: a fresh start
    state, optimiser = restore(model, checkpoint, shipped, resume=True)
    assert (state["step"], state["seconds"], state["curve"], optimiser) == (40, 9.5, curve, None)
    assert torch.equal(model.weight, trained.weight)

    later = torch.nn.Linear(3, 2)
    adam = torch.optim.Adam(later.parameters())
    torch.save({"model": later.state_dict(), "optimiser": adam.state_dict(), "state": {"step": 55}}, checkpoint)
    state, optimiser = restore(model, checkpoint, shipped, resume=True)
    assert state == {"step": 55} and optimiser == adam.state_dict() and torch.equal(model.weight, later.weight)


def test_resumed_optimiser_keeps_its_moments_and_the_settings_asked_for_now():
    model = torch.nn.Linear(3, 2)
    before = torch.optim.Adam(model.parameters(), lr=2e-4)
    model(torch.ones(1, 3)).sum().backward()
    before.step()
    now = torch.optim.Adam(model.parameters(), lr=5e-5, betas=(0.5, 0.999), weight_decay=1e-5)
    resume_optimiser(now, before.state_dict())
    assert now.param_groups[0]["lr"] == 5e-5
    assert now.param_groups[0]["betas"] == (0.5, 0.999) and now.param_groups[0]["weight_decay"] == 1e-5
    assert torch.equal(now.state[model.weight]["exp_avg"], before.state[model.weight]["exp_avg"])
    resume_optimiser(now, None)  # nothing saved: unchanged
    assert now.param_groups[0]["lr"] == 5e-5


def test_what_would_stop_a_run_from_saving_or_resuming_fails_before_it_trains(tmp_path):
    """A junk or foreign checkpoint, and an output folder that cannot be made, are one clear error (exit 2), not
    an unexpected one after the training time was spent; so is a run of no steps or no minutes."""
    model, shipped = torch.nn.Linear(3, 2), tmp_path / "out" / "w.safetensors"
    junk, foreign = tmp_path / "junk.ckpt", tmp_path / "foreign.ckpt"
    junk.write_bytes(b"junk")
    torch.save({"weights": model.state_dict()}, foreign)
    with pytest.raises(UsageError, match=r"cannot read checkpoint .*junk.ckpt \(UnpicklingError\): delete it"):
        restore(model, junk, shipped, resume=True)
    with pytest.raises(UsageError, match="foreign.ckpt is not a crossteg training checkpoint"):
        restore(model, foreign, shipped, resume=True)
    in_the_way = tmp_path / "a file"
    in_the_way.write_text("")
    with pytest.raises(UsageError, match="cannot write weights to .*a file/sub"):
        restore(model, junk, in_the_way / "sub" / "w.safetensors", resume=False)
    with pytest.raises(UsageError, match="cannot write checkpoints to .*a file"):
        restore(model, in_the_way / "c.ckpt", shipped, resume=False)
    for target, option in (("ditas", "--steps"), ("icn", "--minutes")):
        result = run_cli("train", target, option, "0", "--out", tmp_path / "never")
        assert result.returncode == 2 and f"argument {option}: must be more than 0, not 0" in result.stderr
        assert not (tmp_path / "never").exists()


def test_weights_of_another_architecture_or_a_junk_weights_file_are_named_when_resuming(tmp_path):
    shipped, checkpoint = tmp_path / "w.safetensors", tmp_path / "w.ckpt"
    wide = torch.nn.Linear(3, 4)
    torch.save({"model": wide.state_dict(), "optimiser": {}, "state": {"step": 5}}, checkpoint)
    with pytest.raises(UsageError, match=r"w.ckpt holds another architecture than these options build \(size "):
        restore(torch.nn.Linear(3, 2), checkpoint, shipped, resume=True)
    shipped.write_bytes(b"junk")
    with pytest.raises(UsageError, match=r"cannot read weights .*w.safetensors to resume from"):
        restore(torch.nn.Linear(3, 2), tmp_path / "none.ckpt", shipped, resume=True)


def test_ctrl_c_stops_after_the_step_saves_and_exits_130(tmp_path):
    """Ctrl-C during training: the run stops as at the end of its budget (evaluated, weights, card and
    checkpoint written), says so, exits 130 with "interrupted"; --resume goes on from the step it reached."""
    import signal
    import subprocess
    import sys

    trainer = [sys.executable, "-u", "-m", "crossteg", "train", "icn", "--continuous", "--out", str(tmp_path),
               "--checkpoint", str(tmp_path / "c.ckpt")]
    # a shell's background job (as CI may be) ignores SIGINT, and its children inherit that: give Ctrl-C back
    run = subprocess.Popen(trainer + ["--minutes", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert run.stdout is not None
    for line in run.stdout:  # training steps are under way: the first step line is out
        if line.startswith("step "):
            break
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 130 and stderr.strip().splitlines()[-1] == "interrupted", stderr
    assert "stopping after this step and saving" in stderr
    stopped = stdout.strip().splitlines()[-1]
    assert stopped.startswith("stopped by Ctrl-C at step ")
    step = int(stopped.split()[5].rstrip(";"))
    card = json.loads((tmp_path / "icn-continuous.json").read_text())
    assert card["training"]["steps"] == step and (tmp_path / "icn-continuous.safetensors").exists()
    resumed = subprocess.run(trainer + ["--steps", str(step + 1), "--resume"],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {tmp_path / 'c.ckpt'} at step {step}" in resumed.stdout


def test_interrupt_turns_the_first_ctrl_c_into_a_request_and_raises_on_leaving():
    import os
    import signal

    from crossteg.train.loop import Interrupt

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's process has it
    try:
        with pytest.raises(KeyboardInterrupt), Interrupt() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested  # the step in progress went on
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a second one stops at once
        with Interrupt() as calm:
            pass
        assert not calm.requested and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job: left ignoring
        with Interrupt() as ignored:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and not ignored.requested
    finally:
        signal.signal(signal.SIGINT, before)


def test_xdg_cache_home_moves_checkpoints_and_generated_speech(tmp_path):
    import os
    import subprocess
    import sys

    code = "from crossteg.train import data, resume; print(resume.CHECKPOINTS); print(data.CACHE)"
    run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
                         capture_output=True, text=True, check=True)
    assert run.stdout.split() == [str(tmp_path / "crossteg" / "checkpoints"), str(tmp_path / "crossteg" / "speech")]


def test_default_checkpoints_differ_by_output_folder(tmp_path):
    from crossteg.train.resume import default_checkpoint

    one, other = default_checkpoint(tmp_path / "a", "icn-binary"), default_checkpoint(tmp_path / "b", "icn-binary")
    assert one != other and one.name.startswith("icn-binary-") and one.suffix == ".ckpt"
    assert default_checkpoint(tmp_path / "a" / ".." / "a", "icn-binary") == one  # the same folder, however named


def test_train_says_how_to_train_a_baseline_and_what_is_trainable():
    baseline, unknown = run_cli("train", "stft"), run_cli("train", "nosuch")
    assert baseline.returncode == 2
    assert "stft is a DITAS baseline: crossteg train ditas --baseline stft" in baseline.stderr
    assert unknown.returncode == 2 and "trainable: detector, ditas, icn, thinimg, vocoder, waveglow" in unknown.stderr
