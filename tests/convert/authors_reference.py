"""An independent, minimal re-implementation of the authors' SAK student (innovator-zero/SAK).

Written for these tests from the published architecture (models/backbones/sak.py, heads.py,
build_models.py, vit.py); none of it is sak_core code. Module names follow the authors' so that
``state_dict()`` has their exact key layout and shapes:

    vit.{cls_token,pos_embed,patch_embed.proj.*,blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*}
    tsap.<teacher>.<i>.{down,up,scale}   out_norms.<block>_<teacher>   ts_aligners.<block>_<teacher>
    mor.<block>_<task>.router.module.{0,1,3}
    (multi-task) backbone.<all of the above>, heads.<task>.{linears.<l>,linear_fuse.{0,1},last_conv}

The only liberty: the authors pick the tap blocks from a table keyed by ViT size; here they are
an argument, so that a 4-block test stem can be tapped.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=16, stride=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # B, h*w, C


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-1, -2) / math.sqrt(C // self.heads)).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Class token, learned position embedding at the build size, no final norm."""

    def __init__(self, dim: int, depth: int, heads: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid[0] * grid[1], dim))
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.Sequential(*(Block(dim, heads) for _ in range(depth)))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images)
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed


class Adapter(nn.Module):
    def __init__(self, dim: int, ratio: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, dim // ratio)
        self.up = nn.Linear(dim // ratio, dim)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(F.gelu(self.down(x))) * self.scale + x


class GlobalRouter(nn.Module):
    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.module = nn.Sequential(nn.Linear(dim, dim // 2), nn.LayerNorm(dim // 2), nn.GELU(), nn.Linear(dim // 2, out))

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        pooled = self.module(tokens).mean(dim=1)  # B, out
        return pooled[:, :, None, None].expand(-1, -1, *grid)  # B, out, h, w


class MoR(nn.Module):
    def __init__(self, dim: int, experts: int, noisy: bool) -> None:
        super().__init__()
        self.noisy = noisy
        self.router = GlobalRouter(dim, 2 * experts if noisy else experts)

    def forward(self, maps: list[torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
        logits = self.router(tokens, tuple(maps[0].shape[-2:]))
        if self.noisy:
            logits = logits.chunk(2, dim=1)[0]  # eval mode: clean logits only
        probs = logits.softmax(dim=1)  # B, E, h, w
        return (torch.stack(maps, dim=1) * probs.unsqueeze(2)).sum(dim=1)


class ReferenceSAK(nn.Module):
    """The authors' SAK backbone; returns (aligned features per teacher, routed maps per task)."""

    def __init__(self, dim, depth, heads, grid, taps, teachers: dict[str, int], tasks=(), aligner=False,
                 router_type="mor", noisy_gating=True, ratio=4) -> None:
        super().__init__()
        self.grid, self.taps, self.teachers, self.tasks = grid, list(taps), list(teachers), list(tasks)
        self.vit = ViT(dim, depth, heads, grid)
        self.tsap = nn.ModuleDict({t: nn.ModuleList(Adapter(dim, ratio) for _ in range(depth + 1)) for t in teachers})
        self.out_norms = nn.ModuleDict({f"{b}_{t}": nn.LayerNorm(dim) for b in taps for t in teachers})
        self.ts_aligners = (
            nn.ModuleDict({f"{b}_{t}": nn.Linear(dim, w) for b in taps for t, w in teachers.items()}) if aligner else None
        )
        self.mor = None
        if tasks and router_type == "mor":
            self.mor = nn.ModuleDict(
                {f"{b}_{task}": MoR(dim, len(teachers) + 1, noisy_gating) for b in taps for task in tasks}
            )

    def to_map(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.reshape(tokens.shape[0], *self.grid, -1).permute(0, 3, 1, 2)  # B, C, h, w

    def forward(self, images: torch.Tensor):
        x = self.vit.embed(images)
        paths = {t: self.tsap[t][0](x) for t in self.teachers}
        aligned = {t: [] for t in self.teachers}
        routed = {task: [] for task in self.tasks}
        for i, block in enumerate(self.vit.blocks):
            x = block(x)
            paths = {t: self.tsap[t][i + 1](paths[t] + x) for t in self.teachers}
            if i not in self.taps:
                continue
            reps = {t: self.out_norms[f"{i}_{t}"](paths[t][:, 1:]) for t in self.teachers}
            for t in self.teachers:
                feature = self.ts_aligners[f"{i}_{t}"](reps[t]) if self.ts_aligners is not None else reps[t]
                aligned[t].append(self.to_map(feature))
            maps = [self.to_map(x[:, 1:])] + [self.to_map(reps[t]) for t in self.teachers]
            for task in self.tasks:
                if self.mor is not None:
                    routed[task].append(self.mor[f"{i}_{task}"](maps, x[:, 1:]))
                else:
                    routed[task].append(sum(maps[1:], maps[0]))
        return aligned, routed


class ReferenceHead(nn.Module):
    def __init__(self, dim: int, outputs: int, quarter: tuple[int, int]) -> None:
        super().__init__()
        self.quarter = quarter
        self.linears = nn.ModuleList(nn.Linear(dim, dim // 4) for _ in range(4))
        self.linear_fuse = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.BatchNorm2d(dim), nn.GELU())
        self.last_conv = nn.Conv2d(dim, outputs, 1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        reduced = []
        for linear, fea in zip(self.linears, maps, strict=True):
            B, _, h, w = fea.shape
            y = linear(fea.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(B, -1, h, w)
            reduced.append(F.interpolate(y, size=self.quarter, mode="bilinear", align_corners=False))
        return self.last_conv(self.linear_fuse(torch.cat(reduced, dim=1)))


class ReferenceMultiTask(nn.Module):
    def __init__(self, backbone: ReferenceSAK, outputs: dict[str, int], image_size: tuple[int, int]) -> None:
        super().__init__()
        self.backbone = backbone
        quarter = (image_size[0] // 4, image_size[1] // 4)
        self.heads = nn.ModuleDict({task: ReferenceHead(backbone.vit.pos_embed.shape[-1], n, quarter)
                                    for task, n in outputs.items()})

    def forward(self, images: torch.Tensor):
        aligned, routed = self.backbone(images)
        size = images.shape[-2:]
        return aligned, {t: F.interpolate(h(routed[t]), size, mode="bilinear") for t, h in self.heads.items()}


def randomize_(model: nn.Module, seed: int) -> nn.Module:
    """Random values in every tensor (norm weights near 1, BN variances positive), so that any
    swapped or misplaced tensor changes the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                tensor.copy_(torch.randint(0, 1000, tensor.shape, generator=generator))
            elif name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
        for module in model.modules():
            if isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
                module.weight.add_(1.0)
            if isinstance(module, Adapter):
                module.scale.add_(1.0)
    return model
