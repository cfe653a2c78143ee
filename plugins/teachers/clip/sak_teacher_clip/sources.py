"""Where CLIP weights come from and the statistics CLIP was trained with (read by the entry point and the open_clip tower)."""

from __future__ import annotations

import os

from sak_core.plugin import WeightSource, hub_source

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def open_clip_sources(variant: str, tag: str, hub: str = "", url: str = "") -> tuple[WeightSource, ...]:
    """Where open_clip's ``variant``/``tag`` weights come from (its pretrained config's hf_hub and url);
    a Hub repository's ``transformers`` copy (``model.safetensors``, renamed on the fly) comes last."""
    files = [(hub.rstrip("/"), n) for n in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")] \
        if hub.endswith("/") else [os.path.split(hub)] if hub else []  # a repository: safetensors first
    sources = tuple(hub_source(repo, name, f"open_clip_{variant}_{tag}{os.path.splitext(name)[1]}", "mit")
                    for repo, name in files)
    if hub.endswith("/"):  # the transformers layout, in the same repository
        sources += (hub_source(hub.rstrip("/"), "model.safetensors", f"clip_{variant}_{tag}_transformers.safetensors",
                               "mit"),)
    return sources + ((WeightSource(os.path.basename(url.split("?")[0]), url, "mit"),) if url else ())
