"""Training FRCRN on on-the-fly mixtures.

`trainer` (configs, the training loop, `train(config)`), `ray_train` (the same loop under Ray
Train), `losses`, `sources` (speaker/family hold-out, noise and impulse-response pools),
`mixtures` (SpeechMixtures, making mixtures, the training stream, the fixed validation set),
`noise` (the synthetic noise families) and `recorded_noise` (recorded sound effects from Debian
packages).
"""
