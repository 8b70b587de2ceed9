"""Training data helpers: photo pool and crops (speech synthesis needs espeak-ng, exercised by trainers)."""

import numpy as np

from crossteg.train import data


def test_photos_exclude_the_evaluation_face_and_crops_are_augmented():
    pool = data.photos()
    assert len(pool) >= 15 and all(p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.float32 for p in pool)
    import skimage.data

    astronaut = skimage.data.astronaut().astype(np.float32) / 255
    assert not any(p.shape == astronaut.shape and np.allclose(p, astronaut) for p in pool)
    crops = data.random_crops(pool, 48, 6, np.random.default_rng(1))
    assert crops.shape == (6, 48, 48, 3) and crops.min() >= 0 and crops.max() <= 1
    assert len({c.tobytes() for c in crops}) == 6


def test_held_out_voices_are_disjoint_from_training_voices():
    train, held = data.split_voices()
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(data.voices())
