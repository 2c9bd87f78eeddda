"""Broken plugins: reported with their name and skipped, never a traceback or a half registration.

A plugin can fail while it is imported (any exception, ``SystemExit`` and
``KeyboardInterrupt`` included), while a registration hook runs (a generator may raise
half-way), while it adds commands, or when a pipeline builds one of its stages. Each case
leaves the command line working, the plugin's name in the report, and nothing of the
broken plugin registered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from importlib import metadata
from pathlib import Path
from collections.abc import Callable
from typing import ClassVar, Literal

import click
import pytest
from click.testing import CliRunner
from pydantic import Field, field_validator

from evolvelab import (
    ConfigError,
    Encoder,
    EncoderConfig,
    Hit,
    PluginError,
    Query,
    Retriever,
    RetrieverConfig,
    hookimpl,
)
from evolvelab.pipeline import Memory
from evolvelab.plugins import PluginInfo, get_plugin_manager
from evolvelab.registry import Registry

# --- in-process: stage classes and plugin objects ---------------------------------------


class FirstConfig(RetrieverConfig):
    type: Literal["first"] = "first"


class FirstRetriever(Retriever):
    config_model: ClassVar[type[FirstConfig]] = FirstConfig

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        return previous


class EchoConfig(EncoderConfig):
    type: Literal["echo_enc"] = "echo_enc"


class EchoEncoder(Encoder):
    config_model: ClassVar[type[EchoConfig]] = EchoConfig

    def encode(self, events, scope):  # noqa: ANN001, ANN201
        return []


class ExplodesConfig(RetrieverConfig):
    type: Literal["explodes"] = "explodes"


class ExplodingRetriever(FirstRetriever):
    config_model: ClassVar[type[ExplodesConfig]] = ExplodesConfig  # type: ignore[assignment]

    def __init__(self, config: ExplodesConfig) -> None:
        raise RuntimeError("needs a licence key")


class BadCheckConfig(RetrieverConfig):
    type: Literal["bad_check"] = "bad_check"


class BadCheckRetriever(FirstRetriever):
    config_model: ClassVar[type[BadCheckConfig]] = BadCheckConfig  # type: ignore[assignment]

    @classmethod
    def check(cls, config, registry):  # noqa: ANN001, ANN206
        raise KeyError("weights")


def registry_with(*plugins: object) -> Registry:
    """Built-ins plus in-test plugin objects named test-plugin-0, test-plugin-1, ..."""
    plugin_set = get_plugin_manager(load_entrypoints=False)
    for i, plugin in enumerate(plugins):
        name = f"test-plugin-{i}"
        plugin_set.pm.register(plugin, name=name)
        plugin_set.plugins[name] = PluginInfo(name, f"dist-{i}", "9.9", builtin=False)
    return Registry(plugin_set)


# --- registration that fails part-way --------------------------------------------------


class HalfGenerator:
    @hookimpl
    def register_encoders(self):  # noqa: ANN201
        return [EchoEncoder]

    @hookimpl
    def register_retrievers(self):  # noqa: ANN201
        yield FirstRetriever
        raise ValueError("second class failed to import")


def test_a_generator_that_raises_part_way_registers_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing of the plugin: not the class yielded before the error, not its other hooks."""
    registry = registry_with(HalfGenerator())
    assert "first" not in registry.names("retriever")
    assert "echo_enc" not in registry.names("encoder")
    [failure] = registry.failures
    assert failure.name == "test-plugin-0"
    assert "register_retrievers() raised ValueError('second class failed to import')" in failure.error
    assert "plugin test-plugin-0 skipped" in capsys.readouterr().err


def test_an_invalid_class_after_a_valid_one_registers_nothing() -> None:
    class NotARetriever:
        pass

    class Mixed:
        @hookimpl
        def register_retrievers(self):  # noqa: ANN201
            return [FirstRetriever, NotARetriever]

    registry = registry_with(Mixed())
    assert "first" not in registry.names("retriever")
    assert "does not subclass evolvelab.Retriever" in registry.failures[0].error


def test_a_plugin_registering_one_name_twice_registers_nothing() -> None:
    class Twice:
        @hookimpl
        def register_retrievers(self):  # noqa: ANN201
            return [FirstRetriever, FirstRetriever]

    registry = registry_with(Twice())
    assert "first" not in registry.names("retriever")
    assert "registered twice by plugin 'test-plugin-0'" in registry.failures[0].error


def test_a_class_whose_attributes_raise_when_checked_registers_nothing() -> None:
    class LazyMeta(type(Retriever)):  # type: ignore[misc]
        @property
        def config_model(cls) -> type:
            raise RuntimeError("lazy import of the config failed")

    class Lazy(FirstRetriever, metaclass=LazyMeta):
        pass

    class Registers:
        @hookimpl
        def register_retrievers(self):  # noqa: ANN201
            return [FirstRetriever, Lazy]

    registry = registry_with(Registers())
    assert "first" not in registry.names("retriever")
    assert "checking its classes raised RuntimeError" in registry.failures[0].error


@pytest.mark.parametrize("raised", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_a_hook_raising_a_base_exception_is_reported_not_fatal(raised: BaseException) -> None:
    class Raises:
        @hookimpl
        def register_retrievers(self):  # noqa: ANN201
            raise raised

    good = types.SimpleNamespace(register_retrievers=hookimpl(lambda: [FirstRetriever]))
    registry = registry_with(Raises(), good)
    assert registry.get("retriever", "first").plugin.name == "test-plugin-1"
    assert type(raised).__name__ in registry.failures[0].error


def test_strict_mode_still_raises_for_a_half_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLVELAB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="second class failed"):
        registry_with(HalfGenerator())


# --- commands ---------------------------------------------------------------------------


class Hello:
    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command()
        def hello() -> None:
            click.echo("hello from a plugin")


def commands_plugin(error: BaseException) -> object:
    """A plugin that adds a command, then raises ``error``."""

    class Broken:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command()
            def half() -> None:
                click.echo("half")

            raise error

    return Broken()


@pytest.mark.parametrize("error", [RuntimeError("no terminal"), SystemExit(1), KeyboardInterrupt()])
def test_a_register_commands_hook_that_raises_adds_nothing_and_breaks_nothing(
    error: BaseException, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = registry_with(commands_plugin(error), Hello())
    group = click.Group("evolvelab", commands={"run": click.Command("run")})
    registry.add_commands(group)
    assert sorted(group.commands) == ["hello", "run"]
    assert "plugin test-plugin-0 skipped: register_commands() raised" in capsys.readouterr().err
    assert registry.failures[0].name == "test-plugin-0"
    assert CliRunner().invoke(group, ["--help"]).exit_code == 0


def test_a_plugin_may_not_replace_a_built_in_command() -> None:
    class Hijack:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command("run")
            def run() -> None:
                click.echo("hijacked")

    original = click.Command("run")
    group = click.Group("evolvelab", commands={"run": original})
    registry = registry_with(Hijack())
    registry.add_commands(group)
    assert group.commands["run"] is original
    assert "replaced command(s) run" in registry.failures[0].error


def test_a_plugin_skipped_at_registration_adds_no_commands() -> None:
    class HalfWithCommand(HalfGenerator, Hello):
        pass

    registry = registry_with(HalfWithCommand())
    group = click.Group("evolvelab")
    registry.add_commands(group)
    assert "hello" not in group.commands


# --- stage constructors and checks ------------------------------------------------------

PIPELINE = """\
version: 1
name: ctor
embedder: {{type: none}}
encode:
  - {{type: turn}}
store: {{type: lancedb}}
retrieve:
  - {{type: bm25, k: 5}}
  - {{type: {name}}}
"""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("explodes", "retriever 'explodes' could not be built: RuntimeError: needs a licence key"),
        ("bad_check", "retriever 'bad_check' could not be checked: KeyError: 'weights'"),
    ],
)
def test_a_stage_that_raises_while_built_is_a_located_config_error(
    name: str, message: str, tmp_path: Path
) -> None:
    registries = types.SimpleNamespace(
        register_retrievers=hookimpl(lambda: [ExplodingRetriever, BadCheckRetriever])
    )
    registry = registry_with(registries)
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(name=name))
    with pytest.raises(ConfigError) as caught:
        Memory.from_yaml(path, registry=registry)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.col) == (str(path), 9, 12)
    assert problem.path == ("retrieve", 1, "type") and problem.message == message


# --- imports that raise anything --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "import sys\nsys.exit(3)",
        "raise SystemExit('bye')",
        "raise KeyboardInterrupt",
        "class Odd(BaseException):\n    pass\nraise Odd('strange')",
        "raise ImportError('missing dependency')",
    ],
    ids=["sys.exit", "SystemExit", "KeyboardInterrupt", "BaseException", "ImportError"],
)
def test_any_exception_while_importing_a_plugin_is_reported_with_its_name(
    body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"hostile_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(body + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [metadata.EntryPoint("hostile", module, "evolvelab")]
    fake = types.SimpleNamespace(entry_points=lambda group: points if group == "evolvelab" else [])
    monkeypatch.setattr("evolvelab.plugins.metadata", fake)
    plugin_set = get_plugin_manager(load_entrypoints=True)
    [failure] = plugin_set.failures
    assert failure.name == "hostile"
    assert "hostile" not in plugin_set.plugins and not plugin_set.pm.has_plugin("hostile")
    assert "plugin hostile (? ?) failed to load" in capsys.readouterr().err
    Registry(plugin_set)  # the rest still builds


# --- end to end: installed broken plugins and the real command line ---------------------

MODULES = {
    "hostile_good": """
        import click
        from evolvelab import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello from a plugin")
    """,
    "hostile_commands": """
        import click
        from evolvelab import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def half():
                pass
            raise RuntimeError("commands broke")
    """,
    "hostile_exits": "import sys\nsys.exit(3)\n",
    "hostile_interrupts": "raise KeyboardInterrupt\n",
    "hostile_half": """
        from typing import ClassVar, Literal
        from evolvelab import Retriever, RetrieverConfig, hookimpl

        class HalfConfig(RetrieverConfig):
            type: Literal["half_first"] = "half_first"

        class HalfRetriever(Retriever):
            config_model: ClassVar[type[HalfConfig]] = HalfConfig

            def retrieve(self, query, previous):
                return previous

        @hookimpl
        def register_retrievers():
            yield HalfRetriever
            raise ValueError("second class failed")
    """,
    "hostile_ctor": """
        from typing import ClassVar, Literal
        from evolvelab import Retriever, RetrieverConfig, hookimpl

        class ExplodesConfig(RetrieverConfig):
            type: Literal["explodes"] = "explodes"

        class Explodes(Retriever):
            config_model: ClassVar[type[ExplodesConfig]] = ExplodesConfig

            def __init__(self, config):
                raise RuntimeError("needs a licence key")

            def retrieve(self, query, previous):
                return previous

        @hookimpl
        def register_retrievers():
            return [Explodes]
    """,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one distribution whose entry points are the modules above."""
    target = tmp_path_factory.mktemp("hostile-site")
    dist = target / "evolvelab_hostile-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evolvelab-hostile\nVersion: 0.0.1\n")
    points = "".join(f"{name.removeprefix('hostile_')} = {name}\n" for name in MODULES)
    (dist / "entry_points.txt").write_text("[evolvelab]\n" + points)
    for name, source in MODULES.items():
        (target / f"{name}.py").write_text(textwrap.dedent(source))
    return target


def evolvelab(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "EVOLVELAB_HOME": str(cwd / "home")}
    return subprocess.run(
        [sys.executable, "-m", "evolvelab", *args], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
def test_help_and_plugin_commands_survive_every_broken_plugin(site: Path, tmp_path: Path) -> None:
    """evolvelab --help works, names each broken plugin; the good plugin's command runs."""
    result = evolvelab(["--help"], site, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "hello" in result.stdout and "run" in result.stdout and "half" not in result.stdout
    for name, why in [("exits", "SystemExit: 3"), ("interrupts", "KeyboardInterrupt")]:
        assert f"plugin {name} (evolvelab-hostile 0.0.1) failed to load: {why}" in result.stderr
    assert "plugin commands skipped: register_commands() raised RuntimeError" in result.stderr
    assert "plugin half skipped: register_retrievers() raised ValueError" in result.stderr
    hello = evolvelab(["hello"], site, tmp_path)
    assert hello.returncode == 0 and hello.stdout == "hello from a plugin\n"


@pytest.mark.slow
def test_plugins_report_and_validate_with_broken_plugins(site: Path, tmp_path: Path) -> None:
    """The report lists every failure; validate gives a located error for a failing constructor."""
    report = json.loads(evolvelab(["plugins", "--json"], site, tmp_path).stdout)
    failed = {failure["name"] for failure in report["failures"]}
    assert failed == {"commands", "exits", "interrupts", "half"}
    (tmp_path / "p.yaml").write_text(PIPELINE.format(name="explodes"))
    result = evolvelab(["validate", "p.yaml"], site, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        "p.yaml:9:12: retrieve[1].type: retriever 'explodes' could not be built: "
        "RuntimeError: needs a licence key" in result.stderr
    )
    (tmp_path / "q.yaml").write_text(PIPELINE.format(name="half_first"))
    result = evolvelab(["validate", "q.yaml"], site, tmp_path)
    assert result.returncode == 2 and "unknown retriever type 'half_first'" in result.stderr


# --- config models whose checks raise something other than ValueError -------------------


class TouchyConfig(RetrieverConfig):
    """A plugin config whose validators raise what pydantic does not turn into errors."""

    type: Literal["touchy"] = "touchy"
    mode: str = Field("calm", description="What the validator does: calm or one of RAISES.")

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value in RAISES:
            raise RAISES[value]
        return value


class TouchyRetriever(FirstRetriever):
    config_model: ClassVar[type[TouchyConfig]] = TouchyConfig  # type: ignore[assignment]


RAISES: dict[str, BaseException] = {
    "runtime": RuntimeError("no licence"),
    "type": TypeError("unhashable"),
    "key": KeyError("weights"),
    "recursion": RecursionError("too deep"),
    "memory": MemoryError(),
    "exit": SystemExit(3),
}


@pytest.mark.parametrize("mode", list(RAISES))
def test_a_config_check_raising_anything_is_a_located_problem(
    mode: str, tmp_path: Path, tally: Callable[[int, str], None]
) -> None:
    """A plugin's config validator that raises RuntimeError (etc.) is located, never a traceback."""
    registry = registry_with(
        types.SimpleNamespace(register_retrievers=hookimpl(lambda: [TouchyRetriever]))
    )
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(name="touchy") + f"  - {{type: touchy, mode: {mode}}}\n")
    with pytest.raises(ConfigError) as caught:
        Memory.from_yaml(path, registry=registry)
    [problem] = caught.value.problems
    assert (problem.line, problem.col, problem.path) == (10, 5, ("retrieve", 2))
    assert problem.message.startswith(
        f"retriever 'touchy' (plugin test-plugin-0 dist-0 9.9): checking its settings raised "
        f"{type(RAISES[mode]).__name__}"
    ), problem.message
    tally(1, "config validators raising non-ValueError")


def test_a_registered_type_name_must_be_a_plain_string(capsys: pytest.CaptureFixture[str]) -> None:
    """Literal[5], '' or a name with spaces is refused at registration, naming the plugin."""
    models = []
    for i, tag in enumerate([5, "", "two words", "line\nbreak"]):
        config = type(f"Odd{i}Config", (RetrieverConfig,), {
            "__annotations__": {"type": Literal[tag]}, "type": tag,  # type: ignore[valid-type]
        })  # fmt: skip
        models.append(type(f"Odd{i}", (FirstRetriever,), {"config_model": config}))
    plugins = [
        types.SimpleNamespace(register_retrievers=hookimpl(lambda m=m: [m])) for m in models
    ]
    registry = registry_with(*plugins)
    assert registry.names("retriever") == registry_with().names("retriever")
    assert len(registry.failures) == len(models)
    for failure in registry.failures:
        assert "type must be a non-empty name without spaces" in failure.error, failure.error


def test_a_plugin_printing_while_imported_does_not_corrupt_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`evolvelab schema -o -` and `export` write data to stdout; a chatty import goes to stderr."""
    module = f"chatty_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text("print('hello from import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [metadata.EntryPoint("chatty", module, "evolvelab")]
    fake = types.SimpleNamespace(entry_points=lambda group: points if group == "evolvelab" else [])
    monkeypatch.setattr("evolvelab.plugins.metadata", fake)
    plugin_set = get_plugin_manager(load_entrypoints=True)
    assert "chatty" in plugin_set.plugins
    out, err = capsys.readouterr()
    assert out == "" and "hello from import" in err


def test_the_plugin_report_prints_names_and_errors_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """`evolvelab plugins` crashed (rich MarkupError) on a type named '[/red]x', and dropped
    '[type=list_type, ...]' from an error message, reading both as terminal markup."""
    from evolvelab.plugin_report import plugin_report, render_plugin_report

    class MarkupConfig(RetrieverConfig):
        type: Literal["[/red]x"] = "[/red]x"

    class Marked(FirstRetriever):
        config_model: ClassVar[type[MarkupConfig]] = MarkupConfig  # type: ignore[assignment]

    def broken() -> list[object]:
        raise ValueError("facts [type=list_type, input_value='Ana'] [/bold]")

    registry = registry_with(
        types.SimpleNamespace(register_retrievers=hookimpl(lambda: [Marked])),
        types.SimpleNamespace(register_encoders=hookimpl(broken)),
    )
    capsys.readouterr()
    render_plugin_report(plugin_report(registry))
    out = " ".join(capsys.readouterr().out.split())
    assert "[/red]x" in out
    assert "[type=list_type, input_value='Ana'] [/bold]" in out
