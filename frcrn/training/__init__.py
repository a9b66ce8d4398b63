"""Training FRCRN on on-the-fly mixtures.

`config` (TrainConfig and its sections), `run` (`train(config)`: in this process or under Ray),
`trainer` (the training loop: Trainer, Worker), `validation` (what its evaluations measure),
`ray_train` (the same loop under Ray Train), `losses`, `data` (SpeechMixtures: which speech, noise
and impulse responses, and which of their files are held out), `sources` (hold-out by speaker and
noise family; noise and impulse-response pools), `mixtures` (one mixture, the training stream,
the fixed validation set), `speech_edits` (pauses and spectral tilts of the training speech),
`noise` (the synthetic noise families) and `recorded_noise` (recorded sound effects from Debian
packages).
"""
