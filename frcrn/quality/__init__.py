"""Speech-quality measures: intrusive metrics against a clean reference (`metrics`: SI-SDR, PESQ,
STOI, ESTOI) and the non-intrusive DNSMOS P.835 (`dnsmos`)."""
