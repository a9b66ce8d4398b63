"""Speech-quality measures: intrusive metrics against a clean reference (`metrics`: SI-SDR, PESQ,
STOI, ESTOI), the non-intrusive DNSMOS P.835 (`dnsmos`), and cheap per-file measures for curating
corpora (`measures`: speech ratio from Silero VAD in `vad`, WADA-SNR in `snr`, BS.1770 loudness,
bandwidth in `bandwidth`)."""
