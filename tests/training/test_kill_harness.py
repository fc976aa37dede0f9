"""Two SIGKILLs of a small training run (one while a checkpoint is written, one between an epoch checkpoint and
``last.ckpt``); the reruns must end identical to an uninterrupted run. The 20-kill run: docs/robustness.md."""

from .kill_harness import run_harness


def test_training_killed_twice_resumes_to_the_uninterrupted_result(tmp_path):
    result = run_harness(tmp_path, kills=2, epochs=2, print_fn=lambda message: None)
    assert result.ok, result.problems
    assert [kill["trigger"] for kill in result.kills] == ["checkpoint-write", "between-checkpoints"]
    assert result.reference_step == result.resumed_step > 0 and result.max_weight_difference == 0.0
