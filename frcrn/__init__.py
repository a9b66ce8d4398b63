"""FRCRN speech enhancement.

`enhance` (Enhancer: the product API), `model` (the network and its checkpoint files), `audio`
(decoding, encoding, files, levels), `quality` (PESQ, STOI, SI-SDR, DNSMOS), `training`,
`evaluation`, `cli` (the `frcrn` command) and `config` (typed YAML configs with overrides).
"""
