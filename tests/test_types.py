"""Static types as a check: mypy, with the repo's [mypy] sections in setup.cfg, over every
package that setup.cfg holds to the --strict flags (rules/ now; notifiers/ and watcher/ join
when their sections are enabled, with no change here)."""
import configparser

from tests.typecheck import REPO, mypy


def _mypy_sections() -> dict[str, configparser.SectionProxy]:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    return {name: cfg[name] for name in cfg.sections() if name.startswith("mypy-")}


def _strict_packages() -> list[str]:
    """Our packages whose section turns on the --strict flags (`[mypy-rules.*]` -> rules)."""
    packages = (name.removeprefix("mypy-").removesuffix(".*") for name, section in _mypy_sections().items()
                if section.getboolean("disallow_untyped_defs", fallback=False))
    return sorted(p for p in packages if (REPO / p).is_dir())


def test_strict_is_spelled_out_per_package():
    # `strict = True` in a module section switches strict on for every module (python/mypy#11401)
    assert [name for name, section in _mypy_sections().items() if "strict" in section] == []
    assert "rules" in _strict_packages()


def test_strict_packages_type_check():
    out = mypy(*_strict_packages())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
