"""FRCRN as one step of someone else's pipeline: one small module per library.

* :mod:`frcrn.integrations.ray_data` -- ``EnhanceAudio``, a callable class for
  ``Dataset.map_batches`` on an actor pool, and ``enhance_dataset``, which adds the three usual
  stages (decode on CPU tasks, enhance on the pool, encode on CPU tasks) to a Ray dataset;
* :mod:`frcrn.integrations.hf_datasets` -- ``EnhanceAudioColumn`` for ``Dataset.map(fn,
  batched=True)`` and ``enhance_dataset``, which keeps the column's ``Audio`` feature type;
* :mod:`frcrn.integrations.lhotse` -- ``enhance_recordings`` / ``enhance_cuts``: enhanced
  recordings written next to a manifest that points at them.

All three share :mod:`frcrn.integrations.core` (the model replica, one row's audio to and from
the model's 16 kHz, row errors as values), which the bulk job's model stage
(``jobs.stages.Enhance``) is built on too. Ray, datasets and lhotse are imported only by their
own module, so ``import frcrn`` never needs them.
"""
