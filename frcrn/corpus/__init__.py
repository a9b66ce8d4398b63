"""Corpus manifests: the one place that knows speech-corpus formats, reading and writing.

Speech teams keep their corpora in NeMo JSONL, lhotse, Kaldi data dirs, Hugging Face datasets
(Parquet with embedded audio), Common Voice TSVs, plain CSV/Parquet/JSON-lines tables and plain
folders. Every reader here turns its format into the same *manifest rows* table, one row per
manifest line (a segment of a recording, or a whole recording), and every writer turns a results
table back into its format. Torch-free and Ray-free: the job's driver and the command line use it.

The manifest-rows table (``ManifestRead.rows``, a pandas DataFrame), one row per line in order:

``__entry``       the audio reference as written (relative path, absolute path or URL), None when
                  the line has none (malformed line)
``__base``        fs path of the folder relative entries resolve against
``__member``      "" or a member inside the file ``__entry`` names: ``row=17`` is the embedded audio
                  of row 17 of a Hugging Face Parquet shard
``__name``        "" or a relative file name for the output when the entry gives none (embedded
                  audio)
``__offset``      segment start in seconds (NaN: from the start)
``__duration``    segment length in seconds (NaN: to the end)
``__line``        1-based line (or row) number in the source, for messages
``__error_type``  "" or why the line cannot be used (``malformed_line``, ``unsupported_pipe``, ...)
``__error``       "" or a message naming the source and the line
(other columns)   the manifest's own fields under their native names, carried to the results
"""
