"""run_rule: a rule's named inputs/outputs/params/wildcards reach the stage as keywords; user errors end in one sentence."""

from types import SimpleNamespace

import pytest

from posthoc.errors import UserError
from posthoc.rule import named, run_rule


def job(tmp_path, **parts):
    base = dict(input={}, output={}, params={}, wildcards={}, log=[str(tmp_path / "job.log")], threads=1)
    base.update(parts)
    return SimpleNamespace(**base)


def test_named_parts_become_keywords(tmp_path):
    seen = {}

    def stage(*, data, figure, seed, dataset):
        seen.update(data=data, figure=figure, seed=seed, dataset=dataset)

    run_rule(
        stage,
        job(
            tmp_path,
            input={"data": ["a.npy", "b.npy"]},
            output={"figure": "f.png"},
            params={"seed": 3},
            wildcards={"dataset": "toy"},
        ),
    )
    assert seen == {"data": ["a.npy", "b.npy"], "figure": "f.png", "seed": 3, "dataset": "toy"}


def test_a_key_used_twice_is_an_error(tmp_path):
    with pytest.raises(TypeError, match="'checkpoint' appears twice"):
        named(job(tmp_path, input={"checkpoint": "in.pt"}, output={"checkpoint": "out.pt"}))


def test_a_user_error_ends_the_log_with_its_sentence_and_no_traceback(tmp_path, capfd):
    def stage():
        raise UserError("datasets.toy.data.root: folder /nowhere does not exist; create it or fix the path")

    with pytest.raises(SystemExit) as exit_info:
        run_rule(stage, job(tmp_path))
    assert exit_info.value.code == 1
    log = (tmp_path / "job.log").read_text()
    assert "Traceback" not in log
    assert log.strip().splitlines()[-1] == (
        "error: datasets.toy.data.root: folder /nowhere does not exist; create it or fix the path"
    )


def test_an_unexpected_error_keeps_its_traceback_in_the_log(tmp_path):
    def stage():
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):
        run_rule(stage, job(tmp_path))
    assert "Traceback" in (tmp_path / "job.log").read_text()
