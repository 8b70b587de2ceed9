"""Resuming training: the checkpoint wins, else the shipped weights with their card's steps, else step 0."""

import json

import torch
from safetensors.torch import save_file

from crossteg.train.resume import restore


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
