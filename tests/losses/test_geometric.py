import torch

from tcdepth.losses import cycle_mask, geometric_consistency


def test_geometric_consistency_is_relative_difference_and_scale_invariant():
    a = torch.rand(2, 1, 4, 5) * 10 + 0.1
    b = torch.rand(2, 1, 4, 5) * 10 + 0.1
    expected = (a - b).abs() / torch.maximum(a, b)
    assert torch.allclose(geometric_consistency(a, b), expected, atol=1e-6)
    assert torch.allclose(geometric_consistency(3.7 * a, 3.7 * b), expected, atol=1e-6)
    assert torch.all(geometric_consistency(a, a) == 0)


def test_cycle_mask_keeps_lowest_70_percent_of_distinct_values():
    errors = torch.randperm(200).float().reshape(2, 1, 10, 10) / 200
    mask = cycle_mask(errors, keep=0.7)
    assert mask.shape == errors.shape
    assert mask.sum().item() == 140
    kept = errors[mask.bool()]
    dropped = errors[~mask.bool()]
    assert kept.max() < dropped.min()


def test_cycle_mask_quantile_is_over_the_whole_batch():
    errors = torch.cat([torch.rand(1, 1, 6, 6) * 0.1, 0.5 + torch.rand(1, 1, 6, 6) * 0.1])
    mask = cycle_mask(errors, keep=0.5)
    assert mask[0].sum().item() == 36
    assert mask[1].sum().item() == 0


def test_cycle_mask_keeps_tied_zero_errors():
    errors = torch.zeros(1, 1, 4, 4)
    errors[..., 0, :] = 1.0
    assert cycle_mask(errors).sum().item() == 12


def test_cycle_mask_thresholds_each_leading_batch_on_its_own():
    low = torch.rand(1, 2, 1, 5, 5) * 0.1
    high = 0.5 + torch.rand(1, 2, 1, 5, 5) * 0.1
    errors = torch.cat([low, high])  # [2 batches, B=2, 1, 5, 5]
    mask = cycle_mask(errors, keep=0.6)
    assert mask.shape == errors.shape
    for batch in range(2):
        assert mask[batch].sum().item() == 30  # 60% of each batch's 50 pixels, not of the 100 together
        assert torch.equal(mask[batch], cycle_mask(errors[batch], keep=0.6))


def test_soft_cycle_mask_gives_tied_pixels_their_weight_and_thresholds_the_rest():
    # 12 pixels with error 0 tie at the 0.3 quantile of 1 - error (= 1): the reference keeps their weight 1 - 0;
    # 4 pixels with error 0.5 fall below it and are dropped. A pixel tied at a non-zero error keeps 1 - error.
    errors = torch.zeros(1, 1, 4, 4)
    errors[..., 0, :] = 0.5
    soft = cycle_mask(errors, keep=0.7, ties="soft")
    assert torch.equal(soft, (errors == 0).float())
    errors = torch.tensor([0.1, 0.2, 0.4, 0.4, 0.4, 0.8]).reshape(1, 1, 2, 3)  # 1 - e quantile 0.5 = 0.6
    soft = cycle_mask(errors, keep=0.5, ties="soft")
    assert torch.allclose(soft.flatten(), torch.tensor([1.0, 1.0, 0.6, 0.6, 0.6, 0.0]))
    assert torch.equal(cycle_mask(errors, keep=0.5).flatten(), torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 0.0]))


def test_soft_cycle_mask_equals_the_binary_one_without_ties():
    errors = torch.randperm(200).float().reshape(2, 1, 10, 10) / 200
    assert torch.equal(cycle_mask(errors, keep=0.7, ties="soft"), cycle_mask(errors, keep=0.7))
