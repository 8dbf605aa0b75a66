"""The unit tests mirror the package: `tests/unit/<package>/test_<module>.py` tests
`datafoundry/<package>/<module>.py`, and `tests/unit/test_<module>.py` a top-level module.

A file may add a topic after the module's name (`test_spec_pod_fields.py` tests `api/spec.py`). The
few tests that follow one value across several modules are listed in CROSS_MODULE. Every test
directory is a package (`__init__.py`), so two packages may each hold a `test_dedup.py`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
UNIT = TESTS / "unit"
PACKAGE = TESTS.parent / "operator" / "datafoundry"

CROSS_MODULE = frozenset({
    "test_bench_corpus.py",  # hack/bench/corpus.py: the MinHash benchmark's corpus (not in the package)
    "test_bench_table.py",  # hack/bench/table.py: the README's performance table (not in the package)
    "test_decontam_reporting.py",  # filter shards -> manifest -> card -> status
    "test_field_audit.py",  # every CRD field names the tests that prove it
    "test_generation_report.py",  # generation drops -> funnel -> manifest -> card
    "test_image_envs.py",  # each image's environment imports what its stages run
    "test_images.py",  # the Dockerfiles
    "test_properties.py",  # property tests of the models, filters and readers
    "test_provenance_images.py",  # operator images -> publish pod -> manifest -> card
    "test_test_layout.py",
    "strategies/test_strategies.py",  # the generator's pure pieces across the package
})


def modules_of(directory: Path) -> set[str]:
    return {p.stem for p in directory.glob("*.py") if p.stem != "__init__"}


def names_a_module(test_file: Path) -> bool:
    """True when the file's name, past `test_`, is a module of the mirrored package or starts with one and `_`."""
    package = PACKAGE / test_file.parent.relative_to(UNIT)
    subject = test_file.stem.removeprefix("test_")
    return any(subject == m or subject.startswith(f"{m}_") for m in modules_of(package))


def test_unit_tests_mirror_the_package() -> None:
    misplaced = [
        str(p.relative_to(UNIT)) for p in sorted(UNIT.rglob("test_*.py"))
        if str(p.relative_to(UNIT)) not in CROSS_MODULE and not names_a_module(p)
    ]
    assert misplaced == [], "unit test files that name no module at their mirrored place (tests/unit/<package>/" \
                            f"test_<module>[_topic].py), nor listed in CROSS_MODULE: {misplaced}"


def test_every_unit_test_directory_is_a_package() -> None:
    dirs = {p.parent for p in UNIT.rglob("test_*.py")}
    assert sorted(str(d.relative_to(TESTS)) for d in dirs if not (d / "__init__.py").exists()) == []


def test_test_files_outside_packages_have_basenames_of_their_own() -> None:
    """pytest imports a test file outside a package by its basename: two such files with one name stop the run."""
    loose = Counter(p.name for p in TESTS.rglob("test_*.py") if not (p.parent / "__init__.py").exists())
    assert [n for n, c in loose.items() if c > 1] == []


def test_cross_module_entries_exist() -> None:
    assert sorted(n for n in CROSS_MODULE if not (UNIT / n).exists()) == []


def test_the_layout_check_catches_what_it_should() -> None:
    assert names_a_module(UNIT / "api" / "test_spec.py")
    assert names_a_module(UNIT / "api" / "test_spec_pod_fields.py")
    assert names_a_module(UNIT / "test_cli_examples.py")
    assert not names_a_module(UNIT / "api" / "test_specification.py")
    assert not names_a_module(UNIT / "api" / "test_reconcile.py")
