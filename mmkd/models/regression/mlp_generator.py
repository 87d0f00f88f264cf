# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmkd.registry import MODELS
from .mlp_regressor import check_positive_int


@MODELS.register_module()
class MLPGenerator(BaseModule):
    """Synthetic-input generator ``noise -> hidden (Tanh) -> out``.

    The generator of the adversarial strategy in Zhou & Chiam (arXiv
    2301.04338): 50-d Gaussian noise, 500 hidden units, output in the
    (standardised) input space of the teacher.

    Args:
        noise_dim (int): size of the noise vector. Defaults to 50.
        hidden (int): hidden units. Defaults to 500.
        out_features (int): size of a generated input (the data's ``d``);
            required (the distiller fills it in from its ``in_features``).
        init_cfg (dict, optional): see :class:`BaseModule`.
    """

    def __init__(self, noise_dim: int = 50, hidden: int = 500,
                 out_features: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.out_features = check_positive_int('out_features', out_features)
        self.noise_dim = check_positive_int('noise_dim', noise_dim)
        self.hidden = check_positive_int('hidden', hidden)
        self.fc_in = nn.Linear(noise_dim, hidden)
        self.act = nn.Tanh()
        self.fc_out = nn.Linear(hidden, out_features)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        if noise.dim() != 2 or noise.shape[1] != self.noise_dim:
            raise ValueError(f'noise must have shape (B, {self.noise_dim}), '
                             f'got {tuple(noise.shape)}')
        return self.fc_out(self.act(self.fc_in(noise)))

    def sample(self, num: int,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Generate ``num`` inputs from fresh ``N(0, I)`` noise."""
        device = self.fc_in.weight.device
        noise = torch.randn(num, self.noise_dim, generator=generator,
                            device=device)
        return self(noise)
