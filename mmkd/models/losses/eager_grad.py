# Copyright (c) mmkd contributors. All rights reserved.
"""A sum of scalar terms whose gradients are taken term by term, so that
one term's autograd graph is freed before the next is built (AvatarLoss
sums its base loss over chunks of avatars this way)."""
from typing import Callable, Iterable, Iterator, List, Optional

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def total(terms: Iterable[Tensor]) -> Tensor:
    """Sum of scalar tensors (no ``0 +`` op for a single one)."""
    result = None
    for term in terms:
        result = term if result is None else result + term
    return result


class EagerGradSum(torch.autograd.Function):
    """Sum of scalar terms whose gradients are taken as soon as each term is
    computed, so that one term's autograd graph (the base loss over one
    chunk of avatars) is freed before the next is built and memory stays
    that of one chunk however many there are. Value and gradients are those
    of the plain sum: the backward scales the summed gradients by the
    incoming one (it cannot itself be differentiated).

    ``terms(student)`` yields the terms as functions of ``student``;
    ``params`` are the other tensors they depend on (the base loss'
    learnable parameters).
    """

    @staticmethod
    def forward(ctx, terms: Callable[[Tensor], Iterator[Tensor]],
                student: Tensor, *params: Tensor) -> Tensor:
        leaf = student.detach().requires_grad_(student.requires_grad)
        inputs = (leaf, ) + params
        wanted = [i for i, t in enumerate(inputs) if t.requires_grad]
        sums: List[Optional[Tensor]] = [None] * len(inputs)
        values = []
        with torch.enable_grad():
            for term in terms(leaf):
                if term.requires_grad:
                    grads = torch.autograd.grad(term,
                                                [inputs[i] for i in wanted],
                                                allow_unused=True)
                    for i, grad in zip(wanted, grads):
                        if grad is not None:
                            sums[i] = grad if sums[i] is None else \
                                sums[i].add_(grad)
                values.append(term.detach())
        ctx.save_for_backward(*sums)
        return total(values)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_total: Tensor) -> tuple:
        return (None, ) + tuple(None if g is None else g * grad_total
                                for g in ctx.saved_tensors)
