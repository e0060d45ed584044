"""Projection head for contrastive pretraining (TimeBalance supplement, B.1.2)."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class ProjectionHead(nn.Module):
    """Linear(D, 512) + BN + ReLU + Linear(512, 128, no bias) + BN, then L2 normalisation.

    Applied both to pooled clip features (N x D) and to temporal slices (N x S x D). Slices are
    flattened to (N * S) x D so one set of batch-norm statistics covers all of them, then
    reshaped back. (The authors' code runs batch norm once per slice index; in eval mode both
    are identical, in training mode only the batch statistics differ.)

    Args:
        in_dim: feature dimension D of the backbone.
        hidden_dim: width of the hidden layer (512 in the paper).
        out_dim: embedding dimension d (128 in the paper).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim, bias=True),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim, bias=False),
            nn.BatchNorm1d(out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Project and L2-normalise.

        Args:
            x: N x D pooled features or N x S x D temporal slices.

        Returns:
            N x out_dim or N x S x out_dim unit-norm embeddings.
        """
        if x.ndim not in (2, 3) or x.shape[-1] != self.in_dim:
            raise ValueError(
                f"ProjectionHead expects N x {self.in_dim} or N x S x {self.in_dim} features, "
                f"got {tuple(x.shape)}"
            )
        rows = x.reshape(-1, self.in_dim)
        if self.training and rows.shape[0] < 2:
            raise ValueError(
                "ProjectionHead in training mode needs at least 2 rows for batch norm "
                f"(got input {tuple(x.shape)}); use a batch size >= 2 or call .eval()"
            )
        z = F.normalize(self.mlp(rows), p=2, dim=1)
        return z.reshape(*x.shape[:-1], self.out_dim)
