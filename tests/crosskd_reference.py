# Copyright (c) mmkd contributors. All rights reserved.
"""CrossKD written out from the paper's equations (Wang et al., CVPR 2024,
Sec. 3.2-3.3) with explicit loops over the levels, for the tests: on the
same student, teacher and connector modules as a distiller, with mmdet's
own anchors, assignment and box coder, and every loss by hand."""
from typing import List

import torch
import torch.nn.functional as F


def _pre_activation(conv_module, x):
    y = conv_module.conv(x)
    return conv_module.norm(y) if conv_module.with_norm else y


def _branch(head, name, x, k):
    """The features of one branch: (pre-activation after conv k, the
    activation after the last conv)."""
    held = None
    for i, module in enumerate(getattr(head, f'{name}_convs')):
        pre = _pre_activation(module, x)
        if i + 1 == k:
            held = pre
        x = F.relu(pre)
    return held, x


def _predict(head, kind, cls_feat, reg_feat, level):
    if kind == 'retina':
        return head.retina_cls(cls_feat), head.retina_reg(reg_feat)
    return head.gfl_cls(cls_feat), head.scales[level](head.gfl_reg(reg_feat))


def _rescale(s, t, eps):
    """Per channel: standardise over (batch, positions), give the
    teacher's mean and (unbiased) standard deviation."""
    out = torch.empty_like(s)
    for c in range(s.shape[1]):
        sv, tv = s[:, c].reshape(-1), t[:, c].reshape(-1)
        n = sv.numel()
        s_mean, t_mean = sv.sum() / n, tv.sum() / n
        s_std = (((sv - s_mean)**2).sum() / (n - 1)).sqrt()
        t_std = (((tv - t_mean)**2).sum() / (n - 1)).sqrt()
        out[:, c] = (s[:, c] - s_mean) / (s_std + eps) * t_std + t_mean
    return out


def _flat(x, width):
    return x.permute(0, 2, 3, 1).reshape(-1, width)


def _qfl(s, t, w, beta, avg):
    """Quality focal loss against sigmoid(t), by hand."""
    p, q = s.sigmoid(), t.sigmoid()
    bce = -(q * F.logsigmoid(s) + (1 - q) * F.logsigmoid(-s))
    return (w[:, None] * bce * (p - q).abs()**beta).sum() / avg


def _giou_loss(a, b, w, avg, eps=1e-6):
    """sum w * (1 - GIoU(a, b)) / avg, mmdet's eps in the areas."""
    lt = torch.max(a[:, :2], b[:, :2])
    rb = torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    union = (area_a + area_b - inter).clamp(min=eps)
    iou = inter / union
    elt = torch.min(a[:, :2], b[:, :2])
    erb = torch.max(a[:, 2:], b[:, 2:])
    enclose = (erb - elt).clamp(min=0).prod(1).clamp(min=eps)
    giou = iou - (enclose - union) / enclose
    return (w * (1 - giou)).sum() / avg


def _kl_sides(s, t, w):
    """sum over sides of w * KL(softmax(t) || softmax(s)) (T = 1, summed
    over the bins), / 4 (LD's per-level avg_factor)."""
    log_t, log_s = t.log_softmax(1), s.log_softmax(1)
    kl = (log_t.exp() * (log_t - log_s)).sum(1)
    return (w * kl).sum() / 4.0


def _targets(head, kind, sizes, data_samples, device):
    from mmdet.models.utils import images_to_levels, unpack_gt_instances
    gt, ignore, metas = unpack_gt_instances(data_samples)
    anchors, valid = head.get_anchors(sizes, metas, device=device)
    out = head.get_targets(anchors, valid, gt, metas,
                           batch_gt_instances_ignore=ignore)
    if kind == 'retina':
        counts = [a.size(0) for a in anchors[0]]
        anchors = images_to_levels([torch.cat(a) for a in anchors], counts)
        return anchors, out[1], float(out[-1])
    return out[0], out[2], float(out[-1])


def crosskd_reference(model, inputs, data_samples, kind: str, k: int,
                      cls_weight: float, reg_weight: float,
                      eps: float = 1e-6) -> List[torch.Tensor]:
    """``[loss_cls, loss_reg]`` of the distiller's one CrossKD entry on a
    batch, recomputed by hand (the student runs again in its current
    mode, the teacher under no_grad)."""
    student, teacher = model.student, model.teacher
    s_head, t_head = student.bbox_head, teacher.bbox_head
    connectors = model.distill_entries[0].connectors
    s_feats = student.extract_feat(inputs)
    with torch.no_grad():
        t_feats = teacher.extract_feat(inputs)
    sizes = [f.shape[-2:] for f in s_feats]
    anchors, label_weights, avg = _targets(s_head, kind, sizes, data_samples,
                                           inputs.device)
    num_cls = s_head.cls_out_channels
    loss_cls, loss_reg, weight_sum = 0., 0., 0.
    for level in range(len(s_feats)):
        s_cls_held, _ = _branch(s_head, 'cls', s_feats[level], k)
        s_reg_held, _ = _branch(s_head, 'reg', s_feats[level], k)
        with torch.no_grad():
            t_cls_held, t_cls = _branch(t_head, 'cls', t_feats[level], k)
            t_reg_held, t_reg = _branch(t_head, 'reg', t_feats[level], k)
            t_score, t_box = _predict(t_head, kind, t_cls, t_reg, level)
        x_cls = F.relu(_rescale(connectors[0](s_cls_held), t_cls_held, eps))
        x_reg = F.relu(_rescale(connectors[1](s_reg_held), t_reg_held, eps))
        for i in range(k, len(t_head.cls_convs)):
            x_cls = F.relu(_pre_activation(t_head.cls_convs[i], x_cls))
            x_reg = F.relu(_pre_activation(t_head.reg_convs[i], x_reg))
        c_score, c_box = _predict(t_head, kind, x_cls, x_reg, level)
        w = label_weights[level].reshape(-1).float()
        t_flat = _flat(t_score, num_cls)
        loss_cls = loss_cls + _qfl(
            _flat(c_score, num_cls), t_flat, w, 1.0, avg)
        r = t_flat.max(1)[0].sigmoid() * (w > 0)
        if kind == 'retina':
            prior = anchors[level].reshape(-1, 4)
            coder = s_head.bbox_coder
            loss_reg = loss_reg + _giou_loss(
                coder.decode(prior, _flat(c_box, 4)),
                coder.decode(prior, _flat(t_box, 4)), r, avg)
        else:
            bins = s_head.reg_max + 1
            loss_reg = loss_reg + _kl_sides(
                _flat(c_box, bins), _flat(t_box, bins), r[:, None].expand(
                    -1, 4).reshape(-1))
            weight_sum = weight_sum + r.sum()
    if kind == 'gfl':
        loss_reg = loss_reg / max(float(weight_sum), 1.0)
    return [cls_weight * loss_cls, reg_weight * loss_reg]
