"""Each launch recipe's command line: model, precision, random weights, args, API key."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import pytest
from llem.plugin import Device
from llem_server import launch
from llem_server.config import ServerConfig
from llem_server.recipes import RECIPES, flags
from llem_server_testutil import experiment

GPU = Device(0, 2, "GPU-1234", "0:2:0.0", "fake", 1)


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    """Pretend every engine is installed (their executables are not, here)."""
    monkeypatch.setattr(launch, "program", lambda r: [r.program or f"python -m {r.module}"])


def planned(
    tmp_path: Path, api_key: str | None = None, model: str = "builtin:tiny-llama", **fields
):  # type: ignore[no-untyped-def]
    section = ServerConfig(**fields)
    cfg = attrs.evolve(experiment(section), model=model, precision="bf16")
    return launch.plan(section, cfg, [GPU], 8123, tmp_path, api_key, environ={"PATH": "/bin"})


def test_vllm_serves_a_config_checkpoint_with_dummy_weights_and_no_tokenizer(tmp_path):
    plan = planned(tmp_path, launch="vllm", args={"max-num-seqs": 64, "enforce-eager": True})
    argv = list(plan.argv)
    assert argv[:2] == ["vllm", "serve"]
    model = Path(argv[2])
    assert (model / "config.json").is_file() and model.is_relative_to(tmp_path)
    assert argv[3:7] == ["--host", "127.0.0.1", "--port", "8123"]
    for pair in (["--load-format", "dummy"], ["--dtype", "bfloat16"], ["--max-num-seqs", "64"]):
        assert _has(argv, pair), (pair, argv)
    assert "--skip-tokenizer-init" in argv and "--enforce-eager" in argv
    assert plan.env["CUDA_VISIBLE_DEVICES"] == "GPU-1234"


def test_sglang_uses_model_path_and_dummy_load_format(tmp_path):
    argv = list(planned(tmp_path, launch="sglang").argv)
    assert argv[0] == "python -m sglang.launch_server" and argv[1] == "--model-path"
    assert _has(argv, ["--load-format", "dummy"]) and _has(argv, ["--dtype", "bfloat16"])


def test_llamacpp_gets_a_random_weight_gguf_that_llem_wrote(tmp_path):
    pytest.importorskip("gguf")
    plan = planned(tmp_path, launch="llamacpp")
    argv = list(plan.argv)
    assert argv[0] == "python -m llama_cpp.server"
    assert argv[1:3] == ["--model", str(tmp_path / "model.gguf")]
    assert (tmp_path / "model.gguf").stat().st_size > 1_000_000
    assert plan.gguf_vocab == 512 and "--dtype" not in argv


def test_trtllm_gets_dummy_load_format_and_dtype_in_its_options_file(tmp_path):
    argv = list(planned(tmp_path, launch="trtllm").argv)
    assert argv[0] == "trtllm-serve"
    options = Path(argv[argv.index("--extra_llm_api_options") + 1]).read_text()
    assert "load_format: dummy" in options and "dtype: bfloat16" in options


def test_a_pretrained_hub_model_is_passed_on_as_it_is(tmp_path):
    argv = list(planned(tmp_path, launch="transformers", model="org/model").argv)
    assert argv[:3] == ["transformers", "serve", "org/model"]


def test_the_api_key_goes_into_the_engines_variable_never_argv(tmp_path):
    plan = planned(tmp_path, api_key="sk-secret", launch="vllm")
    assert plan.env["VLLM_API_KEY"] == "sk-secret"
    assert not [a for a in plan.argv if "sk-secret" in a]


def test_launch_command_fills_the_template(tmp_path):
    plan = planned(tmp_path, launch="command", command=("srv", "--at", "{host}:{port}", "{model}"))
    assert list(plan.argv[:3]) == ["srv", "--at", "127.0.0.1:8123"]
    assert (Path(plan.argv[3]) / "config.json").is_file()


def test_args_become_flags():
    assert flags({"a": 1, "b": True, "c": False, "d": None, "e": [1, 2], "f": {"x": 1}}) == [
        "--a",
        "1",
        "--b",
        "--e",
        "1",
        "--e",
        "2",
        "--f",
        '{"x": 1}',
    ]


@pytest.mark.parametrize(
    ("fields", "model", "weights", "expected"),
    [
        ({"launch": "vllm", "args": {"port": 1}}, "builtin:tiny-llama", "random", "llem sets"),
        ({"launch": "transformers"}, "builtin:tiny-llama", "random", "real weights only"),
        ({"launch": "llamacpp"}, "org/model", "pretrained", "serves GGUF files"),
        ({"launch": "vllm"}, "builtin:tiny-llama", "pretrained", "without weights"),
        ({"launch": "sglang", "api_key_env": "K"}, "builtin:tiny-llama", "random", "command line"),
        (
            {"launch": "vllm", "args": {"tensor-parallel-size": 2}},
            "builtin:tiny-llama",
            "random",
            "parallel size is 2",
        ),
    ],
)
def test_problems_before_anything_starts(fields, model, weights, expected):
    section = ServerConfig(**fields)
    cfg = attrs.evolve(experiment(section), model=model, weights=weights, devices=(0,))
    found = [p.message for p in launch.problems(section, cfg)]
    assert any(expected in m for m in found), found


def test_an_engine_that_is_not_installed_is_a_problem_with_the_install_command(monkeypatch):
    monkeypatch.setattr(launch, "program", lambda r: None)
    section = ServerConfig(launch="vllm")
    (problem,) = launch.problems(section, experiment(section))
    assert "vllm is not installed" in problem.message and "pip install vllm" in problem.fix


def test_every_recipe_but_command_has_a_program_and_readiness_endpoint():
    for name, recipe in RECIPES.items():
        if name != "command":
            assert (recipe.program or recipe.module) and recipe.health.startswith("/")


def test_python_module_servers_run_under_this_interpreter(monkeypatch):
    import importlib.util

    monkeypatch.undo()  # the real lookup
    got = launch.program(RECIPES["llamacpp"])
    if importlib.util.find_spec("llama_cpp") is None:
        assert got is None
    else:
        assert got == [sys.executable, "-m", "llama_cpp.server"]


def _has(argv: list[str], pair: list[str]) -> bool:
    return any(argv[i : i + len(pair)] == pair for i in range(len(argv)))


def test_a_parallel_size_that_matches_the_devices_is_fine():
    section = ServerConfig(launch="vllm", args={"tensor-parallel-size": 2})
    cfg = attrs.evolve(experiment(section), devices=(0, 1))
    assert launch.problems(section, cfg) == []
    alone = ServerConfig(launch="vllm")
    (problem,) = launch.problems(alone, attrs.evolve(experiment(alone), devices=(0, 1)))
    assert "parallel size is 1" in problem.message and "to 2" in problem.fix
