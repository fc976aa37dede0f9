"""Evaluation protocols on arrays: KITTI Eigen (``eigen``), ground-truth export (``gt_export``), the Temporal
Consistency Metric and its ground truth (``tcm``, ``tcm_gt``) and a ground-truth-free flicker measure
(``flicker``). Every function takes predicted depth or disparity arrays, independent of any model."""
