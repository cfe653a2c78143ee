"""The SAM image-encoder sizes and where their weights come from."""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.specs import WeightSource

RELEASE_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
LICENSE = "apache-2.0"


@dataclass(frozen=True)
class Size:
    """One SAM image encoder: its shape, global-attention blocks and release file."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    release_file: str
    timm_arch: str

    @property
    def timm_name(self) -> str:
        return f"{self.timm_arch}.sa1b"

    def release(self) -> WeightSource:
        """The official segment-anything checkpoint (read by both backends)."""
        return WeightSource(self.release_file, RELEASE_URL + self.release_file, LICENSE)


SIZES = {
    "vit_b": Size(768, 12, 12, (2, 5, 8, 11), "sam_vit_b_01ec64.pth", "samvit_base_patch16"),
    "vit_l": Size(1024, 24, 16, (5, 11, 17, 23), "sam_vit_l_0b3195.pth", "samvit_large_patch16"),
    "vit_h": Size(1280, 32, 16, (7, 15, 23, 31), "sam_vit_h_4b8939.pth", "samvit_huge_patch16"),
}
PATCH_SIZE = 16
IMG_SIZE = 1024
